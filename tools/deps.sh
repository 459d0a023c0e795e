#!/usr/bin/env bash
# Install what mring needs to build and test, on Debian 12 (or a close
# relative), as root. Does nothing, silently, when everything is there;
# runs apt-get update only when something is missing.
set -euo pipefail

pkgs=(build-essential cmake pkg-config liburing-dev libnuma-dev
      libcmocka-dev python3 jq tcpdump
      clang-14 libclang-rt-14-dev) # the last two: libFuzzer (tests/fuzz)
# tools/test.sh with MRING_TEST_VALGRIND=1 runs the tests under memcheck.
[[ ${MRING_TEST_VALGRIND:-0} == 1 ]] && pkgs+=(valgrind)
# File-system tests (tests/fsrel_*.sh, tools/fs-matrix.sh).
pkgs+=(e2fsprogs xfsprogs btrfs-progs util-linux)

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: not a Debian system; install by hand: ${pkgs[*]}" >&2
	exit 0
fi

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

sudo=()
if ((EUID != 0)); then
	if command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "deps.sh: missing ${missing[*]}; run as root to install" >&2
		exit 1
	fi
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${sudo[@]}" apt-get update -q &&
       "${sudo[@]}" apt-get install -y -q --no-install-recommends \
		"${missing[@]}"; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "deps.sh: apt-get failed" >&2
	exit 1
fi
