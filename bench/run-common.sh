# shellcheck shell=bash
# Sourced by bench/run-soak.sh and bench/run-torture.sh.
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
