# shellcheck shell=bash
# Sourced by the bench/run-*.sh scripts.
#
# The caller sets $here to the bench/ directory.
: "${here:?}"

# find_bin NAME: the first built NAME among the usual build directories, or
# exit 2 with a hint.
find_bin()
{
	local b
	for b in "/tmp/b-bench/bench/$1" "$here/../build/bench/$1"; do
		[ -x "$b" ] && echo "$b" && return 0
	done
	echo "no $1; build with -DMRING_BUILD_BENCH=ON -DBUILD_TESTING=ON and pass --bin" >&2
	exit 2
}

# run_logged LOG CMDLINE PROGRAM ARGS...: write the machine and the command
# to LOG, run the program with its output also appended to LOG, and exit
# with its status.
run_logged()
{
	local log=$1 cmdline=$2 rc
	shift 2
	mkdir -p "$(dirname "$log")"
	{
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "command: $cmdline"
		echo "commit: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null)"
		echo "kernel: $(uname -sr)"
		echo "cpu: $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
		echo "ring file system: $(findmnt -no FSTYPE,SOURCE -T "${TMPDIR:-/tmp}")"
		echo "note: other engineers use this machine at the same time; rates are noisy"
	} >"$log"
	cat "$log"
	set +e
	"$@" 2>&1 | tee -a "$log"
	rc=${PIPESTATUS[0]}
	echo "exit status $rc, log in $log"
	exit "$rc"
}

# ---- free page reporting ---------------------------------------------
# A VM with free page reporting (virtio-balloon) hands freed memory back to
# its host; the first touch of that memory afterwards costs a host fault per
# page. On our development VM that first touch runs at 0.3-1.5 GB/s instead
# of 7+, and which run of a benchmark gets handed-back memory depends on
# what ran before it, not on what is measured: `head -c 2G /dev/zero | cat
# > f` took 1.1-8.2 s on the same disk. page_reporting_hold MODE BYTES:
#   hold  stop the reporting for the run (an order above the largest one:
#         nothing qualifies), then touch BYTES of memory once, so that the
#         first run starts like the later ones; page_reporting_restore puts
#         the old order back (call it from the script's exit trap);
#   keep  change nothing.
# Either way $page_reporting_note describes the state for the machine
# description. Without the module parameter or root, it is a no-op.
page_reporting_param=/sys/module/page_reporting/parameters/page_reporting_order
page_reporting_saved=""
page_reporting_note="no free page reporting"

page_reporting_hold()
{
	local mode=$1 bytes=$2 order
	[ -r "$page_reporting_param" ] || return 0
	order=$(cat "$page_reporting_param")
	if [ "$mode" != hold ]; then
		page_reporting_note="free page reporting on (order $order), left as is: first-touch costs vary from run to run"
		return 0
	fi
	if [ "$(id -u)" != 0 ] || ! echo 11 >"$page_reporting_param" 2>/dev/null; then
		page_reporting_note="free page reporting on (order $order), cannot hold it (not root?): first-touch costs vary"
		echo "bench: note: $page_reporting_note" >&2
		return 0
	fi
	page_reporting_saved=$order
	echo "bench: free page reporting held for the run (order $order -> 11, restored at exit); touching $((bytes >> 20)) MiB of memory once" >&2
	# Memory of /dev/shm, freed when the file goes: hot for the runs.
	local f
	f=$(mktemp /dev/shm/mring-bench-warm.XXXXXX)
	head -c "$bytes" /dev/zero >"$f" || true
	rm -f "$f"
	page_reporting_note="free page reporting (order $order) held during the run (order 11), $((bytes >> 20)) MiB touched once before the first run"
}

page_reporting_restore()
{
	[ -n "$page_reporting_saved" ] || return 0
	echo "$page_reporting_saved" >"$page_reporting_param" 2>/dev/null || true
	page_reporting_saved=""
}
