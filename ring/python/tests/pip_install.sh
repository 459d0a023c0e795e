#!/usr/bin/env bash
# CTest mring.python.pip: 'pip install ./ring/python' from a copy of the
# source tree, offline, with Debian's pip and setuptools (what the README
# tells users to run), then a round trip through the installed module.
#   pip_install.sh PYTHON SOURCE-DIR
set -euo pipefail
py=$1
src=$2
if ! "$py" -m pip --version >/dev/null 2>&1; then
	echo "SKIP: pip is missing for $py (tools/deps.sh installs python3-pip)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A copy: the build writes build/ and *.egg-info beside setup.py.
mkdir -p "$tmp/src"
cp -r "$src/ring" "$tmp/src/"
rm -rf "$tmp/src/ring/python/build" "$tmp/src/ring/python/mring.egg-info"
cd "$tmp"
PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
	"$py" -m pip install -q --no-index --target "$tmp/site" \
	./src/ring/python
cd /
PYTHONPATH="$tmp/site" "$py" - "$tmp/t.ring" <<'PYEOF'
import sys, mring
assert mring.__file__.startswith(sys.argv[1].rsplit("/", 1)[0] + "/site/"), \
    mring.__file__
mring.create(sys.argv[1], capacity=1 << 20)
with mring.open(sys.argv[1], "producer") as w:
    for i in range(100):
        w.write(b"record %d" % i)
with mring.open(sys.argv[1], "consumer") as r:
    got = [bytes(x) for x in r]
assert got == [b"record %d" % i for i in range(100)], got[:3]
print("pip install ./ring/python: ok,", mring.__file__)
PYEOF
