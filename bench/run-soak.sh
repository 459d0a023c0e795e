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
minutes=10
extra=()
use="usage: $0 [--minutes M] [--bin PATH] [--out DIR] [--dir DIR] [-- soak options]"

while [ $# -gt 0 ]; do
	case "$1" in
	--minutes) minutes=$2; shift ;;
	--bin) bin=$2; shift ;;
	--out) out=$2; shift ;;
	--dir) export TMPDIR=$2; shift ;;
	--) shift; extra=("$@"); break ;;
	-h | --help) echo "$use"; exit 0 ;;
	*) echo "$use" >&2; exit 2 ;;
	esac
	shift
done

# shellcheck source=bench/run-common.sh
. "$here/run-common.sh"
[ -n "$bin" ] || bin=$(find_bin mring-soak)
run_logged "$out/soak.txt" "$cmdline" "$bin" --minutes "$minutes" "${extra[@]}"
