# Shared by tests/fsrel_*.sh (sourced): loop devices, mounts and files made
# by the test are recorded and removed on exit, even after a failure; the
# names carry "fsrel" and the pid. Nothing else is ever touched.

fsrel_skip()
{
	echo "${0##*/}: skipped: $*" >&2
	exit 77
}

# fsrel_need CMD...: skip unless root and every command exists.
fsrel_need()
{
	((EUID == 0)) || fsrel_skip "needs root (loop devices, mounts)"
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || fsrel_skip "$t not installed"
	done
}

fsrel_loops=()  # loop devices we attached
fsrel_mounts=() # mount points we mounted
fsrel_pids=()   # children to kill on exit
fsrel_work=     # scratch directory, removed on exit

fsrel_cleanup()
{
	local i
	for i in "${fsrel_pids[@]}"; do
		kill -CONT "$i" 2>/dev/null
		kill -KILL "$i" 2>/dev/null && wait "$i" 2>/dev/null
	done
	for ((i = ${#fsrel_mounts[@]} - 1; i >= 0; i--)); do
		umount "${fsrel_mounts[i]}" 2>/dev/null ||
			umount -l "${fsrel_mounts[i]}" 2>/dev/null
	done
	for ((i = ${#fsrel_loops[@]} - 1; i >= 0; i--)); do
		losetup -d "${fsrel_loops[i]}" 2>/dev/null
	done
	[[ -n $fsrel_work ]] && rm -rf "$fsrel_work"
}

# fsrel_init NAME: make the scratch directory /tmp/fsrel-NAME-<pid> ($fsrel_work)
# and arm the cleanup.
fsrel_init()
{
	fsrel_work=/tmp/fsrel-$1-$$
	mkdir -p "$fsrel_work" || exit 1
	trap fsrel_cleanup EXIT
	trap 'exit 1' INT TERM HUP
}

# fsrel_attach FILE: attach to a free loop device; sets $dev (no subshell:
# the cleanup must know the device).
fsrel_attach()
{
	dev=$(losetup -f --show "$1") || return 1
	fsrel_loops+=("$dev")
}

fsrel_detach()
{
	losetup -d "$1" || return 1
	local i
	for i in "${!fsrel_loops[@]}"; do
		[[ ${fsrel_loops[i]} == "$1" ]] && unset 'fsrel_loops[i]'
	done
	fsrel_loops=("${fsrel_loops[@]}")
}

# fsrel_mount SOURCE DIR [OPTS] [TYPE]
fsrel_mount()
{
	mkdir -p "$2"
	mount ${4:+-t "$4"} ${3:+-o "$3"} "$1" "$2" || return 1
	fsrel_mounts+=("$2")
}

# fsrel_umount DIR: unmount, retrying a moment while io_uring workers of a
# process that just exited still hold files.
fsrel_umount()
{
	local tries=0
	until umount "$1" 2>/dev/null; do
		((tries++ < 100)) || { umount "$1"; return 1; }
		sleep 0.05
	done
	local i
	for i in "${!fsrel_mounts[@]}"; do
		[[ ${fsrel_mounts[i]} == "$1" ]] && unset 'fsrel_mounts[i]'
	done
	fsrel_mounts=("${fsrel_mounts[@]}")
}

# fsrel_mkfs FS IMAGE SIZE: make a file system of type FS in a new IMAGE.
fsrel_mkfs()
{
	rm -f "$2"
	truncate -s "$3" "$2" || return 1
	case $1 in
	ext4) mkfs.ext4 -q -F "$2" ;;
	xfs) mkfs.xfs -q -f "$2" ;;
	btrfs) mkfs.btrfs -q -f "$2" >/dev/null ;;
	*) echo "unknown file system $1" >&2; return 1 ;;
	esac
}

# fsrel_mount_fs FS DIR SIZE: mount a fresh FS of SIZE at DIR: a loop image
# under $fsrel_work, or for tmpfs a size-limited tmpfs.
fsrel_mount_fs()
{
	if [[ $1 == tmpfs ]]; then
		fsrel_mount fsrel-tmpfs "$2" "size=$3" tmpfs
		return
	fi
	fsrel_mkfs "$1" "$fsrel_work/$1.img" "$3" || return 1
	fsrel_attach "$fsrel_work/$1.img" || return 1
	fsrel_mount "$dev" "$2"
}

# fsrel_umount_fs FS DIR: undo fsrel_mount_fs.
fsrel_umount_fs()
{
	local src
	src=$(findmnt -n -o SOURCE --target "$2")
	fsrel_umount "$2" || return 1
	if [[ $1 != tmpfs ]]; then
		fsrel_detach "$src" || return 1
		rm -f "$fsrel_work/$1.img"
	fi
}
