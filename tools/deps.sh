#!/usr/bin/env bash
# Install what mring needs to build and test, on Debian 12 (or a close
# relative), as root. Does nothing, silently, when everything is there;
# runs apt-get update only when something is missing.
set -euo pipefail

pkgs=(build-essential cmake pkg-config liburing-dev libnuma-dev
      libcmocka-dev python3 jq tcpdump
      clang-14 libclang-rt-14-dev) # the last two: libFuzzer (tests/fuzz)
# promtool, which checks 'mring stat --prom' (tools/tests/test_prom.py):
# Debian ships it only in the server's package. Nothing here needs the
# server; on a host run by systemd the package enables and starts it
# (port 9090): 'systemctl disable --now prometheus' if that is unwanted.
pkgs+=(prometheus)
# mring-nats, the NATS JetStream bridge (tools/nats/): the C client to
# build it, and the server its tests start on 127.0.0.1 (they run
# nats-server themselves; the package's own service is not needed:
# 'systemctl disable --now nats-server' if it was started).
pkgs+=(libnats-dev nats-server)
# tools/test.sh with MRING_TEST_VALGRIND=1 runs the tests under memcheck.
[[ ${MRING_TEST_VALGRIND:-0} == 1 ]] && pkgs+=(valgrind)
# File-system tests (tests/fsrel_*.sh, tools/fs-matrix.sh).
pkgs+=(e2fsprogs xfsprogs btrfs-progs util-linux)
# arm64 cross build, tests under qemu-user (tools/arm64.sh), on other
# hosts. The :arm64 libraries come from Debian's multiarch archive, so dpkg
# must know the architecture; it is added below only when one is missing.
if command -v dpkg >/dev/null 2>&1 && [[ $(dpkg --print-architecture) != arm64 ]]
then
	pkgs+=(qemu-user gcc-aarch64-linux-gnu
	       liburing-dev:arm64 libnuma-dev:arm64 libcmocka-dev:arm64)
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: not a Debian system; install by hand: ${pkgs[*]}" >&2
	exit 0
fi

# A name without ":arch" means the native package (or an arch-all one);
# once a foreign architecture is added, dpkg-query lists every
# architecture's copy of a Multi-Arch: same package, so pick ours.
native=$(dpkg --print-architecture)
missing=()
for p in "${pkgs[@]}"; do
	want="$native all"
	[[ $p == *:* ]] && want=${p#*:}
	ok=0
	while read -r arch status; do
		[[ " $want " == *" $arch "* &&
			$status == "install ok installed" ]] && ok=1
	done < <(dpkg-query -W -f='${Architecture} ${Status}\n' "$p" \
		2>/dev/null || true)
	((ok)) || missing+=("$p")
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
if [[ " ${missing[*]}" == *:arm64* ]] &&
	! dpkg --print-foreign-architectures | grep -qx arm64; then
	"${sudo[@]}" dpkg --add-architecture arm64
fi
if ! { "${sudo[@]}" apt-get update -q &&
       "${sudo[@]}" apt-get install -y -q --no-install-recommends \
		"${missing[@]}"; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "deps.sh: apt-get failed" >&2
	exit 1
fi
