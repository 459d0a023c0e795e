#!/usr/bin/env bash
# Driver of bench/py_ipc.py (Python consumers against C and a pipe) with
# Debian's python3 and this tree's build: the binding from BUILD/ring/python,
# the C peer BUILD/bench/mring-bench-pypeer.
#
#   bench/run-py-ipc.sh [--build DIR] [py_ipc.py options: --reps N,
#                       --quick, --dir DIR, --out CSV, --big N, --small N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../build
if [[ ${1:-} == --build ]]; then
	build=$2
	shift 2
fi
build=$(cd "$build" && pwd)
export PYTHONPATH=$build/ring/python${PYTHONPATH:+:$PYTHONPATH}
exec /usr/bin/python3 "$here/py_ipc.py" \
	--peer "$build/bench/mring-bench-pypeer" "$@"
