#!/usr/bin/env bash
# Driver of bench/loop, the loop-around benchmark: sets up a memory-limited
# cgroup (so the files do not fit in the page cache) and, for the "slow"
# condition, block-I/O read throttling; runs every strategy for several
# repetitions, in a rotating order; writes CSV, a summary with medians and
# pair-by-pair ratios, and a PNG plot. Cleans up on exit and on Ctrl-C.
#
#   bench/run-loop.sh                      # defaults: about 15 minutes
#   bench/run-loop.sh --writers 8 --file-size 16G --mem 4G   # bigger
#   bench/run-loop.sh --smoke --bin BUILD/bench/mring-bench-loop
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/run-common.sh
. "$here/run-common.sh"
cmdline="$0 $*"
bin=""
out="$here/results"
dir=/tmp
writers=2
file_size=2G
laps=3
window=256M
mem=512M
reps=2
throttle=200M
conds="native,slow"
strategies=""
max_seconds=20
consumer=""
smoke=0
plot=1
reporting=hold

usage() {
	cat <<EOF
usage: $0 [options]
  --bin PATH          mring-bench-loop (default: /tmp/b-bench/bench/...)
  --out DIR           results directory (default: bench/results)
  --dir DIR           where the temporary files go, ext4 (default: /tmp)
  --writers N         writer processes, one file each ($writers)
  --file-size SIZE    bytes per file ($file_size)
  --laps N            laps ($laps)
  --window SIZE       naive and mring window ($window)
  --mem SIZE          memory cgroup limit ($mem)
  --reps N            repetitions ($reps)
  --throttle BPS      read limit of the "slow" condition ($throttle)
  --conds LIST        native,slow ($conds)
  --strategies LIST   comma-separated subset (default: all)
  --max-seconds S     stop a run after S seconds; its lap is partial ($max_seconds)
  --consumer          a reader process behind each writer
  --no-plot           skip the gnuplot step
  --smoke             tiny sizes, one repetition, no cgroups, no plot
  --page-reporting M  hold (default): in a VM with free page reporting, stop
                      it for the run and restore it at exit, so the runs do
                      not pay the host for memory at random; keep: leave it
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bin=$2; shift ;;
	--out) out=$2; shift ;;
	--dir) dir=$2; shift ;;
	--writers) writers=$2; shift ;;
	--file-size) file_size=$2; shift ;;
	--laps) laps=$2; shift ;;
	--window) window=$2; shift ;;
	--mem) mem=$2; shift ;;
	--reps) reps=$2; shift ;;
	--throttle) throttle=$2; shift ;;
	--conds) conds=$2; shift ;;
	--strategies) strategies=$2; shift ;;
	--max-seconds) max_seconds=$2; shift ;;
	--consumer) consumer=--consumer ;;
	--no-plot) plot=0 ;;
	--smoke) smoke=1 ;;
	--page-reporting) reporting=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

if [ -z "$bin" ]; then
	for b in /tmp/b-bench/bench/mring-bench-loop \
		"$here/../build/bench/mring-bench-loop"; do
		[ -x "$b" ] && bin=$b && break
	done
fi
[ -x "$bin" ] || { echo "run-loop: no mring-bench-loop; build with -DMRING_BUILD_BENCH=ON and pass --bin" >&2; exit 2; }

if [ $smoke = 1 ]; then
	file_size=32M window=8M laps=3 reps=1 max_seconds=60 plot=0
	conds=native
fi

bytes() { numfmt --from=iec "${1%B}" ; }
fsz=$(bytes "$file_size")
memb=$(bytes "$mem")
tbps=$(bytes "$throttle")
[ -n "$strategies" ] || strategies=$("$bin" --list | paste -sd,)

mkdir -p "$out"
tmp=$(mktemp -d "$dir/mring-bench-loop.XXXXXX")
memcg="" blkcg="" child="" sdrun=0

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
		# TERM: a background job ignores INT; loop stops cleanly on TERM.
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	rm -rf "$tmp"
	page_reporting_restore
	# A group can go only once its tasks are gone.
	for cg in "$memcg" "$blkcg"; do
		[ -n "$cg" ] && [ -d "$cg" ] || continue
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			rmdir "$cg" 2>/dev/null && break
			sleep 0.5
		done
		[ -d "$cg" ] && echo "run-loop: could not remove $cg" >&2
	done
	return 0
}
trap cleanup EXIT
trap 'echo "run-loop: interrupted" >&2; exit 130' INT TERM

# ---- disk space ------------------------------------------------------
need=$(( writers * fsz ))
avail=$(( $(df --output=avail -B1 "$tmp" | tail -1) ))
if [ $need -gt $(( 20 * 1024 * 1024 * 1024 )) ]; then
	echo "run-loop: note: ${need} bytes of files at a time, more than the 20 GB this shared machine allows by default" >&2
fi
if [ $(( need + (2 << 30) )) -gt $avail ]; then
	echo "run-loop: not enough free space in $dir for $need bytes" >&2
	exit 1
fi

# ---- cgroups -----------------------------------------------------------
own_cg() { # controller -> this process's group path
	awk -F: -v c="$1" '$2 == c { print $3 }' /proc/self/cgroup
}
cgnote=""
if [ $smoke = 1 ]; then
	cgnote="smoke run: no cgroups (memory not limited, reads not throttled)"
elif [ "$(id -u)" != 0 ]; then
	cgnote="not root: no cgroups (memory not limited, reads not throttled)"
	echo "run-loop: $cgnote" >&2
elif [ ! -d /sys/fs/cgroup/memory ] || [ ! -d /sys/fs/cgroup/blkio ]; then
	# cgroup v2 (Debian 12's default): a systemd scope per run sets the
	# limits; a process cannot simply move into a child of its own group.
	src=$(findmnt -no SOURCE -T "$tmp")
	pk=$(lsblk -no PKNAME "$src" 2>/dev/null | head -1 || true)
	[ -n "$pk" ] && src=/dev/$pk
	if [ -f /sys/fs/cgroup/cgroup.controllers ] &&
		command -v systemd-run >/dev/null 2>&1 &&
		systemd-run --scope --quiet -p MemoryMax="$memb" true >/dev/null 2>&1; then
		sdrun=1
		cgnote="cgroup v2 through systemd-run --scope: MemoryMax=$mem; slow: IOReadBandwidthMax=$src $tbps"
	else
		cgnote="no cgroup-v1 memory/blkio controllers and no usable systemd-run: no limits"
		echo "run-loop: $cgnote" >&2
	fi
else
	memcg=/sys/fs/cgroup/memory$(own_cg memory | sed 's|^/$||')/mring-bench-$$
	blkcg=/sys/fs/cgroup/blkio$(own_cg blkio | sed 's|^/$||')/mring-bench-$$
	mkdir "$memcg" "$blkcg"
	echo "$memb" > "$memcg/memory.limit_in_bytes"
	# The file system's whole disk: throttling applies to disks only.
	src=$(findmnt -no SOURCE -T "$tmp")
	pk=$(lsblk -no PKNAME "$src" 2>/dev/null | head -1 || true)
	[ -n "$pk" ] && src=/dev/$pk
	devnum=$(lsblk -dno MAJ:MIN "$src" | tr -d ' ')
	cgnote="memory cgroup limit $mem ($memcg); slow: blkio.throttle.read_bps_device $devnum $tbps"
fi
[ "$(id -u)" = 0 ] && { [ -n "$memcg" ] || [ $sdrun = 1 ]; } || conds=native
ra_kb=$(cat "/sys/class/block/$(basename "${src:-/dev/vda}")/queue/read_ahead_kb" 2>/dev/null || echo "?")

[ $smoke = 1 ] && reporting=keep
page_reporting_hold "$reporting" $((memb + (1 << 30)))

# ---- machine description ----------------------------------------------
landed=$(git -C "$here/.." log --oneline 2>/dev/null | grep -c ' ring: maintenance' || true)
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command: $cmdline"
	echo "binary: $bin (built from $(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$(dirname "$bin")/../CMakeCache.txt" 2>/dev/null))"
	echo "commit: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null) (maintenance-thread commits: $landed; working tree $(git -C "$here/.." status --porcelain -- ring | wc -l) changed files under ring/)"
	echo "kernel: $(uname -sr)"
	echo "cpu: $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), swap $(awk '/SwapTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "file system: $(findmnt -no FSTYPE,SOURCE,OPTIONS -T "$tmp")"
	echo "device read_ahead_kb: $ra_kb"
	echo "settings: throttle $throttle = $tbps B/s, writers $writers, file $file_size each, $laps laps, chunk 625000, window $window, reps $reps, conds $conds, max $max_seconds s per run, consumer ${consumer:-no}"
	echo "cgroups: ${cgnote}"
	echo "page reporting: $page_reporting_note"
	echo "note: other engineers use this machine at the same time; figures are noisy"
} > "$out/loop-machine.txt"
cat "$out/loop-machine.txt"

csv=$out/loop.csv
tl=$out/loop-timeline.csv
lat=$out/loop-latency.csv
rm -f "$csv" "$tl" "$lat"
echo "cond,strategy,rep,writer,t,bytes,lap" > "$tl"
echo "cond,strategy,rep,lap,us,count" > "$lat"
header=--header
failed=()

# ---- runs ------------------------------------------------------------
IFS=, read -r -a slist <<< "$strategies"
IFS=, read -r -a clist <<< "$conds"
n=${#slist[@]}
for ((rep = 1; rep <= reps; rep++)); do
	for cond in "${clist[@]}"; do
		if [ -n "$blkcg" ]; then
			if [ "$cond" = slow ]; then
				echo "$devnum $tbps" > "$blkcg/blkio.throttle.read_bps_device"
			else
				echo "$devnum 0" > "$blkcg/blkio.throttle.read_bps_device"
			fi
		fi
		# Rotate the order, so no strategy always follows the same one.
		for ((k = 0; k < n; k++)); do
			s=${slist[$(( (k + rep - 1) % n ))]}
			sync
			echo "== rep $rep, $cond, $s" >&2
			scope=()
			if [ $sdrun = 1 ]; then
				scope=(systemd-run --scope --quiet -p "MemoryMax=$memb")
				[ "$cond" != slow ] ||
					scope+=(-p "IOReadBandwidthMax=$src $tbps")
			fi
			bash -c '
				m=$1 b=$2; shift 2
				[ -z "$m" ] || echo $$ > "$m/cgroup.procs"
				[ -z "$b" ] || echo $$ > "$b/cgroup.procs"
				exec "$@"' run "$memcg" "$blkcg" "${scope[@]}" \
				"$bin" --strategy "$s" --dir "$tmp" \
				--writers "$writers" --file-size "$file_size" \
				--laps "$laps" --window "$window" \
				--max-seconds "$max_seconds" $consumer \
				--csv "$csv" $header --timeline "$tl" \
				--latency "$lat" \
				--cond "$cond" --rep "$rep" \
				${memcg:+--reset-peak} &
			child=$!
			if ! wait "$child"; then
				echo "run-loop: $s failed (rep $rep, $cond)" >&2
				failed+=("$s (rep $rep, $cond)")
			fi
			child=""
			# The header goes with the first run that wrote a row.
			[ ! -s "$csv" ] || header=""
			rm -f "$tmp"/*
		done
	done
done

if [ ! -s "$csv" ]; then
	echo "run-loop: every run failed, nothing to summarise" >&2
	exit 1
fi
python3 "$here/analyze.py" loop --csv "$csv" --timeline "$tl" \
	--latency "$lat" --out "$out" \
	--machine "$out/loop-machine.txt"
# A strategy that failed must not just be missing from the tables.
if [ ${#failed[@]} -gt 0 ]; then
	{
		echo
		echo "## Failed runs (not in the figures above): ${#failed[@]}"
		echo
		printf -- '- %s\n' "${failed[@]}"
	} >> "$out/loop-summary.md"
	printf 'run-loop: FAILED: %s\n' "${failed[@]}" >&2
fi

if [ $plot = 1 ]; then
	if ! command -v gnuplot > /dev/null; then
		echo "run-loop: installing gnuplot" >&2
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox) >&2 || true
	fi
	if command -v gnuplot > /dev/null; then
		gnuplot "$out/loop-plot.gp" &&
			echo "plots: $out/loop.png (naive, pwrite, odirect, mring)," \
				"$out/loop-knobs.png (mring's variants)," \
				"$out/loop-latency.png (chunk latency CDF)"
	else
		echo "run-loop: no gnuplot, no plot" >&2
	fi
fi
[ ${#failed[@]} -eq 0 ]
