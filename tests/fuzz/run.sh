#!/usr/bin/env bash
# Build the libFuzzer targets with clang-14 (ASan+UBSan) and run each for a
# bounded time, in parallel, on a scratch copy of the seed corpus (the
# repository's corpus is never modified).
#
#   tests/fuzz/run.sh [--seconds N] [--build DIR] [--targets "open consume check"]
#                     [--corpus DIR] [--keep DIR] [--no-build]
#                     [-- extra libFuzzer flags]
#
# --seconds N   time per target (default 60); all targets run at once,
#               under nice -n 10
# --build DIR   build directory (default build-fuzz)
# --corpus DIR  seeds from DIR/<target>/ (default tests/fuzz/corpus), e.g.
#               the corpora an earlier run kept
# --keep DIR    keep the grown corpora there (e.g. to merge new seeds)
# Prints executions per target; exits non-zero if any target crashed,
# leaked, timed out or hit a sanitizer; the input that did is saved in
# DIR/artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds=60
build=build-fuzz
targets="open consume check"
keep=
corpus=tests/fuzz/corpus
do_build=1
extra=()
while (($#)); do
	case $1 in
	--seconds) seconds=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--targets) targets=$2; shift 2 ;;
	--keep) keep=$2; shift 2 ;;
	--corpus) corpus=$2; shift 2 ;;
	--no-build) do_build=0; shift ;;
	--) shift; extra=("$@"); break ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

cc=$(command -v clang-14 || command -v clang || true)
if [[ -z $cc ]]; then
	echo "run.sh: clang-14 not found (tools/deps.sh installs it)" >&2
	exit 1
fi
if ((do_build)); then
	CC=$cc cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DMRING_BUILD_FUZZ=ON -DBUILD_TESTING=OFF \
		-DMRING_BUILD_EXAMPLES=OFF -DMRING_WERROR=ON >/dev/null &&
		cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" \
			--target $(printf 'fuzz_%s ' $targets) >/dev/null ||
		{ echo "run.sh: build failed" >&2; exit 1; }
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mring-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

declare -A pids
for t in $targets; do
	mkdir -p "$scratch/$t" "$build/artifacts/$t"
	cp "$corpus/$t"/* "$scratch/$t/"
	# One thread per fuzzer (no RSS watcher): every munmap of a window
	# then flushes one CPU's TLB, not all of them.
	nice -n 10 "$build/tests/fuzz/fuzz_$t" \
		-max_total_time="$seconds" -timeout=10 -rss_limit_mb=0 \
		-print_final_stats=1 \
		-artifact_prefix="$build/artifacts/$t/" "${extra[@]}" \
		"$scratch/$t" >"$scratch/$t.log" 2>&1 &
	pids[$t]=$!
done

status=0
total=0
printf '%-8s %12s %8s %6s  %s\n' target executions exec/s cov result
for t in $targets; do
	wait "${pids[$t]}"
	rc=$?
	# A target that died left its scratch ring behind.
	rm -rf "/dev/shm/mring-fuzz-${pids[$t]}" "/tmp/mring-fuzz-${pids[$t]}"
	log=$scratch/$t.log
	n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	r=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	result=ok
	if ((rc != 0)); then
		result="FAILED (exit $rc)"
		status=1
		echo "---- fuzz_$t log (last 60 lines) ----" >&2
		tail -60 "$log" >&2
	fi
	total=$((total + ${n:-0}))
	printf '%-8s %12s %8s %6s  %s\n' "$t" "${n:-?}" "${r:-?}" "${cov:-?}" \
		"$result"
	if [[ -n $keep ]]; then
		mkdir -p "$keep/$t"
		cp "$scratch/$t"/* "$keep/$t/"
	fi
done
printf '%-8s %12s\n' total "$total"
exit $status
