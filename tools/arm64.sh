#!/usr/bin/env bash
# arm64 (aarch64) on an x86-64 Debian machine, as tools/test.sh's step
# "arm64":
#   1. build-arm64-clang/  the library, tools, tests and examples compiled
#                          with clang-14 --target=aarch64-linux-gnu,
#                          -Werror (nothing run: the compiler check)
#   2. build-arm64/        the same with gcc-aarch64-linux-gnu, -Werror, and
#                          ctest through qemu-user (CMAKE_CROSSCOMPILING_
#                          EMULATOR of tools/cmake/aarch64-linux-gnu.cmake)
#
#   tools/arm64.sh [BUILD-DIR]       (default build-arm64)
#
# Needs what tools/deps.sh installs. Tests that cannot run under qemu-user
# are listed with the reason before ctest runs.
set -uo pipefail
cd "$(dirname "$0")/.."

dir=${1:-build-arm64}
jobs=$(nproc 2>/dev/null || echo 2)
toolchain=$PWD/tools/cmake/aarch64-linux-gnu.cmake

if [[ $(uname -m) == aarch64 ]]; then
	echo "arm64.sh: this machine is arm64; the normal build tests it"
	exit 0
fi
for t in qemu-aarch64 aarch64-linux-gnu-gcc clang-14; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "arm64.sh: $t not installed (tools/deps.sh installs it)"
		exit 1
	fi
done

configure()
{
	local d=$1
	shift
	cmake -S . -B "$d" -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DMRING_WERROR=ON \
		-DMRING_BUILD_TESTS=ON -DBUILD_TESTING=ON \
		-DMRING_BUILD_BENCH=ON "$@" >"$d/configure.log" 2>&1 || {
		cat "$d/configure.log"
		return 1
	}
}

# build DIR CC: configure and build with that compiler, or say why not.
build()
{
	local d=$1 cc=$2
	mkdir -p "$d" &&
		configure "$d" -DMRING_ARM64_CC="$cc" &&
		cmake --build "$d" -j"$jobs" >"$d/build.log" 2>&1 || {
		cat "$d/build.log" 2>/dev/null
		echo "arm64.sh: the $cc build for aarch64 failed"
		exit 1
	}
}

echo "arm64.sh: clang-14 --target=aarch64-linux-gnu, -Werror"
build "$dir-clang" clang
echo "arm64.sh: gcc-aarch64-linux-gnu, -Werror"
build "$dir" gcc
readelf -h "$dir/tests/test_errors" 2>/dev/null | grep -q AArch64 || {
	echo "arm64.sh: $dir/tests/test_errors is not an aarch64 program"
	exit 1
}

# Not run under qemu-user: the scripts and Python drivers below start the
# programs themselves, not through ctest's emulator hook, and without a
# binfmt_misc handler (none in a container) the kernel cannot run an arm64
# program. (tests/fsrel_*.sh get a wrapper, see tests/CMakeLists.txt.)
excluded_labels='tool|bench-smoke'
excluded_names='^(example\.(capture|flight_recorder)|mring\.offsets(\.uring)?)$'
cat <<'EOF'
arm64.sh: not run under qemu-user (the script starts arm64 programs itself):
  mring_tool.*             (label tool: Python drives the mring CLI)
  bench.*.smoke            (label bench-smoke: shell drivers)
  example.capture, example.flight_recorder  (shell drivers)
arm64.sh: not run under qemu-user (too slow there):
  mring.offsets, mring.offsets.uring: with the maintenance thread, it
      samples the page cache of the 64 GiB ring every 100 ms; qemu 7.2
      has no cachestat, and the mincore fallback over 64 GiB of mappings
      is emulated page by page (over 300 s each). mring.offsets.nothread
      runs (about 70 s) and covers the 64-bit offsets.
arm64.sh: skipped inside (exit 77 or cmocka skip) under qemu-user:
  mring.maint*: disk full, no major faults, read-ahead: qemu-user
      returns 0 from madvise() without doing it (tu_madvise_ignored)
  mring.maint* test_numa: qemu-user has no get_mempolicy (libnuma off)
  mring.fsrel.diskfull: madvise again (a full disk would be SIGBUS)
  mring.open* fork_*, failed_durable_open: a forked child must not get
      the ring's mappings (MADV_DONTFORK, ignored by qemu), and qemu
      keeps its own map of guest memory (running out of mappings)
EOF

# Without cachestat (qemu 7.2 does not know it) the library asks mincore
# about the file through 1 GiB mappings, and qemu's own memory grew to
# 12 GB in mring.offsets (64 GiB ring); with a reserved guest address
# space (64 GiB: plenty for every test here) it stays under 1 GB.
export QEMU_RESERVED_VA=${QEMU_RESERVED_VA:-0x1000000000}
unset QEMU_LD_PREFIX # the toolchain file's -L / must win (see there)
(cd "$dir" && ctest --output-on-failure -j2 -LE "$excluded_labels" \
	-E "$excluded_names")
