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

# shellcheck source=bench/run-common.sh
. "$here/run-common.sh"
[ -n "$bin" ] || bin=$(find_bin mring-torture)
run_logged "$out/torture.txt" "$cmdline" "$bin" --rounds "$rounds" "${extra[@]}"
