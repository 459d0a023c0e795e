#!/usr/bin/env bash
# Driver of bench/soak: a producer at full rate and 8 consumers (4 durable,
# 4 observers; d1 restarted every 20 s by SIGKILL and by clean close in
# turn) for --minutes, every byte checked by every consumer. Writes the
# machine, the command and the program's output to bench/results/soak.txt.
#
#   bench/run-soak.sh --minutes 10 [--bin BUILD/bench/mring-soak] [-- ARGS]
#
# ARGS after -- go to the program (--mode, --capacity, --max-len...).
# Exits with the program's status: 0 only if nothing was lost or torn.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmdline="$0 $*"
bin=""
out="$here/results"
dir=/tmp
minutes=10
extra=()

usage() {
	cat <<EOF
usage: $0 [options] [-- soak options]
  --minutes M   how long ($minutes)
  --bin PATH    mring-soak (default: /tmp/b-bench/bench/..., build/bench/...)
  --out DIR     results directory (default: bench/results)
  --dir DIR     file system of the ring (default: /tmp)
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--minutes) minutes=$2; shift ;;
	--bin) bin=$2; shift ;;
	--out) out=$2; shift ;;
	--dir) dir=$2; shift ;;
	--) shift; extra=("$@"); break ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

if [ -z "$bin" ]; then
	for b in /tmp/b-bench/bench/mring-soak "$here/../build/bench/mring-soak"; do
		[ -x "$b" ] && bin=$b && break
	done
fi
[ -x "$bin" ] || { echo "run-soak: no mring-soak; build with -DMRING_BUILD_BENCH=ON -DBUILD_TESTING=ON and pass --bin" >&2; exit 2; }

mkdir -p "$out"
log=$out/soak.txt
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command: $cmdline"
	echo "commit: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null)"
	echo "kernel: $(uname -sr)"
	echo "cpu: $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "ring file system: $(findmnt -no FSTYPE,SOURCE -T "$dir")"
	echo "note: other engineers use this machine at the same time; rates are noisy"
} > "$log"
cat "$log"
set +e
"$bin" --minutes "$minutes" --dir "$dir" "${extra[@]}" 2>&1 | tee -a "$log"
rc=${PIPESTATUS[0]}
echo "run-soak: exit status $rc, log in $log"
exit "$rc"
