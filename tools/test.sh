#!/usr/bin/env bash
# Build mring and run the whole test suite:
#   normal      build/       -DMRING_WERROR=ON, ctest
#   asan        build-asan/  -DMRING_SANITIZE=address (ASan+UBSan), ctest
#   tsan        build-tsan/  -DMRING_SANITIZE=thread, ctest; only when
#                            MRING_TEST_TSAN=1 (default: 1 if CI=true)
#   chaos       build-chaos/ -DMRING_CHAOS=ON: random yields and sleeps
#                            between the shared accesses of every protocol;
#                            the core suite and the soak smoke test, bounded
#                            to 10 minutes; only when MRING_TEST_CHAOS=1
#                            (default: 1 if CI=true)
#   valgrind    build-valgrind/  every test executable under valgrind
#                            memcheck; only when MRING_TEST_VALGRIND=1 (slow,
#                            not in CI; see valgrind() below)
#   filesystems the normal build's ctest on loop ext4, xfs, btrfs and on
#               tmpfs, and the reclaim policy each gets (tools/fs-matrix.sh;
#               as root with loop devices, else skipped)
#   arm64       build-arm64/  cross-built for aarch64 (gcc), -Werror, ctest
#                            under qemu-user; build-arm64-clang/ the same
#                            compiled with clang-14 (tools/arm64.sh); on
#                            an arm64 machine, nothing (normal covers it)
#   format      clang-format --dry-run --Werror over the C sources
#                            (skipped when clang-format is not installed)
#   fuzz        build-fuzz/  libFuzzer targets (clang-14, ASan+UBSan), each
#                            run for 60 s on a copy of tests/fuzz/corpus;
#                            only when MRING_TEST_FUZZ=1 (default: 1 if
#                            CI=true), as it is a time-bounded search
# Every step runs even if an earlier one failed; the last line sums up, and
# the exit status is non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! bash tools/deps.sh; then
	echo "test.sh: FAILED: could not install dependencies"
	exit 1
fi

jobs=$(nproc 2>/dev/null || echo 2)
passed=()
failed=()

# step NAME COMMAND...: run one step, remember how it went.
step()
{
	local name=$1 t0=$SECONDS
	shift
	echo "==> test.sh: $name"
	if "$@"; then
		passed+=("$name")
		echo "==> test.sh: $name passed ($((SECONDS - t0)) s)"
	else
		failed+=("$name")
		echo "==> test.sh: $name FAILED ($((SECONDS - t0)) s)"
	fi
}

# build_and_test DIR CMAKE-ARGS...: configure, build, run ctest.
build_and_test()
{
	local dir=$1
	shift
	# Explicit, because build/ is shared with demo.sh, which turns
	# the tests off.
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DMRING_BUILD_TESTS=ON -DBUILD_TESTING=ON -DMRING_BUILD_BENCH=ON "$@" &&
		cmake --build "$dir" -j"$jobs" &&
		(cd "$dir" && ctest --output-on-failure -j2)
}

asan()
{
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		build_and_test build-asan -DMRING_SANITIZE=address
}

tsan()
{
	# TSan needs a memory layout that high ASLR entropy (recent kernels,
	# vm.mmap_rnd_bits > 28) can break; run the tests without ASLR then.
	local norand=()
	if command -v setarch >/dev/null 2>&1 &&
		setarch "$(uname -m)" -R true 2>/dev/null; then
		norand=(setarch "$(uname -m)" -R)
	fi
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DMRING_BUILD_TESTS=ON -DBUILD_TESTING=ON -DMRING_BUILD_BENCH=ON \
		-DMRING_SANITIZE=thread &&
		cmake --build build-tsan -j"$jobs" &&
		(cd build-tsan &&
			TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
			"${norand[@]}" ctest --output-on-failure -j2)
}

# The chaos build widens every race window (ring/src/chaos.c): the core
# suite (not the tool's Python tests, the Python binding's, the NATS
# bridge's, the file-system drivers or the benchmark smoke runs, which
# test nothing lockless) plus the soak smoke
# test, which streams through restarts. Not the handshake litmus test:
# it tests what the CPU reorders, which a yield between the accesses
# hides, and chaos in mring__wake makes it slow. One test at a time: a
# chaos point yields the CPU, and with two chaos tests beside each other
# on 2 cores a producer that yields every few commits slowed to a crawl
# (test_procs' observers waited for a lap for minutes). Each test gets
# 300 s at most, the step about 5 minutes on 2 cores.
chaos()
{
	cmake -S . -B build-chaos -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DMRING_BUILD_TESTS=ON -DBUILD_TESTING=ON -DMRING_BUILD_BENCH=ON \
		-DMRING_CHAOS=ON -DMRING_WERROR=ON &&
		cmake --build build-chaos -j"$jobs" &&
		(cd build-chaos &&
			ctest --output-on-failure -j1 --timeout 300 \
				-LE 'tool|fsrel|bench-smoke|python|nats' \
				-E '^mring[.]handshake$' &&
			ctest --output-on-failure --timeout 300 \
				-R '^bench[.]soak[.]smoke$')
}

# Memcheck over the C tests and examples: each test executable runs under
# valgrind (CMake's emulator hook prefixes it), forked children included.
# Any error, or a definite leak, fails the test (exit 99). The Python tests
# of the tool are left out (they would not run the CLI under valgrind).
# No suppressions are needed (valgrind 3.19, Debian 12): add one only with
# a comment saying why it is not a bug in mring.
valgrind()
{
	local vg=(valgrind --error-exitcode=99 --leak-check=full
		--errors-for-leak-kinds=definite --show-leak-kinds=definite -q)
	cmake -S . -B build-valgrind -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DMRING_BUILD_TESTS=ON -DBUILD_TESTING=ON \
		"-DCMAKE_CROSSCOMPILING_EMULATOR=$(IFS=';'; echo "${vg[*]}")" &&
		cmake --build build-valgrind -j"$jobs" &&
		(cd build-valgrind &&
			ctest --output-on-failure -j2 -LE tool \
			--timeout 1800)
}

format()
{
	local cf
	cf=$(command -v clang-format || command -v clang-format-14 || true)
	if [[ -z $cf ]]; then
		echo "clang-format not installed: skipped"
		return 0
	fi
	local files=()
	mapfile -t files < <(find ring tools examples tests bench \
		-name '*.[ch]' 2>/dev/null | sort)
	((${#files[@]} == 0)) && return 0
	"$cf" --dry-run --Werror "${files[@]}"
}

step normal build_and_test build -DMRING_WERROR=ON
# The normal build's suite again on ext4, xfs, btrfs and tmpfs (root with
# loop devices only; it says "skipped" otherwise).
step filesystems bash tools/fs-matrix.sh build
step asan asan
if [[ ${MRING_TEST_TSAN:-$([[ ${CI:-} == true ]] && echo 1 || echo 0)} == 1 ]]
then
	step tsan tsan
fi
if [[ ${MRING_TEST_CHAOS:-$([[ ${CI:-} == true ]] && echo 1 || echo 0)} == 1 ]]
then
	step chaos chaos
fi
if [[ ${MRING_TEST_VALGRIND:-0} == 1 ]]; then
	step valgrind valgrind
fi
step arm64 bash tools/arm64.sh build-arm64
step format format
if [[ ${MRING_TEST_FUZZ:-$([[ ${CI:-} == true ]] && echo 1 || echo 0)} == 1 ]]
then
	step fuzz bash tests/fuzz/run.sh --seconds "${MRING_FUZZ_SECONDS:-60}" \
		--build build-fuzz
fi

if ((${#failed[@]})); then
	echo "test.sh: FAILED: ${failed[*]} (passed: ${passed[*]:-none})"
	exit 1
fi
echo "test.sh: all passed: ${passed[*]}"
