#!/usr/bin/env bash
# Power-loss emulation: does mring keep what mring_sync() acknowledged?
#
#   fsrel_powercut.sh TOOL [SNAPSHOTS_PER_FS] [FS...]     (FS: ext4 xfs)
#
# For each file system, a small image is made on a loop device and mounted;
# `TOOL write` produces into a ring there (records with CRC, records
# without, bytes, records with CRC in overwrite mode), calls mring_sync()
# after every batch and logs each acknowledgement to a file on /tmp, outside
# the image. At random moments the writer is frozen (SIGSTOP), the last
# acknowledgement read, and the image copied; then the writer goes on.
#
# The copy is atomic: the image file lives on an outer xfs with reflink, and
# `cp --reflink=always` (FICLONE) shares the image's blocks as they are at
# that instant, under the file's locks; xfs writes the image's dirty page
# cache first. So the copy holds exactly the writes the loop device had
# completed: a journal commit block is there only with the blocks written
# before it. That is a power cut on a disk that loses nothing it completed;
# a drive that also loses completed writes from its volatile cache, unless
# flushed, can produce more states (device-mapper log-writes could replay
# them; it is not available here).
#
# Each copy is attached to a new loop device and mounted normally, so the
# file system replays its journal as after a power cut (xfs: -o nouuid),
# and `TOOL check` opens the ring as a producer (recovery) and reads it
# all: every acknowledged record must be there, intact and in order (unless
# a later lap could have overwritten it), and nothing delivered may be torn.
#
# Exit: 0 all held, 1 a violation, 77 cannot run here (not root, no loop
# devices, no mkfs.xfs...). FSREL_SEED fixes the random moments.
set -uo pipefail

tool=${1:?usage: fsrel_powercut.sh TOOL [SNAPSHOTS] [FS...]}
per_fs=${2:-${FSREL_SNAPSHOTS:-16}}
shift $(($# >= 2 ? 2 : $#))
fss=("$@")
((${#fss[@]})) || fss=(ext4 xfs)
# MODE:RECLAIM. Records with CRC, without, bytes (the policy AUTO picks for
# the file system), and overwrite mode with each policy that changes blocks.
modes=(rc:auto r:auto b:auto rco:punch rco:zero rco:none rc:cache)

. "$(dirname "$0")/fsrel_lib.sh"

fsrel_need losetup mkfs.xfs mount umount cp
for fs in "${fss[@]}"; do
	fsrel_need "mkfs.$fs"
done
fsrel_init pc
work=$fsrel_work
skip() { fsrel_skip "$@"; }
attach() { fsrel_attach "$@"; }
detach() { fsrel_detach "$@"; }
mnt() { fsrel_mount "$@"; }
umnt() { fsrel_umount "$@"; }

mkdir -p "$work/outer" "$work/inner" "$work/snap" || exit 1
truncate -s 2G "$work/outer.img"
mkfs.xfs -q -m reflink=1 "$work/outer.img" 2>/dev/null ||
	skip "mkfs.xfs cannot make a reflink file system"
attach "$work/outer.img" || skip "no free loop device"
mnt "$dev" "$work/outer" || skip "cannot mount a loop device"
truncate -s 1M "$work/outer/probe"
cp --reflink=always "$work/outer/probe" "$work/outer/probe2" 2>/dev/null ||
	skip "reflink copies do not work here"
rm -f "$work/outer/probe" "$work/outer/probe2"

seed=${FSREL_SEED:-$(($(date +%s) % 100000))}
RANDOM=$seed
echo "fsrel_powercut: seed $seed (FSREL_SEED), $per_fs snapshots per file system"

fails=0
checked=0
acked_recs=0     # records acknowledged, summed over the copies
delivered_recs=0 # records a consumer got from the copies
declare -A fs_checked fs_fails

# rand_sleep LO_MS HI_MS
rand_sleep()
{
	local ms=$(($1 + RANDOM % ($2 - $1 + 1)))
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
}

for fs in "${fss[@]}"; do
	img=$work/outer/$fs.img
	truncate -s 320M "$img"
	case $fs in
	ext4) mkfs.ext4 -q -F "$img" || exit 1 ;;
	xfs) mkfs.xfs -q -f "$img" || exit 1 ;;
	*) echo "fsrel_powercut: unknown file system $fs" >&2; exit 1 ;;
	esac
	attach "$img" || exit 1
	idev=$dev
	mnt "$idev" "$work/inner" || exit 1
	fs_checked[$fs]=0
	fs_fails[$fs]=0
	for ((mi = 0; mi < ${#modes[@]}; mi++)); do
		mode=${modes[mi]%:*}
		policy=${modes[mi]#*:}
		# Spread the snapshots over the modes.
		n=$(((per_fs + ${#modes[@]} - 1 - mi) / ${#modes[@]}))
		((n > 0)) || continue
		ring=ring.$mi.$mode
		ack=$work/ack.$fs.$mi
		: >"$ack"
		"$tool" write "$work/inner/$ring" "$mode" "$ack" "$policy" &
		writer=$!
		fsrel_pids=("$writer")
		# The ring exists once the writer handles SIGTERM (a slow
		# start, as under qemu-user, would otherwise die of it).
		for ((t = 0; t < 5000; t++)); do
			[[ -e $work/inner/$ring ]] && break
			sleep 0.002
		done
		for ((s = 0; s < n; s++)); do
			# The first copy catches the first lap.
			if ((s == 0)); then
				rand_sleep 20 300
			else
				rand_sleep 50 700
			fi
			kill -STOP "$writer" || break
			# kill returns before the stop: wait for it.
			for ((t = 0; t < 1000; t++)); do
				st=$(cut -d' ' -f3 "/proc/$writer/stat")
				[[ $st == T ]] && break
				sleep 0.002
			done
			nack=$(tail -n 1 "$ack" | cut -d' ' -f1)
			snap=$work/outer/snap.img
			cp --reflink=always "$img" "$snap" || exit 1
			cut_head=$("$tool" head "$work/inner/$ring" 2>&1)
			kill -CONT "$writer"
			# Without the ring's head at the cut no copy is checked
			# fairly: nothing existed yet (no ack), or a test error.
			if ! [[ $cut_head =~ ^[0-9]+$ ]]; then
				if [[ -n $nack ]]; then
					echo "FAIL $fs $mode #$s: head at the cut: $cut_head"
					((fails++, fs_fails[$fs]++))
				fi
				rm -f "$snap"
				continue
			fi
			attach "$snap" || exit 1
			sdev=$dev
			opts=
			[[ $fs == xfs ]] && opts=nouuid
			if ! mnt "$sdev" "$work/snap" "$opts"; then
				echo "FAIL $fs $mode #$s: the copy does not mount"
				((fails++, fs_fails[$fs]++))
			else
				out=$("$tool" check "$work/snap/$ring" "$mode" \
					"${nack:-0}" "${cut_head:-0}")
				rc=$?
				echo "$fs $mode/$policy #$s: $out"
				if ((rc != 0)); then
					((fails++, fs_fails[$fs]++))
				fi
				umnt "$work/snap" || exit 1
			fi
			detach "$sdev"
			rm -f "$snap"
			((checked++, fs_checked[$fs]++))
			if [[ $mode == r* && $out =~ acked\ ([0-9]+)\ delivered\ ([0-9]+) ]]; then
				acked_recs=$((acked_recs + BASH_REMATCH[1]))
				delivered_recs=$((delivered_recs + BASH_REMATCH[2]))
			fi
		done
		kill -TERM "$writer" 2>/dev/null
		wait "$writer"
		wrc=$?
		fsrel_pids=()
		if ((wrc != 0)); then
			echo "FAIL $fs $mode: the writer exited with $wrc"
			((fails++, fs_fails[$fs]++))
		fi
	done
	umnt "$work/inner" || exit 1
	detach "$idev"
	rm -f "$img"
done

for fs in "${fss[@]}"; do
	echo "fsrel_powercut: $fs: ${fs_checked[$fs]} copies checked," \
		"${fs_fails[$fs]} failed"
done
echo "fsrel_powercut: $checked copies, $fails failed; record modes:" \
	"$acked_recs records acknowledged, $delivered_recs delivered" \
	"(summed over copies; seed $seed)"
((fails == 0))
