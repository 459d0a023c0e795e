#!/usr/bin/env bash
# A/B of the hand-off benchmark (bench/ipc): two builds of mring-bench-ipc,
# e.g. before and after a library change, one repetition at a time in the
# order A B B A A B ..., so that the drift of a shared machine falls on both
# alike. Writes both CSVs, the machine, and a table of medians with the
# ratio B/A for every row (transport, medium, wait, record size, batch).
#
#   bench/run-ipc-ab.sh --a OLD/bench/mring-bench-ipc \
#                       --b NEW/bench/mring-bench-ipc [--reps 3] \
#                       [--sizes 64,1M] [--out DIR] [--label-a old] ...
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmdline="$0 $*"
a="" b="" la=old lb=new
out="$here/results"
dir=/tmp
reps=3
seconds=1
lat_records=5000
sizes=64,1M
only=mring-shm,mring-disk,pipe,unix
pin=()

usage() {
	cat <<EOF
usage: $0 --a BIN --b BIN [options]
  --a BIN, --b BIN       the two mring-bench-ipc builds (A: baseline)
  --label-a L, --label-b L   their names in the table ($la, $lb)
  --out DIR              results directory (default: bench/results)
  --dir DIR              file system of the on-disk ring (default: /tmp)
  --reps N               repetitions of each ($reps)
  --seconds S            throughput phase per combination ($seconds)
  --lat-records N        records of the latency phase ($lat_records)
  --sizes LIST           record sizes ($sizes)
  --only LIST            transports ($only)
  --pin P,C              producer on CPU P, consumer on CPU C (default:
                         not pinned; 64 B and 1 MiB rows are then
                         bimodal on 2 vCPUs, by where the two land)
  --tag NAME             files are results/ipc-ab-NAME-*, not ipc-ab-*
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--a) a=$2; shift ;;
	--b) b=$2; shift ;;
	--label-a) la=$2; shift ;;
	--label-b) lb=$2; shift ;;
	--out) out=$2; shift ;;
	--dir) dir=$2; shift ;;
	--reps) reps=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--lat-records) lat_records=$2; shift ;;
	--sizes) sizes=$2; shift ;;
	--only) only=$2; shift ;;
	--pin) pin=(--pin "$2"); shift ;;
	--tag) tag=-$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
[ -x "$a" ] && [ -x "$b" ] || { usage >&2; exit 2; }

mkdir -p "$out"
tmp=$(mktemp -d "$dir/mring-bench-ipc-ab.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
base=$out/ipc-ab${tag:-}
rm -f "$base-$la.csv" "$base-$lb.csv"
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command: $cmdline"
	echo "A ($la): $a (built from $(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$(dirname "$a")/../CMakeCache.txt" 2>/dev/null), commit $(git -C "$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$(dirname "$a")/../CMakeCache.txt" 2>/dev/null)" rev-parse --short HEAD 2>/dev/null || echo '?'))"
	echo "B ($lb): $b (built from $(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$(dirname "$b")/../CMakeCache.txt" 2>/dev/null), commit $(git -C "$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$(dirname "$b")/../CMakeCache.txt" 2>/dev/null)" rev-parse --short HEAD 2>/dev/null || echo '?'))"
	echo "kernel: $(uname -sr)"
	echo "cpu: $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "shm: $(findmnt -no FSTYPE,SOURCE -T /dev/shm | head -1); disk ring: $(findmnt -no FSTYPE,SOURCE -T "$tmp")"
	echo "settings: reps $reps each, order A B B A A B ..., $seconds s throughput phase, $lat_records paced records for latency, sizes $sizes (64 B also batched 16 per commit), transports $only, ring 16 MiB, CPU pinning ${pin[1]:-none}"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "note: other engineers use this machine at the same time; figures are noisy"
} > "$base-machine.txt"
cat "$base-machine.txt"

run() { # run LABEL BIN REP
	local csv=$base-$1.csv hdr=()
	[ -f "$csv" ] || hdr=(--header)
	echo "== $1 rep $3 (load $(cut -d' ' -f1 /proc/loadavg))" >&2
	"$2" --seconds "$seconds" --lat-records "$lat_records" \
		--sizes "$sizes" --disk-dir "$tmp" --csv "$csv" "${hdr[@]}" \
		--only "$only" "${pin[@]}" --rep "$3"
}
for ((r = 1; r <= reps; r++)); do
	if ((r % 2)); then
		run "$la" "$a" "$r"; run "$lb" "$b" "$r"
	else
		run "$lb" "$b" "$r"; run "$la" "$a" "$r"
	fi
done

python3 - "$base-$la.csv" "$base-$lb.csv" "$la" "$lb" > "$base-summary.md" <<'EOF'
import csv, statistics, sys
fa, fb, la, lb = sys.argv[1:5]
def load(f):
    d = {}
    for r in csv.DictReader(open(f)):
        k = (r['transport'], r['medium'], r['wait'], int(r['record_bytes']),
             int(r['batch']))
        d.setdefault(k, []).append(r)
    return d
A, B = load(fa), load(fb)
def med(rows, c):
    return statistics.median(float(r[c]) for r in rows)
cols = [('records_per_s', 'Mrec/s', 1e6), ('gbps', 'GB/s', 1),
        ('lat_p50_us', 'p50 us', 1), ('lat_p99_us', 'p99 us', 1)]
def best(rows, c):
    return max(float(r[c]) for r in rows)
def paired(a, b, c):
    # Ratio within each repetition (A and B ran back to back), median.
    ra = {r['rep']: float(r[c]) for r in a}
    rs = [float(r[c]) / ra[r['rep']] for r in b
          if ra.get(r['rep'])]
    return statistics.median(rs) if rs else float('nan')
print(f'Medians over repetitions; "{lb}/{la}" is the ratio of the medians, '
      f'"paired" the median of the ratios within each repetition (the two '
      f'builds ran back to back). pipe and unix run the same code in both '
      f'builds: their ratios show the noise.\n')
print('| transport | medium | wait | record | batch | n | ' + ' | '.join(
    f'{n} {la} | {n} {lb} | {lb}/{la}' for _, n, _ in cols) +
    ' | Mrec/s paired | Mrec/s best ' + la + ' | best ' + lb + ' | best ' + lb + '/' + la + ' |')
print('|' + '---:|' * (10 + 3 * len(cols)))
for k in sorted(A, key=lambda k: (k[0], k[1], k[2], k[3], k[4])):
    if k not in B:
        continue
    cells = []
    for c, _, s in cols:
        x, y = med(A[k], c) / s, med(B[k], c) / s
        cells += [f'{x:.3f}', f'{y:.3f}', f'{y / x:.3f}' if x else '-']
    print(f'| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {k[4]} | '
          f'{len(A[k])}/{len(B[k])} | ' + ' | '.join(cells) +
          f' | {paired(A[k], B[k], "records_per_s"):.3f}'
          f' | {best(A[k], "records_per_s") / 1e6:.3f}'
          f' | {best(B[k], "records_per_s") / 1e6:.3f}'
          f' | {best(B[k], "records_per_s") / best(A[k], "records_per_s"):.3f} |')
for n, f in ((la, fa), (lb, fb)):
    rows = list(csv.DictReader(open(f)))
    reps = {}
    for r in rows:
        reps[r['rep']] = r
    print(f'\n{n}: memcpy {statistics.median(float(r["memcpy_gbps"]) for r in reps.values()):.2f} GB/s, '
          f'wake-up floor p99 {statistics.median(float(r["floor_p99_us"]) for r in reps.values()):.1f} us '
          f'(medians over reps)')
EOF
cat "$base-summary.md"
