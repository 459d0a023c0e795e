#!/usr/bin/env bash
# The loop demo's laps, with and without mring_prefault: does the first
# lap run at the speed of the second, and what does creating the ring's
# pages before it cost? Runs `loop_demo --laps 3` (1 GiB ring, a producer
# and a checking consumer) --reps times each way, alternating; prints
# every run, then medians per variant; writes demo.csv, demo-summary.md
# and demo-machine.txt to --out.
#
#   bench/run-demo.sh                  # 5 repetitions each way
#   bench/run-demo.sh --reps 9 --out bench/results/x
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/run-common.sh
. "$here/run-common.sh"
cmdline="$0 $*"
demo=""
dir=${TMPDIR:-/tmp}
reps=5
capacity=1G
out="$here/results"
reporting=hold
smoke=0

usage() {
	cat <<EOF
usage: $0 [options]
  --demo PATH        the loop_demo program (default: a built one)
  --dir DIR          where the demo's ring goes ($dir)
  --capacity SIZE    the demo's ring size ($capacity)
  --reps N           runs of each variant ($reps)
  --out DIR          where demo.csv and demo-summary.md go ($out)
  --smoke            a 64 MiB ring, once each way, page reporting kept:
                     checks that both variants run and parse
  --page-reporting M hold (default): in a VM with free page reporting, stop
                     it for the run and restore it at exit (see
                     run-common.sh); keep: leave it
Variants: prefault (the demo's default: mring_prefault before lap 1) and
no-prefault (--no-prefault: lap 1 creates the pages as it goes).
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--demo) demo=$2; shift ;;
	--dir) dir=$2; shift ;;
	--capacity) capacity=$2; shift ;;
	--reps) reps=$2; shift ;;
	--out) out=$2; shift ;;
	--page-reporting) reporting=$2; shift ;;
	--smoke) smoke=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

if [ -z "$demo" ]; then
	for d in /tmp/b-bench/examples/loop_demo "$here/../build/examples/loop_demo"; do
		[ -x "$d" ] && demo=$d && break
	done
fi
[ -x "$demo" ] || { echo "no loop_demo; build with -DMRING_BUILD_EXAMPLES=ON and pass --demo" >&2; exit 2; }
if [ $smoke = 1 ]; then
	capacity=64M reps=1 reporting=keep
fi

trap 'page_reporting_restore' EXIT
trap 'exit 130' INT TERM
# The ring, the consumer's and producer's mappings, and some room.
page_reporting_hold "$reporting" $(($(numfmt --from=iec "$capacity") * 2 + (1 << 30)))
mkdir -p "$out"
csv="$out/demo.csv"
echo "variant,rep,prepare_s,producer_lap1_s,producer_lap2_s,producer_lap3_s,consumer_lap1_s,consumer_lap2_s,consumer_lap3_s" >"$csv"

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command: $cmdline"
	echo "commit: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null)"
	echo "kernel: $(uname -sr), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {print int($2/1048576)}' /proc/meminfo) GiB"
	echo "file system: $(findmnt -no FSTYPE,SOURCE -T "$dir")"
	echo "demo: $demo --laps 3 --capacity $capacity --dir $dir"
	echo "page reporting: $page_reporting_note"
	echo "note: other engineers use this machine at the same time; rates are noisy"
} | tee "$out/demo-machine.txt"

# run_one VARIANT REP: one demo run; prints its CSV row, or returns 1 when
# the demo failed or printed no lap times (a failed run must not look fast).
run_one() {
	local v=$1 opt="" o
	[ "$v" = no-prefault ] && opt=--no-prefault
	o=$("$demo" --laps 3 --capacity "$capacity" --dir "$dir" $opt) || return 1
	awk -v v="$v" -v r="$2" '
	/^producer prepared/ {p = $6}
	/^producer lap/ {split($3, a, "/"); t[a[1]] = $7}
	/^consumer lap/ {split($3, a, "/"); c[a[1]] = $7}
	END {
		if (t[3] == "" || c[3] == "" || (v == "prefault") != (p != ""))
			exit 1
		printf "%s,%d,%s,%s,%s,%s,%s,%s,%s\n", v, r, p == "" ? 0 : p,
		       t[1], t[2], t[3], c[1], c[2], c[3]
	}' <<<"$o"
}

vs=(prefault no-prefault)
failed=()
for ((rep = 1; rep <= reps; rep++)); do
	for ((i = 0; i < 2; i++)); do
		v=${vs[$(((i + rep - 1) % 2))]}
		if line=$(run_one "$v" "$rep"); then
			echo "$line" | tee -a "$csv"
		else
			echo "run-demo: $v failed (rep $rep)" >&2
			failed+=("$v (rep $rep)")
		fi
	done
done

# Medians per variant; lap 1 / lap 2 is taken per run, then its median.
awk -F, 'NR > 1 {
	v = $1; n[v]++
	col[v, "prep", n[v]] = $3
	col[v, "p1", n[v]] = $4; col[v, "p2", n[v]] = $5
	col[v, "pr", n[v]] = $4 / $5; col[v, "cr", n[v]] = $7 / $8
	col[v, "pl", n[v]] = $3 + $4
}
function med(v, k,   i, j, t, a, m) {
	m = n[v]
	for (i = 1; i <= m; i++) a[i] = col[v, k, i]
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
		if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
	print "| variant | runs | prepare s | producer lap 1 s | lap 2 s | lap 1 / lap 2, producer | lap 1 / lap 2, consumer | prepare + lap 1 s |"
	print "|---|---|---|---|---|---|---|---|"
	split("prefault no-prefault", order, " ")
	for (k = 1; k <= 2; k++) {
		v = order[k]
		if (!(v in n)) continue
		printf "| %s | %d | %.3f | %.3f | %.3f | %.2f | %.2f | %.3f |\n", v, n[v],
		       med(v, "prep"), med(v, "p1"), med(v, "p2"), med(v, "pr"),
		       med(v, "cr"), med(v, "pl")
	}
}' "$csv" | tee "$out/demo-summary.md"
if [ ${#failed[@]} -gt 0 ]; then
	{
		echo
		echo "Failed runs (not in the medians): ${failed[*]}"
	} | tee -a "$out/demo-summary.md"
	exit 1
fi
