#!/usr/bin/env bash
# Install what is missing, build mring (Release) in build/, and run the
# loop-around demo: a producer and a consumer process stream 4 laps of a
# 1 GiB ring file and verify every byte. Extra arguments go to the demo
# (try --help). Then, as root, the loop-around comparison at a small
# scale: a writer copying into a 1 GiB file with 256 MiB of memory and
# reads throttled to 200 MB/s, naive mmap windows against mring, per lap
# (bench/run-loop.sh; MRING_DEMO_COMPARE=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/deps.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "demo.sh: building (Release) in build/" >&2
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
		-DMRING_BUILD_TESTS=OFF -DMRING_BUILD_EXAMPLES=ON \
		-DMRING_BUILD_BENCH=ON &&
       cmake --build build -j"$(nproc)" --target loop_demo mring-bench-loop; } >"$log" 2>&1
then
	cat "$log" >&2
	echo "demo.sh: build failed" >&2
	exit 1
fi

./build/examples/loop_demo "$@"

# A VM that hands freed memory back to its host makes the preparation,
# where the ring's pages are first touched (lap 1 with --no-prefault), pay
# for getting that memory back.
pr=/sys/module/page_reporting/parameters/page_reporting_order
if [ -r "$pr" ] && [ "$(cat "$pr")" -le 10 ] 2>/dev/null; then
	echo "demo.sh: note: this machine hands freed memory back to its host (free page" \
		"reporting, $pr = $(cat "$pr")); preparing the ring, where its pages are first" \
		"touched, pays a host fault per page. README, \"Performance\", has figures with it held."
fi

if [ "${MRING_DEMO_COMPARE:-1}" = 0 ] || [ $# -gt 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "demo.sh: run as root for the comparison with naive mmap (it needs a memory cgroup)" >&2
	exit 0
fi
out=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$out"' EXIT
echo
echo "demo.sh: the same loop-around, naive mmap windows against mring (about 30 s)"
bash bench/run-loop.sh --bin build/bench/mring-bench-loop --out "$out" \
	--writers 1 --file-size 1G --mem 256M --laps 3 --reps 1 --conds slow \
	--strategies naive,mring --window 64M --max-seconds 20 --no-plot 2>&1 |
	sed -n '/^cgroups:/p; /^ *cond /,/^$/p'
echo "(full comparison with pwrite, O_DIRECT and each mring policy: bench/run-loop.sh; README, \"Performance\")"
