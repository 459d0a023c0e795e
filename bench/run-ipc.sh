#!/usr/bin/env bash
# Driver of bench/ipc, the hand-off benchmark: runs every transport (mring
# on /dev/shm, mring on ext4, a 1 MiB pipe, a Unix socket), both waiting
# modes and all record sizes for several repetitions, then writes medians
# and the targets. No cgroups are needed. Cleans up on exit and on Ctrl-C.
#
#   bench/run-ipc.sh                       # defaults: a few minutes
#   bench/run-ipc.sh --smoke --bin BUILD/bench/mring-bench-ipc
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmdline="$0 $*"
bin=""
out="$here/results"
dir=/tmp
reps=3
seconds=1
lat_records=5000
sizes=64,4k,64k,1M
smoke=0
pin=()

usage() {
	cat <<EOF
usage: $0 [options]
  --bin PATH        mring-bench-ipc (default: /tmp/b-bench/bench/...)
  --out DIR         results directory (default: bench/results)
  --dir DIR         file system of the on-disk ring (default: /tmp)
  --reps N          repetitions ($reps)
  --seconds S       throughput phase per combination ($seconds)
  --lat-records N   records of the latency phase ($lat_records)
  --sizes LIST      record sizes ($sizes)
  --pin P,C         producer on CPU P, consumer on CPU C (default: not
                    pinned; the scheduler places them)
  --smoke           tiny run: checks that it works, measures nothing
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bin=$2; shift ;;
	--out) out=$2; shift ;;
	--dir) dir=$2; shift ;;
	--reps) reps=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--lat-records) lat_records=$2; shift ;;
	--sizes) sizes=$2; shift ;;
	--pin) pin=(--pin "$2"); shift ;;
	--smoke) smoke=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

if [ -z "$bin" ]; then
	for b in /tmp/b-bench/bench/mring-bench-ipc \
		"$here/../build/bench/mring-bench-ipc"; do
		[ -x "$b" ] && bin=$b && break
	done
fi
[ -x "$bin" ] || { echo "run-ipc: no mring-bench-ipc; build with -DMRING_BUILD_BENCH=ON and pass --bin" >&2; exit 2; }
if [ $smoke = 1 ]; then
	reps=1 seconds=0.05 lat_records=50 sizes=64,64k
fi

mkdir -p "$out"
tmp=$(mktemp -d "$dir/mring-bench-ipc.XXXXXX")
child=""
cleanup() {
	trap - EXIT INT TERM
	if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	[ -z "$child" ] || rm -f "/dev/shm/mring-bench-ipc-$child"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "run-ipc: interrupted" >&2; exit 130' INT TERM

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command: $cmdline"
	echo "binary: $bin (built from $(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$(dirname "$bin")/../CMakeCache.txt" 2>/dev/null))"
	echo "commit: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null)"
	echo "kernel: $(uname -sr)"
	echo "cpu: $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "shm: $(findmnt -no FSTYPE,SOURCE -T /dev/shm); disk ring: $(findmnt -no FSTYPE,SOURCE -T "$tmp")"
	echo "settings: reps $reps, $seconds s throughput phase, $lat_records paced records (100 us apart) for latency, sizes $sizes (those whose 16 records fit 64 KiB also batched 16 per commit/write), ring 64 MiB, pipe F_SETPIPE_SZ 1 MiB, socket SO_SNDBUF/RCVBUF 1 MiB, CPU pinning ${pin[1]:-none}; each rep first measures the wake-up floor (the latency phase through a bare shared word, no transport)"
	echo "note: other engineers use this machine at the same time; figures are noisy"
} > "$out/ipc-machine.txt"
cat "$out/ipc-machine.txt"

csv=$out/ipc.csv
rm -f "$csv"
header=--header
for ((rep = 1; rep <= reps; rep++)); do
	echo "== rep $rep" >&2
	"$bin" --seconds "$seconds" --lat-records "$lat_records" \
		--sizes "$sizes" --disk-dir "$tmp" --csv "$csv" $header \
		--rep "$rep" "${pin[@]}" &
	child=$!
	wait "$child"
	header=""
done
child=""

python3 "$here/analyze.py" ipc --csv "$csv" --out "$out" \
	--machine "$out/ipc-machine.txt"
