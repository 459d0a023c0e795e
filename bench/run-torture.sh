#!/usr/bin/env bash
# Driver of bench/torture, the long SIGKILL torture run (the short one is
# tests/test_torture in CTest). Writes the machine, the command and the
# program's output to bench/results/torture.txt.
#
#   bench/run-torture.sh [--rounds 1000] [--bin BUILD/bench/mring-torture]
#                        [-- ARGS]
#
# ARGS after -- go to the program (--seed, --block, --round-ms...).
# Exits with the program's status: 0 only if every round passed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmdline="$0 $*"
bin=""
out="$here/results"
rounds=1000
extra=()
use="usage: $0 [--rounds N] [--bin PATH] [--out DIR] [-- torture options]"

while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift ;;
	--bin) bin=$2; shift ;;
	--out) out=$2; shift ;;
	--) shift; extra=("$@"); break ;;
	-h | --help) echo "$use"; exit 0 ;;
	*) echo "$use" >&2; exit 2 ;;
	esac
	shift
done

if [ -z "$bin" ]; then
	for b in /tmp/b-bench/bench/mring-torture "$here/../build/bench/mring-torture"; do
		[ -x "$b" ] && bin=$b && break
	done
fi
[ -x "$bin" ] || { echo "run-torture: no mring-torture; build with -DMRING_BUILD_BENCH=ON -DBUILD_TESTING=ON and pass --bin" >&2; exit 2; }

mkdir -p "$out"
log=$out/torture.txt
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command: $cmdline"
	echo "commit: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null)"
	echo "kernel: $(uname -sr)"
	echo "cpu: $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "note: other engineers use this machine at the same time"
} > "$log"
cat "$log"
set +e
"$bin" --rounds "$rounds" "${extra[@]}" 2>&1 | tee -a "$log"
rc=${PIPESTATUS[0]}
echo "run-torture: exit status $rc, log in $log"
exit "$rc"
