#!/usr/bin/env bash
# Run the core test suite on each file system mring claims: ext4, xfs and
# btrfs on loop images, and tmpfs (TMPDIR points the tests there; see
# tests/testutil.c). Also shows which reclaim policy a producer gets there
# (AUTO, and each explicit policy after the fallbacks the maintenance
# thread makes when the file system refuses an operation).
#
#   tools/fs-matrix.sh BUILD_DIR [FS...]     (default: ext4 xfs btrfs tmpfs)
#
# BUILD_DIR is a configured and built tree with tests. Needs root and loop
# devices; otherwise says "skipped" and exits 0. The file-system tests
# (label fsrel) are left out: they make their own file systems.
# Exit: 0 all passed or skipped, 1 a failure.
set -uo pipefail

build=${1:?usage: fs-matrix.sh BUILD_DIR [FS...]}
build=$(cd "$build" && pwd) || exit 1
shift
fss=("$@")
((${#fss[@]})) || fss=(ext4 xfs btrfs tmpfs)
here=$(cd "$(dirname "$0")/.." && pwd)
tool=$build/tests/fsrel_tool

. "$here/tests/fsrel_lib.sh"
# Skipping is not a failure here: say so, exit 0.
fsrel_skip()
{
	echo "fs-matrix: skipped: $*"
	exit 0
}
fsrel_need losetup mount umount findmnt ctest
[[ -x $tool ]] || fsrel_skip "$tool not built"
fsrel_init fsm

declare -A result policy secs
failed=0
for fs in "${fss[@]}"; do
	if [[ $fs != tmpfs ]] && ! command -v "mkfs.$fs" >/dev/null; then
		result[$fs]="skipped (no mkfs.$fs)"
		continue
	fi
	mnt=$fsrel_work/$fs
	if ! fsrel_mount_fs "$fs" "$mnt" 4G; then
		result[$fs]="skipped (cannot mount)"
		continue
	fi
	policy[$fs]=$("$tool" policy "$mnt")
	echo "==> fs-matrix: $fs: reclaim ${policy[$fs]}"
	t0=$SECONDS
	# Not the NATS bridge's tests: their rings and JetStream store
	# (about 1.5 GB for the million-record round trip) would not fit the
	# 4G image, and the file system under a ring is what the rest of
	# the suite covers.
	if (cd "$build" && TMPDIR=$mnt ctest -LE 'fsrel|nats' -j2 \
		--output-on-failure --timeout 300); then
		result[$fs]=passed
	else
		result[$fs]=FAILED
		failed=1
	fi
	secs[$fs]=$((SECONDS - t0))
	fsrel_umount_fs "$fs" "$mnt" || { result[$fs]+=" (umount failed)"; failed=1; }
done

echo "fs-matrix: file system | core suite | seconds | reclaim: policy asked -> in effect"
for fs in "${fss[@]}"; do
	printf 'fs-matrix: %-6s | %-8s | %4s | %s\n' "$fs" "${result[$fs]}" \
		"${secs[$fs]:--}" "${policy[$fs]:--}"
done
exit $failed
