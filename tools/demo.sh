#!/usr/bin/env bash
# Install what is missing, build mring (Release) in build/, and run the
# loop-around demo: a producer and a consumer process stream 4 laps of a
# 1 GiB ring file and verify every byte. Extra arguments go to the demo
# (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/deps.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "demo.sh: building (Release) in build/" >&2
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
		-DMRING_BUILD_TESTS=OFF -DMRING_BUILD_EXAMPLES=ON &&
       cmake --build build -j"$(nproc)" --target loop_demo; } >"$log" 2>&1
then
	cat "$log" >&2
	echo "demo.sh: build failed" >&2
	exit 1
fi

exec ./build/examples/loop_demo "$@"
