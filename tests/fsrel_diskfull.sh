#!/usr/bin/env bash
# Full disk: a producer gets -ENOSPC, never SIGBUS; what it committed stays
# readable; it resumes once space is back.
#
#   fsrel_diskfull.sh TOOL [FS...]        (FS: ext4 xfs tmpfs; default all)
#
# On a small loop-mounted ext4 and xfs and a size-limited tmpfs, for every
# reclaim policy, with and without the maintenance thread, `TOOL fill`
# runs twice: "lap 0", another file takes all but half a capacity before
# the sparse ring got its blocks; "lap 1", the ring gets a lap in, then a
# competing writer takes every block that comes free (a policy that frees
# blocks, punch, loses them to it). The tool runs as a child; dying of a
# signal (SIGBUS) is a failure. Prints the matrix of outcomes.
#
# Exit: 0 all as expected, 1 a failure, 77 cannot run here.
set -uo pipefail

tool=${1:?usage: fsrel_diskfull.sh TOOL [FS...]}
shift
fss=("$@")
((${#fss[@]})) || fss=(ext4 xfs tmpfs)
policies=(auto none cache zero punch)

. "$(dirname "$0")/fsrel_lib.sh"

fsrel_need losetup mount umount findmnt
for fs in "${fss[@]}"; do
	[[ $fs == tmpfs ]] || fsrel_need "mkfs.$fs"
done
# A full disk becomes -ENOSPC through the pre-fault (MADV_POPULATE_WRITE);
# where madvise does nothing (qemu-user), the writer dies of SIGBUS.
why=$("$tool" madvise)
case $? in
0) ;;
1) fsrel_skip "$why" ;;
*) echo "fsrel_diskfull: cannot run $tool" >&2; exit 1 ;;
esac
fsrel_init df
fails=0
runs=0

for fs in "${fss[@]}"; do
	mnt=$fsrel_work/mnt
	case $fs in
	xfs) size=300M ;; # the smallest mkfs.xfs makes
	*) size=64M ;;
	esac
	fsrel_mount_fs "$fs" "$mnt" "$size" ||
		fsrel_skip "cannot mount a small $fs (loop devices?)"
	i=0
	for policy in "${policies[@]}"; do
		for thread in 1 0; do
			for lap in 0 1; do
				# Records with CRC and bytes, in turn.
				mode=rc
				((i++ % 2)) && mode=b
				out=$(echo | "$tool" fill "$mnt/ring" "$mode" \
					"$policy" "$thread" "$mnt/filler" "$lap")
				rc=$?
				((runs++))
				if ((rc > 128)); then
					out="$out FAIL: killed by signal $((rc - 128))"
				fi
				((rc == 0)) || ((fails++))
				echo "$fs $mode: ${out//$'\n'/ }"
				rm -f "$mnt/ring" "$mnt/filler"
			done
		done
	done
	fsrel_umount_fs "$fs" "$mnt" || exit 1
done
echo "fsrel_diskfull: $runs runs, $fails failed"
((fails == 0))
