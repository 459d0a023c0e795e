#!/usr/bin/env bash
# Driver of the ring -> JetStream -> ring benchmark: the bridge mring-nats
# (tools/nats) against a bare libnats asynchronous publisher of the same
# records into the same stream, on one nats-server and on a three-node
# cluster (stream replicas 1 and 3), all on 127.0.0.1. Starts and stops the
# servers itself; JetStream stores and rings live in one temp directory
# that is removed on exit, on failure and on Ctrl-C.
#
# Per topology, size and repetition (fresh stream every time, the order of
# bare and bridge alternating between repetitions):
#   bare        bench/nats bare: N records, --window outstanding
#   bare-sub    those N records out of the stream by a bare JetStream pull
#               consumer (bench/nats bare-sub)
#   bridge-pub  a ring pre-filled with the same N records, then
#               mring-nats publish --count N (alone on the machine)
#   bridge-sub  that stream (now full) into a far ring: mring-nats
#               subscribe --count N, the far ring read by bench/nats drain
#   bare-e2e    bare publisher and bare consumer at once
#   e2e         ring -> publish -> stream -> subscribe -> far ring -> drain,
#               all at once, from a pre-filled ring: records/s at the drain
# then per topology and size, --reps times, bare and bridge each:
#   latency-a   a paced writer at --load x the median bare-e2e rate:
#   bare-lat-a  p50/p99/p99.9 of (reader's CLOCK_REALTIME - the stamp
#               given at commit / at publish)
#   latency-b   the same at --load x the bridge's median e2e rate, when
#   bare-lat-b  that is lower (a point below both saturations)
#
#   bench/run-nats.sh                     # default run, ~11 minutes
#   bench/run-nats.sh --reps 5 --sizes 64,1k --topologies single
#   bench/run-nats.sh --smoke --bin BUILD/bench/mring-bench-nats \
#                     --bridge BUILD/tools/nats/mring-nats
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmdline="$0 $*"
bin=""
bridge=""
out="$here/results/nats"
dir=/tmp
reps=3
sizes=64,1k,64k
counts=200000,100000,10000
ccounts=100000,50000,5000
topologies=single,cluster
window=4096
load=0.5
lat_seconds=3
port_base=""
smoke=0
timeout_s=300
sub_sync=batch

usage() {
	cat <<EOF
usage: $0 [options]
  --bin PATH          mring-bench-nats (default: build/bench/...)
  --bridge PATH       mring-nats (default: build/tools/nats/mring-nats)
  --out DIR           results directory (default: bench/results/nats)
  --dir DIR           parent of the temp directory: JetStream stores and
                      rings ($dir)
  --reps N            repetitions, at least 3 for medians ($reps)
  --sizes LIST        record sizes ($sizes)
  --counts LIST       records per run on one server, one per size
                      ($counts)
  --cluster-counts L  the same on the cluster, slower ($ccounts)
  --topologies LIST   single (one server, replicas 1), cluster (three
                      servers, replicas 3) ($topologies)
  --window N          outstanding publishes, bridge and bare alike ($window)
  --load F            latency runs offer F x the median end-to-end rate
                      of bare (and of the bridge, if lower) ($load)
  --lat-seconds S     length of a latency run; at most the size's count
                      of records ($lat_seconds)
  --port-base P       client ports P..P+2, cluster ports P+100..P+102
                      (within 24000-29999; default: a free base there,
                      picked at random)
  --sub-sync MODE     mring-nats subscribe --sync: batch (its default:
                      fdatasync per batch before the acks) or none ($sub_sync)
  --timeout S         a run that takes longer is killed and marked failed
                      ($timeout_s)
  --smoke             tiny run (seconds): checks that it works, measures
                      nothing; exits 77 without nats-server or the bridge
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bin=$2; shift ;;
	--bridge) bridge=$2; shift ;;
	--out) out=$2; shift ;;
	--dir) dir=$2; shift ;;
	--reps) reps=$2; shift ;;
	--sizes) sizes=$2; shift ;;
	--counts) counts=$2; shift ;;
	--cluster-counts) ccounts=$2; shift ;;
	--topologies) topologies=$2; shift ;;
	--window) window=$2; shift ;;
	--load) load=$2; shift ;;
	--lat-seconds) lat_seconds=$2; shift ;;
	--port-base) port_base=$2; shift ;;
	--timeout) timeout_s=$2; shift ;;
	--sub-sync) sub_sync=$2; shift ;;
	--smoke) smoke=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

if [ $smoke = 1 ]; then
	reps=1 sizes=64,64k counts=2000,200 ccounts=2000,200
	topologies=single lat_seconds=1
	timeout_s=60
fi

skip_or_fail() { # smoke: a missing prerequisite is a skip, not a failure
	echo "run-nats: $1" >&2
	[ $smoke = 1 ] && exit 77
	exit 2
}
find_exe() { # NAME CANDIDATES...
	local n=$1 c
	shift
	for c in "$@"; do
		[ -x "$c" ] && echo "$c" && return 0
	done
	return 1
}
[ -n "$bin" ] || bin=$(find_exe mring-bench-nats "$here/../build/bench/mring-bench-nats" /tmp/b-bench/bench/mring-bench-nats) ||
	skip_or_fail "no mring-bench-nats; build with -DMRING_BUILD_BENCH=ON (needs libnats-dev) and pass --bin"
[ -n "$bridge" ] || bridge=$(find_exe mring-nats "$here/../build/tools/nats/mring-nats" /tmp/b-bench/tools/nats/mring-nats) ||
	skip_or_fail "no mring-nats (tools/nats); build it and pass --bridge"
[ -x "$bin" ] || skip_or_fail "$bin is not executable"
[ -x "$bridge" ] || skip_or_fail "$bridge is not executable"
command -v nats-server >/dev/null || skip_or_fail "no nats-server (apt-get install nats-server)"
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ports_free() { # BASE: are the 6 ports of BASE all free?
	local p
	for p in 0 1 2 100 101 102; do
		port_free $(($1 + p)) || return 1
	done
}
if [ -z "$port_base" ]; then
	# Random, so that two runs (a smoke test in each of two builds)
	# do not collide; checked free here and again at each start.
	for _ in $(seq 20); do
		port_base=$((24000 + (RANDOM % 53) * 110))
		ports_free "$port_base" && break
	done
fi
if [ "$port_base" -lt 24000 ] || [ $((port_base + 102)) -gt 29999 ]; then
	echo "run-nats: --port-base must leave P..P+102 within 24000-29999" >&2
	exit 2
fi
IFS=, read -r -a slist <<< "$sizes"
IFS=, read -r -a nlist <<< "$counts"
IFS=, read -r -a clist <<< "$ccounts"
IFS=, read -r -a tlist <<< "$topologies"
case ",$topologies," in *,single,*)
	[ ${#slist[@]} = ${#nlist[@]} ] ||
		{ echo "run-nats: --counts needs one count per size (${#slist[@]})" >&2; exit 2; } ;;
esac
case ",$topologies," in *,cluster,*)
	[ ${#slist[@]} = ${#clist[@]} ] ||
		{ echo "run-nats: --cluster-counts needs one count per size (${#slist[@]})" >&2; exit 2; } ;;
esac
bytes() { local v=${1^^}; numfmt --from=iec "${v%B}"; }

mkdir -p "$out"
tmp=$(mktemp -d "$dir/mring-bench-nats.XXXXXX")
servers=()  # pids of nats-server
jobs_bg=()  # pids of bridge / drain / producer processes of a run

stop_pids() { # PID... : TERM, then KILL whatever is left after 5 s
	local p alive
	for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do
		alive=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
cleanup() {
	trap - EXIT INT TERM
	[ ${#jobs_bg[@]} = 0 ] || stop_pids "${jobs_bg[@]}"
	[ ${#servers[@]} = 0 ] || stop_pids "${servers[@]}"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "run-nats: interrupted" >&2; exit 130' INT TERM

# ---- servers -----------------------------------------------------------

# start_servers single|cluster: sets $urls and $replicas.
start_servers() {
	local topo=$1 n i routes="" port cport
	[ "$topo" = single ] && n=1 || n=3
	replicas=$n
	urls=""
	for ((i = 0; i < n; i++)); do
		for port in $((port_base + i)) $((port_base + 100 + i)); do
			port_free "$port" || { echo "run-nats: port $port is in use; pick another --port-base" >&2; exit 1; }
		done
		routes+="${routes:+, }nats-route://127.0.0.1:$((port_base + 100 + i))"
		urls+="${urls:+,}nats://127.0.0.1:$((port_base + i))"
	done
	for ((i = 0; i < n; i++)); do
		port=$((port_base + i)) cport=$((port_base + 100 + i))
		mkdir -p "$tmp/$topo/n$i"
		{
			echo "server_name: n$i"
			echo "listen: 127.0.0.1:$port"
			echo "jetstream { store_dir: \"$tmp/$topo/n$i/js\" }"
			[ "$n" = 1 ] || echo "cluster { name: bench, listen: 127.0.0.1:$cport, routes: [ $routes ] }"
		} > "$tmp/$topo/n$i.conf"
		nats-server -c "$tmp/$topo/n$i.conf" > "$tmp/$topo/n$i.log" 2>&1 &
		servers+=($!)
	done
	# Ready when a stream can be created (the cluster has elected its
	# JetStream leader); bench/nats stream retries for --timeout.
	"$bin" stream -s "$urls" --stream READY --subject ready.x \
		--replicas "$replicas" --timeout 60 >/dev/null ||
		{ tail -n 20 "$tmp/$topo"/n*.log >&2; exit 1; }
	"$bin" stream -s "$urls" --delete READY >/dev/null
}
stop_servers() {
	[ ${#servers[@]} = 0 ] || stop_pids "${servers[@]}"
	servers=()
}

# ---- machine description -----------------------------------------------
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command: $cmdline"
	echo "bench binary: $bin"
	echo "bridge: $bridge"
	echo "commit: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null) ($(git -C "$here/.." status --porcelain -- ring tools bench | wc -l) changed files under ring/ tools/ bench/)"
	echo "kernel: $(uname -sr)"
	echo "cpu: $(nproc) x $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "nats-server: $(nats-server --version 2>&1)"
	echo "libnats: $(pkg-config --modversion libnats 2>/dev/null || echo '?')"
	echo "stores and rings: $(findmnt -no FSTYPE,SOURCE -T "$tmp") ($tmp)"
	echo "settings: reps $reps, sizes $sizes, records $counts (cluster: $ccounts), topologies $topologies (single: 1 server, stream R1; cluster: 3 servers on this machine, R3), window $window outstanding publishes (bridge and bare), subscribe --sync $sub_sync, bare consumer: pull, fetches of up to 256 (queued late answers one at a time, as the bridge), explicit acks, latency at $load x median bare-e2e rate (and $load x median bridge e2e rate if lower) for ${lat_seconds}s (the first 10% of records sent at once to prime the path, waited for at the reader, not counted), file storage, duplicate window 120 s, fresh stream per run"
	echo "note: servers, bridge and benchmark share these $(nproc) CPUs; other engineers may use the machine at the same time"
} > "$out/nats-machine.txt"
cat "$out/nats-machine.txt"

csv=$out/nats.csv
jsonl=$out/nats-bridge.jsonl
echo "topology,replicas,size,rep,phase,records,seconds,rate,mbps,offered,p50_us,p99_us,p999_us,max_us,status" > "$csv"
: > "$jsonl"

# ---- helpers -----------------------------------------------------------
kv() { # KEY LINE: value of KEY=... in a key=value line
	sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<< "$2"
}
now_ns() { date +%s%N; }
row() { # phase records seconds rate mbps offered p50 p99 p999 max status
	echo "$topo,$replicas,$szb,$rep,$*" | tr ' ' ',' >> "$csv"
	printf '  %-10s %8s records %9s s %10s rec/s %9s MB/s %s\n' \
		"$1" "$2" "$3" "$4" "$5" "${*: -1}" >&2
}
rate_of() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }'; }
mbps_of() { awk -v r="$1" -v z="$2" 'BEGIN { printf "%.3f", r * z / 1e6 }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", (b - a) / 1e9 }'; }

# Nats-Msg-Id prefix of the bare publisher: as long as the bridge's
# RINGID: (16 hex digits of the ring's creation time, a colon).
msgid() { printf '%016x:' "$(now_ns)"; }
stream_new() {
	"$bin" stream -s "$urls" --stream BENCH --subject bench.rec \
		--replicas "$replicas" >/dev/null
}
stream_del() { "$bin" stream -s "$urls" --delete BENCH >/dev/null || true; }

# Ring capacity for n records of sz bytes (headers, rounding), >= 64 MiB.
ring_cap() {
	local c=$(( ($1 * ($2 + 64) * 11 / 10 + (1 << 20) - 1) >> 20 ))
	[ $c -ge 64 ] || c=64
	echo "${c}M"
}
mkrings() { # n: a source ring for n records and a 256 MiB far ring
	rm -f "$tmp"/src.ring* "$tmp"/far.ring*
	"$bin" mkring "$tmp/src.ring" --capacity "$(ring_cap "$1" "$szb")" \
		--size "$szb" --consumer nats >/dev/null
	"$bin" mkring "$tmp/far.ring" --capacity 256M --size "$szb" \
		--consumer drain >/dev/null
}
# Run a command bounded by --timeout, its stdout to a file.
bounded() { # OUTFILE CMD...
	local f=$1
	shift
	timeout -k 5 "$timeout_s" "$@" > "$f" 2>> "$tmp/stderr.log"
}
save_json() { # phase role file: the bridge's --json counters, kept as is
	local j
	j=$(grep -m1 '^{' "$3" 2>/dev/null || true)
	[ -n "$j" ] || j='null'
	printf '{"topology":"%s","size":%s,"rep":%s,"phase":"%s","role":"%s","bridge":%s}\n' \
		"$topo" "$szb" "$rep" "$1" "$2" "$j" >> "$jsonl"
}
fail_row() { # phase: a run that failed (its stderr tail shown)
	row "$1" 0 0 0 0 "${2:-}" "" "" "" "" failed
	tail -n 5 "$tmp/stderr.log" >&2 || true
	failures=$((failures + 1))
}
spawn() { "$@" & jobs_bg+=($!); }
wait_bg() {
	# Wait for every background job; as soon as one fails, stop the
	# others (a drain would otherwise wait out its timeout). 0 if all
	# succeeded.
	local p rc=0 left
	while :; do
		left=()
		for p in "${jobs_bg[@]}"; do
			if kill -0 "$p" 2>/dev/null; then
				left+=("$p")
			else
				wait "$p" || rc=1
			fi
		done
		jobs_bg=("${left[@]}")
		if [ $rc != 0 ] && [ ${#jobs_bg[@]} != 0 ]; then
			stop_pids "${jobs_bg[@]}"
			jobs_bg=()
		fi
		[ ${#jobs_bg[@]} = 0 ] && return $rc
		sleep 0.05
	done
}

# ---- phases ------------------------------------------------------------
# bare, then bare-sub from the stream it filled.
run_bare() {
	: > "$tmp/stderr.log"
	stream_new
	local t0 t1 r d
	t0=$(now_ns)
	if bounded "$tmp/bare.out" "$bin" bare -s "$urls" \
		--subject bench.rec --size "$szb" --count "$n" \
		--window "$window" --msg-id "$(msgid)"; then
		t1=$(now_ns)
		r=$(rate_of "$n" "$(secs "$t0" "$t1")")
		row bare "$n" "$(secs "$t0" "$t1")" "$r" "$(mbps_of "$r" "$szb")" "" "" "" "" "" ok
		bare_rates+=("$r")
		t0=$(now_ns)
		if bounded "$tmp/bsub.out" "$bin" bare-sub --pull -s "$urls" \
			--stream BENCH --subject bench.rec --size "$szb" \
			--count "$n"; then
			d=$(grep '^records=' "$tmp/bsub.out")
			t1=$(kv t_last_ns "$d")
			r=$(rate_of "$n" "$(secs "$t0" "$t1")")
			row bare-sub "$(kv records "$d")" "$(secs "$t0" "$t1")" "$r" "$(mbps_of "$r" "$szb")" "" "" "" "" "" ok
			bare_sub_rates+=("$r")
		else
			fail_row bare-sub
		fi
	else
		fail_row bare
	fi
	stream_del
}

# bridge-pub, then bridge-sub from the stream it filled.
run_bridge() {
	: > "$tmp/stderr.log"
	stream_new
	mkrings "$n"
	"$bin" produce "$tmp/src.ring" --size "$szb" --count "$n" >/dev/null
	# The ring's write-back is the writer's cost, not the bridge's: done
	# before the clock starts, it does not compete with the JetStream
	# store for the disk while the bridge is timed (the bare publisher
	# has no file). Without this, 64 KiB records (655 MB of ring) ran
	# at 0.74x bare, the bridge process itself mostly idle.
	sync -f "$tmp/src.ring"
	local t0 t1 r d
	t0=$(now_ns)
	if bounded "$tmp/pub.out" "$bridge" publish "$tmp/src.ring" \
		-s "$urls" --stream BENCH --subject bench.rec \
		--consumer nats --window "$window" --count "$n" --json; then
		t1=$(now_ns)
		r=$(rate_of "$n" "$(secs "$t0" "$t1")")
		row bridge-pub "$n" "$(secs "$t0" "$t1")" "$r" "$(mbps_of "$r" "$szb")" "" "" "" "" "" ok
		pub_ok=1
	else
		fail_row bridge-pub
		pub_ok=0
	fi
	save_json bridge-pub publish "$tmp/pub.out"
	if [ $pub_ok = 1 ]; then
		spawn timeout -k 5 "$timeout_s" "$bin" drain "$tmp/far.ring" \
			--size "$szb" --count "$n" > "$tmp/drain.out" 2>> "$tmp/stderr.log"
		t0=$(now_ns)
		if bounded "$tmp/sub.out" "$bridge" subscribe "$tmp/far.ring" \
			-s "$urls" --stream BENCH --durable bench --sync "$sub_sync" \
			--count "$n" --json && wait_bg; then
			d=$(cat "$tmp/drain.out")
			t1=$(kv t_last_ns "$d")
			r=$(rate_of "$n" "$(secs "$t0" "$t1")")
			row bridge-sub "$(kv records "$d")" "$(secs "$t0" "$t1")" "$r" "$(mbps_of "$r" "$szb")" "" "" "" "" "" ok
		else
			[ ${#jobs_bg[@]} = 0 ] || stop_pids "${jobs_bg[@]}"
			jobs_bg=()
			fail_row bridge-sub
		fi
		save_json bridge-sub subscribe "$tmp/sub.out"
	fi
	stream_del
	rm -f "$tmp"/src.ring* "$tmp"/far.ring*
}

# The whole pipeline, at full speed (rate = n / (last record at the far
# reader - publish start)) or, with a rate, paced (latency).
run_pipeline() { # phase rate
	local phase=$1 rate=$2 m=$n warm=0 t0 t1 r d st=ok
	if [ "$rate" != 0 ]; then
		m=$(awk -v r="$rate" -v s="$lat_seconds" -v n="$n" \
			'BEGIN { m = int(r * s); print m < n ? m : n }')
		warm=$((m / 10))
	fi
	: > "$tmp/stderr.log"
	stream_new
	mkrings "$m"
	[ "$rate" != 0 ] || "$bin" produce "$tmp/src.ring" --size "$szb" --count "$m" >/dev/null
	spawn timeout -k 5 "$timeout_s" "$bin" drain "$tmp/far.ring" --size "$szb" \
		--count "$m" --warmup "$warm" > "$tmp/drain.out" 2>> "$tmp/stderr.log"
	spawn timeout -k 5 "$timeout_s" "$bridge" subscribe "$tmp/far.ring" -s "$urls" \
		--stream BENCH --durable bench --sync "$sub_sync" --count "$m" --json \
		> "$tmp/sub.out" 2>> "$tmp/stderr.log"
	t0=$(now_ns)
	spawn timeout -k 5 "$timeout_s" "$bridge" publish "$tmp/src.ring" -s "$urls" \
		--stream BENCH --subject bench.rec --consumer nats \
		--window "$window" --count "$m" --json \
		> "$tmp/pub.out" 2>> "$tmp/stderr.log"
	if [ "$rate" != 0 ]; then
		# Starts once the bridge and the drain have their rings open.
		timeout -k 5 "$timeout_s" "$bin" produce "$tmp/src.ring" \
			--size "$szb" --count "$m" --rate "$rate" --consumer nats \
			--far "$tmp/far.ring" --prime "$warm" > "$tmp/prod.out" 2>> "$tmp/stderr.log" || st=failed
	fi
	wait_bg || st=failed
	save_json "$phase" publish "$tmp/pub.out"
	save_json "$phase" subscribe "$tmp/sub.out"
	d=$(cat "$tmp/drain.out")
	if [ $st = ok ] && [ -n "$d" ]; then
		t1=$(kv t_last_ns "$d")
		if [ "$rate" = 0 ]; then
			r=$(rate_of "$m" "$(secs "$t0" "$t1")")
			row "$phase" "$(kv records "$d")" "$(secs "$t0" "$t1")" "$r" "$(mbps_of "$r" "$szb")" "" "" "" "" "" ok
			e2e_rates+=("$r")
		else
			r=$(kv rate "$d")
			row "$phase" "$(kv records "$d")" "$(kv seconds "$d")" "$r" "$(mbps_of "$r" "$szb")" "$rate" \
				"$(kv p50_us "$d")" "$(kv p99_us "$d")" "$(kv p999_us "$d")" "$(kv max_us "$d")" ok
		fi
	else
		fail_row "$phase" "$rate"
	fi
	stream_del
	rm -f "$tmp"/src.ring* "$tmp"/far.ring*
}

# The bare counterpart of run_pipeline: bench/nats bare, unpaced (rate 0:
# bare-e2e) or paced (latency baseline), read meanwhile by a bare
# JetStream pull consumer (bench/nats bare-sub, latency from the stamp
# inside the record).
run_bare_pipe() { # phase rate
	local phase=$1 rate=$2 m=$n warm="" st=ok d t0 r
	if [ "$rate" != 0 ]; then
		m=$(awk -v r="$rate" -v s="$lat_seconds" -v n="$n" \
			'BEGIN { m = int(r * s); print m < n ? m : n }')
		warm=$((m / 10))
	fi
	: > "$tmp/stderr.log"
	stream_new
	: > "$tmp/bsub.out"
	spawn timeout -k 5 "$timeout_s" "$bin" bare-sub --pull -s "$urls" --stream BENCH \
		--subject bench.rec --size "$szb" --count "$m" --warmup "${warm:-0}" \
		> "$tmp/bsub.out" 2>> "$tmp/stderr.log"
	for _ in $(seq 300); do
		grep -q '^ready' "$tmp/bsub.out" && break
		kill -0 "${jobs_bg[0]}" 2>/dev/null || break
		sleep 0.1
	done
	t0=$(now_ns)
	bounded "$tmp/bare.out" "$bin" bare -s "$urls" --subject bench.rec \
		--size "$szb" --count "$m" --window "$window" --rate "$rate" \
		${warm:+--prime "$warm" --stream BENCH --consumer bare} \
		--msg-id "$(msgid)" || st=failed
	if [ $st = failed ]; then
		stop_pids "${jobs_bg[@]}"
		jobs_bg=()
	fi
	wait_bg || st=failed
	d=$(grep '^records=' "$tmp/bsub.out" || true)
	if [ $st = ok ] && [ -n "$d" ]; then
		if [ "$rate" = 0 ]; then
			r=$(rate_of "$m" "$(secs "$t0" "$(kv t_last_ns "$d")")")
			row "$phase" "$(kv records "$d")" "$(secs "$t0" "$(kv t_last_ns "$d")")" "$r" "$(mbps_of "$r" "$szb")" "" "" "" "" "" ok
			bare_e2e_rates+=("$r")
		else
			row "$phase" "$(kv records "$d")" "$(kv seconds "$d")" "$(kv rate "$d")" "$(kv mbps "$d")" "$rate" \
				"$(kv p50_us "$d")" "$(kv p99_us "$d")" "$(kv p999_us "$d")" "$(kv max_us "$d")" ok
		fi
	else
		fail_row "$phase" "$rate"
	fi
	stream_del
}

# The latency pair at one offered rate, the order alternating by rep.
latency_pair() { # suffix rate
	if [ $((rep % 2)) = 1 ]; then
		run_bare_pipe "bare-lat-$1" "$2"
		run_pipeline "latency-$1" "$2"
	else
		run_pipeline "latency-$1" "$2"
		run_bare_pipe "bare-lat-$1" "$2"
	fi
}

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ---- runs ----------------------------------------------------------------
failures=0
start=$(date +%s)
for topo in "${tlist[@]}"; do
	case "$topo" in single | cluster) ;; *) echo "run-nats: unknown topology $topo" >&2; exit 2 ;; esac
	echo "== $topo: starting nats-server" >&2
	start_servers "$topo"
	for ((k = 0; k < ${#slist[@]}; k++)); do
		size=${slist[$k]} n=${nlist[$k]}
		[ "$topo" = single ] || n=${clist[$k]}
		szb=$(bytes "$size")
		bare_rates=() bare_sub_rates=() bare_e2e_rates=() e2e_rates=()
		for ((rep = 1; rep <= reps; rep++)); do
			echo "== $topo, $size B x $n, rep $rep" >&2
			# Alternate which goes first, so neither always finds
			# the server fresher.
			if [ $((rep % 2)) = 1 ]; then
				run_bare
				run_bridge
				run_bare_pipe bare-e2e 0
				run_pipeline e2e 0
			else
				run_bridge
				run_bare
				run_pipeline e2e 0
				run_bare_pipe bare-e2e 0
			fi
		done
		[ ${#bare_e2e_rates[@]} -gt 0 ] || continue
		# Latency at --load x what the bare path carries end to end
		# (a), and, if the bridge carries less, also at --load x the
		# bridge's end-to-end rate (b), below both saturations.
		mba=$(median "${bare_e2e_rates[@]}")
		mbr=$( [ ${#e2e_rates[@]} -gt 0 ] && median "${e2e_rates[@]}" || echo 0)
		offered_a=$(awk -v r="$mba" -v l="$load" 'BEGIN { printf "%.0f", r * l }')
		offered_b=$(awk -v r="$mbr" -v l="$load" 'BEGIN { printf "%.0f", r * l }')
		for ((rep = 1; rep <= reps; rep++)); do
			echo "== $topo, $size B, latency at $offered_a rec/s, rep $rep" >&2
			latency_pair a "$offered_a"
			if [ "$offered_b" -gt 0 ] &&
				[ $((offered_b * 100)) -lt $((offered_a * 95)) ]; then
				echo "== $topo, $size B, latency at $offered_b rec/s, rep $rep" >&2
				latency_pair b "$offered_b"
			fi
		done
	done
	stop_servers
done
echo "run-nats: $(( $(date +%s) - start )) s, $failures failed runs" >&2
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); runs took $(( $(date +%s) - start )) s" >> "$out/nats-machine.txt"

/usr/bin/python3 "$here/nats-summary.py" --csv "$csv" \
	--machine "$out/nats-machine.txt" --out "$out" --load "$load"
[ $failures = 0 ]
