#!/bin/sh
# Smoke test of the capture example: tcpdump must read back, and decode as
# UDP over IPv4 with good header checksums, exactly the packets the writer
# says it wrote, and the writer's packets plus the losses mring reported
# must add up to what the source sent. Two runs: one whose ring holds the
# whole capture, which must lose nothing, and one whose slow writer on a
# small ring must lose packets.
#
# usage: capture_test.sh PATH/TO/capture
set -eu
capture=$1

fail()
{
	echo "capture_test: FAILED: $*" >&2
	exit 1
}

# A test that cannot check the file must not pass.
command -v tcpdump >/dev/null 2>&1 ||
	fail "tcpdump is not installed (apt-get install tcpdump)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/capture_test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# What tcpdump prints for each of our packets.
udp_line='^[0-9:.]* IP 10\.0\.0\.[0-9]*\.400[0-9]* > 10\.0\.1\.1\.9: UDP, length [0-9]*$'

# check NAME CAPTURE-OPTIONS...: one run and its checks; sets $lost.
check()
{
	name=$1
	shift
	pcap=$tmp/$name.pcap
	echo "== capture $* $name.pcap"
	"$capture" "$@" --dir "$tmp" "$pcap" >"$tmp/$name.log" ||
		fail "capture exited with status $?"
	cat "$tmp/$name.log"
	sent=$(sed -n 's/^source: \([0-9]*\) packets.*/\1/p' "$tmp/$name.log")
	wrote=$(sed -n 's/^writer: \([0-9]*\) packets.*/\1/p' "$tmp/$name.log")
	lost=$(sed -n 's/.*; lost \([0-9]*\) packets.*/\1/p' "$tmp/$name.log")
	[ -n "$sent" ] && [ -n "$wrote" ] && [ -n "$lost" ] ||
		fail "no summary lines from capture"

	# One line per packet; -nn: no name lookups.
	tcpdump -nn -r "$pcap" >"$tmp/$name.txt" 2>"$tmp/$name.err" ||
		fail "tcpdump -r exited with status $?: $(cat "$tmp/$name.err")"
	read=$(wc -l <"$tmp/$name.txt")
	udp=$(grep -c "$udp_line" "$tmp/$name.txt" || true)
	tcpdump -nn -v -r "$pcap" 2>/dev/null >"$tmp/$name.v.txt" ||
		fail "tcpdump -v -r exited with status $?"
	bad=$(grep -c 'bad cksum' "$tmp/$name.v.txt" || true)
	echo "tcpdump read $read packets ($udp decoded as UDP/IPv4," \
		"$bad bad IP checksums); sent $sent = wrote $wrote + lost $lost?"

	[ "$read" -eq "$wrote" ] ||
		fail "tcpdump read $read packets, the writer wrote $wrote"
	[ "$udp" -eq "$wrote" ] || fail "only $udp of $wrote decoded as UDP"
	[ "$bad" -eq 0 ] || fail "$bad packets with bad IP header checksums"
	[ $((wrote + lost)) -eq "$sent" ] ||
		fail "written $wrote + lost $lost != sent $sent"
	for d in "$tmp"/capture.*; do
		[ ! -e "$d" ] || fail "the ring's directory $d was left behind"
	done
}

# 20000 packets (7 MB) fit in a 16 MiB ring: nothing can be lost.
check plain --count 20000 --rate 200000 --ring 16
[ "$lost" -eq 0 ] || fail "lost $lost packets from a ring that holds all"
# 50000 packets flat out through a 1 MiB ring (about 2700 packets) to a
# writer that sleeps 100 us a packet: drops are certain, and each one
# must be accounted for.
check drops --count 50000 --rate 0 --ring 1 --slow 100
[ "$lost" -gt 0 ] || fail "the slow writer lost nothing"
echo "capture_test: OK"
