#!/bin/sh
# Smoke test of the flight-recorder example: run it, ask for two dumps
# (SIGUSR1), end it (SIGTERM), and check both dumps with its --verify mode:
# only records of the last --last seconds before each signal, in order,
# intact, none missing that the dump did not report lost. The second dump
# must hold newer records than the first: the recorder carried on.
#
# usage: flight_recorder_test.sh PATH/TO/flight-recorder
set -eu
fr=$1
pid=

fail()
{
	echo "flight_recorder_test: FAILED: $*" >&2
	[ ! -f "$tmp/log" ] || cat "$tmp/log" >&2
	exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/flight_recorder_test.XXXXXX")
trap '[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

# wait_for PATTERN: until the recorder's output has a line matching it.
wait_for()
{
	i=0
	until grep -q "$1" "$tmp/log"; do
		kill -0 "$pid" 2>/dev/null || fail "the recorder died"
		i=$((i + 1))
		[ "$i" -le 600 ] || fail "no '$1' from the recorder in 60 s"
		sleep 0.1
	done
}

# A 2 MiB ring holds about 1.4 s of records at this rate: it has lapped
# by the first dump, and still holds records older than the last second.
"$fr" --size 2M --rate 20000 --last 1 --output "$tmp/dump" --dir "$tmp" \
	>"$tmp/log" 2>&1 &
pid=$!
wait_for '^flight-recorder: recording'
sleep 2 # so that the ring holds more than the last second
kill -USR1 "$pid"
wait_for '^dump 1:'
mv "$tmp/dump" "$tmp/dump1"
sleep 0.5
kill -USR1 "$pid"
wait_for '^dump 2:'
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] || fail "the recorder exited with status $status"
cat "$tmp/log"
for d in "$tmp"/flight-recorder.*; do
	[ ! -e "$d" ] || fail "the ring's directory $d was left behind"
done

"$fr" --verify "$tmp/dump1" || fail "dump 1 does not verify"
"$fr" --verify "$tmp/dump" || fail "dump 2 does not verify"
last1=$(grep -v '^#' "$tmp/dump1" | tail -n 1 | cut -d ' ' -f 1)
last2=$(grep -v '^#' "$tmp/dump" | tail -n 1 | cut -d ' ' -f 1)
[ "$last2" -gt "$last1" ] ||
	fail "dump 2 ends at record $last2, not after dump 1's $last1"

# And --verify must not be a rubber stamp: a damaged record, two records
# swapped and a missing end line must each fail it.
sed '3s/sensor/Sensor/' "$tmp/dump1" >"$tmp/bad.damaged"
sed '3{h;d};4G' "$tmp/dump1" >"$tmp/bad.swapped"
sed '$d' "$tmp/dump1" >"$tmp/bad.truncated"
for bad in damaged swapped truncated; do
	if "$fr" --verify "$tmp/bad.$bad" 2>"$tmp/verify.err"; then
		fail "--verify accepted a $bad dump"
	fi
	echo "--verify on a $bad dump: $(cat "$tmp/verify.err")"
done
echo "flight_recorder_test: OK"
