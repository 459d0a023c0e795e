#!/usr/bin/env bash
# The shell pipe a new user tries first: a stream on stdin into a fresh
# ring with `mring write`, against `cat > file` of the same stream (and
# `dd oflag=direct` style writers are not in scope: this is what a user
# types). Each variant runs --reps times in a rotating order; the page
# cache is flushed and dropped before every run (as root), so every run
# starts alike. Prints every run, then medians and ratios to cat; writes
# CSV to --out.
#
#   bench/run-write.sh                          # 2 GB stream, 4 GiB ring
#   bench/run-write.sh --bytes 2000000000 --ring-size 1T --reps 5
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/run-common.sh
. "$here/run-common.sh"
cmdline="$0 $*"
tool=""
tool_b=""
dir=${TMPDIR:-/tmp}
bytes=2000000000
ring_size=4G
reps=5
variants="cat,cat-sync,mring,mring-nosync,mring-prealloc"
out="$here/results"
reporting=hold
smoke=0
ring_given=""

usage() {
	cat <<EOF
usage: $0 [options]
  --tool PATH        the mring tool (default: a built one)
  --tool-b PATH      another build of it (the code before a change): adds
                     variants b and b-nosync, run like mring and
                     mring-nosync, so before and after share one run
  --dir DIR          where the files go ($dir)
  --bytes N          stream length ($bytes)
  --ring-size SIZE   ring capacity ($ring_size)
  --reps N           repetitions of each variant ($reps)
  --variants LIST    of cat, cat-sync (then sync FILE: what the tool's
                     default, durable at the end, compares with), mring
                     (defaults: a sparse file, synced at the end),
                     mring-nosync (write --no-sync), mring-prealloc
                     (created --prealloc) ($variants)
  --out DIR          where write.csv and write-summary.md go ($out)
  --smoke            8 MB into a 16 MiB ring (or --ring-size), once, no
                     cache drop, page reporting kept: checks that every
                     variant runs
  --page-reporting M hold (default): in a VM with free page reporting, stop
                     it for the run and restore it at exit (see
                     run-common.sh); keep: leave it
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--tool) tool=$2; shift ;;
	--tool-b) tool_b=$2; shift ;;
	--dir) dir=$2; shift ;;
	--bytes) bytes=$2; shift ;;
	--ring-size) ring_size=$2; ring_given=1; shift ;;
	--reps) reps=$2; shift ;;
	--variants) variants=$2; shift ;;
	--out) out=$2; shift ;;
	--page-reporting) reporting=$2; shift ;;
	--smoke) smoke=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

if [ -z "$tool" ]; then
	for t in /tmp/b-bench/tools/mring "$here/../build/tools/mring"; do
		[ -x "$t" ] && tool=$t && break
	done
fi
[ -x "$tool" ] || { echo "no mring tool; build it and pass --tool" >&2; exit 2; }
if [ -n "$tool_b" ]; then
	[ -x "$tool_b" ] || { echo "--tool-b $tool_b: not an executable" >&2; exit 2; }
	variants="$variants,b,b-nosync"
fi
if [ $smoke = 1 ]; then
	# A --ring-size given on the command line stays.
	bytes=8000000 reps=1 reporting=keep
	[ -n "$ring_given" ] || ring_size=16M
fi
# Options the tool may not have (before `write` synced by default).
sync_opt=""
"$tool" write --help 2>&1 | grep -q -- --no-sync && sync_opt=--no-sync

work=$(mktemp -d "$dir/mring-write.XXXXXX")
trap 'rm -rf "$work"; page_reporting_restore' EXIT
trap 'exit 130' INT TERM
page_reporting_hold "$reporting" $(($(numfmt --from=iec "$bytes") + (1 << 30)))
mkdir -p "$out"
csv="$out/write.csv"
echo "variant,rep,bytes,seconds,gbps" >"$csv"
IFS=, read -r -a vs <<<"$variants"

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command: $cmdline"
	echo "commit: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null)"
	echo "kernel: $(uname -sr), $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1048576)}' /proc/meminfo) GiB"
	echo "file system: $(findmnt -no FSTYPE,SOURCE -T "$dir")"
	echo "stream: $bytes bytes from /dev/zero via head -c; ring $ring_size"
	echo "page reporting: $page_reporting_note"
} | tee "$out/write-machine.txt"

drop() {
	[ $smoke = 0 ] || return 0
	sync
	[ "$(id -u)" = 0 ] && echo 3 >/proc/sys/vm/drop_caches || true
}

# run_one VARIANT REP: one timed run; prints its CSV row, or returns 1
# (with the tool's message on stderr) when any step failed: a failed run
# must not show up as a very fast one.
run_one() {
	local v=$1 f="$work/f" ok=1 t=$tool
	case $v in
	b) v=mring t=$tool_b ;;
	b-nosync) v=mring-nosync t=$tool_b ;;
	esac
	rm -f "$f"
	case $v in
	mring | mring-nosync)
		"$t" create "$f" --size "$ring_size" >/dev/null || return 1 ;;
	mring-prealloc)
		"$t" create "$f" --size "$ring_size" --prealloc >/dev/null || return 1 ;;
	esac
	drop
	local t0 t1
	t0=$(date +%s.%N)
	case $v in
	cat) head -c "$bytes" /dev/zero | cat >"$f" || ok=0 ;;
	cat-sync) { head -c "$bytes" /dev/zero | cat >"$f" && sync "$f"; } || ok=0 ;;
	mring | mring-prealloc) head -c "$bytes" /dev/zero | "$t" write "$f" || ok=0 ;;
	mring-nosync) head -c "$bytes" /dev/zero | "$t" write $sync_opt "$f" || ok=0 ;;
	*) echo "unknown variant $v" >&2; exit 2 ;;
	esac
	t1=$(date +%s.%N)
	rm -f "$f"
	[ $ok = 1 ] || return 1
	awk -v v="$1" -v r="$2" -v b="$bytes" -v a="$t0" -v z="$t1" \
		'BEGIN { s = z - a; printf "%s,%d,%d,%.3f,%.3f\n", v, r, b, s, b / s / 1e9 }'
}

failed=()
for ((rep = 1; rep <= reps; rep++)); do
	n=${#vs[@]}
	for ((i = 0; i < n; i++)); do
		v=${vs[$(((i + rep - 1) % n))]}
		if line=$(run_one "$v" "$rep"); then
			echo "$line" | tee -a "$csv"
		else
			echo "run-write: $v failed (rep $rep)" >&2
			failed+=("$v (rep $rep)")
		fi
	done
done

# Medians, and each variant's ratio to cat's median.
awk -F, 'NR > 1 { s[$1] = s[$1] " " $4 }
END {
	for (v in s) {
		n = split(s[v], a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
			if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		m[v] = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	printf "| variant | median s | x cat (time ratio cat/variant) |\n|---|---|---|\n"
	for (v in m)
		printf "| %s | %.2f | %s |\n", v, m[v], ("cat" in m) ? sprintf("%.2f", m["cat"] / m[v]) : "-"
}' "$csv" | tee "$out/write-summary.md"
# A variant that failed must not just be missing from the table.
if [ ${#failed[@]} -gt 0 ]; then
	{
		echo
		echo "Failed runs (not in the medians): ${failed[*]}"
	} | tee -a "$out/write-summary.md"
	exit 1
fi
