"""mring read --from oldest|newest|seq:N|time:TIME|pos:N and --show
seq,time,pos: seeking a ring that wrapped many times by time, record
number and position, what --show prints fed back to --from, a durable
consumer's --from stored, and the errors and notes."""
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, tmp, contains, expect, test, main,  # noqa
                       create)

# 20,000 records of at most 5 digits: 32 bytes each with the header and
# the stamp, 625 KiB through a 64 KiB ring: ten laps.
N = 20000


def info(path):
    return json.loads(mring("info", path, "--json").stdout)


def lines(p):
    """[(fields..., payload)] of read --show output."""
    return [tuple(l.split("\t")) for l in p.stdout.splitlines()]


_RING = None


def lapped_ring():
    """A timestamped record ring that wrapped ten times, and what an
    observer reads from it with --show seq,time,pos."""
    global _RING
    if _RING is None:
        path = create("laps.r", "--size", "64K", "--records",
                      "--timestamps")
        mring("write", path, "--records",
              input="".join("%d\n" % i for i in range(N)))
        i = info(path)
        expect(i["head"] >= 9 * i["capacity"] and i["tail"] > 0, i)
        got = lines(mring("read", path, "--show", "seq,time,pos"))
        _RING = (path, got)
    return _RING


@test
def show_fields():
    path, got = lapped_ring()
    # Only the last lap is left; numbers are consecutive and each record
    # is the line written as number seq.
    expect(len(got) > 1000, len(got))
    first = int(got[0][0][4:])
    expect(first > 0 and got[-1][0] == "seq:%d" % (N - 1), got[-1])
    for k, (seq, tm, pos, payload) in enumerate(got):
        expect(seq == "seq:%d" % (first + k) and payload == str(first + k),
               got[k])
        expect(tm.startswith("time:") and tm.endswith("Z"), tm)
        expect(pos.startswith("pos:"), pos)
    # Positions grow by the record's size; the oldest is at the tail.
    expect(int(got[0][2][4:]) == info(path)["tail"], (got[0], info(path)))
    # Fields in the order asked, each once.
    one = lines(mring("read", path, "--show", "pos,seq", "--show", "seq"))
    expect(one[0] == (got[0][2], got[0][0], got[0][3]), one[0])


@test
def seek_by_time_after_laps():
    path, got = lapped_ring()
    # A record in the middle whose stamp is later than the one before it
    # (stamps never go down; two records may share one).
    k = next(k for k in range(len(got) // 2, len(got))
             if got[k][1] != got[k - 1][1])
    t = got[k][1]
    out = lines(mring("read", path, "--from", t, "--show", "seq"))
    expect(out == [(g[0], g[3]) for g in got[k:]],
           "from %s: %s..., expected %s..." % (t, out[:2], got[k:k + 2]))
    # The same instant written with an offset, and in nanoseconds.
    stamp = t[5:-1]  # 2026-12-02T08:18:21.905134856
    whole, frac = stamp.split(".")
    dt = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    east = (dt + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    epoch = datetime.datetime(1970, 1, 1)
    ns = int((dt - epoch).total_seconds()) * 10**9 + int(frac)
    for alt in ("time:%s.%s+01:00" % (east, frac), "time:@%d" % ns):
        p = mring("read", path, "--from", alt, "--show", "seq")
        expect(lines(p)[0] == (got[k][0], got[k][3]), (alt, lines(p)[:1]))
    # Earlier than the oldest record left: those were overwritten; it
    # starts at the oldest, and says so.
    p = mring("read", path, "--from", "time:2000-01-01T00:00:00Z",
              "--show", "seq")
    expect(lines(p)[0] == (got[0][0], got[0][3]), lines(p)[:1])
    contains(p.stderr, "records written then were overwritten",
             "reading from the oldest record instead (%s" % got[0][0])
    # Later than the newest: nothing yet.
    p = mring("read", path, "--from", "time:2500-01-01T00:00:00.5+01:00")
    expect(p.stdout == "", p.stdout)
    contains(p.stderr, "(2499-12-31T23:00:00.500000000Z)",
             "no record was written that late yet")


@test
def time_forms():
    path, _ = lapped_ring()

    def parsed(t, env=None):
        p = mring("read", path, "--from", "time:" + t, env=env)
        return p.stderr.split("(")[1].split(")")[0]

    expect(parsed("2400-03-04T05:06:07Z") ==
           "2400-03-04T05:06:07.000000000Z", "Z")
    expect(parsed("2400-03-04t05:06:07.123z") ==
           "2400-03-04T05:06:07.123000000Z", "lower case, fraction")
    expect(parsed("2400-03-04T05:06-0130") ==
           "2400-03-04T06:36:00.000000000Z", "-HHMM, no seconds")
    expect(parsed("2400-03-04T05:06:07,5+02") ==
           "2400-03-04T03:06:07.500000000Z", "comma, +HH")
    # No zone: local time.
    env = dict(os.environ, TZ="UTC-2")
    expect(parsed("2400-03-04 05:06", env) ==
           "2400-03-04T03:06:00.000000000Z", "local time")
    expect(parsed("2400-03-04", env) ==
           "2400-03-03T22:00:00.000000000Z", "date only, local")
    for bad in ("yesterday", "2400-02-30T00:00:00Z", "2400-13-01",
                "2400-03-04T25:00Z", "2400-03-04T05:06:07.1234567890Z",
                "2400-03-04T05:06:07Zjunk", "@", "@12x",
                "@99999999999999999999"):
        p = mring("read", path, "--from", "time:" + bad, rc=2)
        contains(p.stderr, "--from time:" + bad + ":")
    p = mring("read", path, "--from", "time:1960-01-01T00:00:00Z", rc=2)
    contains(p.stderr, "out of range")


@test
def seek_by_seq_and_pos():
    path, got = lapped_ring()
    k = len(got) // 3
    seq, _, pos, _ = got[k]
    for where in (seq, pos):
        out = lines(mring("read", path, "--from", where, "--show", "seq"))
        expect(out == [(g[0], g[3]) for g in got[k:]], (where, out[:2]))
    # A position inside a record: the next record.
    p = "pos:%d" % (int(pos[4:]) + 1)
    out = lines(mring("read", path, "--from", p, "--show", "seq"))
    expect(out[0] == (got[k + 1][0], got[k + 1][3]), (p, out[:1]))
    # Gone: the oldest, with a note.
    for where in ("seq:5", "pos:0"):
        p = mring("read", path, "--from", where, "--show", "seq")
        expect(lines(p)[0] == (got[0][0], got[0][3]), lines(p)[:1])
        contains(p.stderr, "--from %s: no longer in the ring" % where,
                 "reading from the oldest record instead (%s, %s)"
                 % (got[0][0], got[0][2]))
    # The next record to be written: nothing yet, no complaint.
    p = mring("read", path, "--from", "seq:%d" % N)
    expect(p.stdout == "" and p.stderr == "", p)
    p = mring("read", path, "--from", "seq:%d" % (N + 1), rc=1)
    contains(p.stderr, "--from seq:%d: there is no record" % (N + 1))
    head = info(path)["head"]
    p = mring("read", path, "--from", "pos:%d" % (head + 1), rc=1)
    contains(p.stderr, "beyond the end of the stream",
             "is pos:%d" % head)
    # oldest and newest.
    out = lines(mring("read", path, "--from", "oldest", "--show", "seq"))
    expect(out[0] == (got[0][0], got[0][3]), out[:1])
    expect(mring("read", path, "--from", "newest").stdout == "", "newest")


@test
def byte_ring_positions():
    path = create("bytes.r", "--size", "64K")
    data = "".join("%05d\n" % i for i in range(30000))  # 180 KB: wraps
    mring("write", path, input=data)
    i = info(path)
    tail, head = i["tail"], i["head"]
    expect(tail > 0, i)
    out = mring("read", path, "--from", "pos:%d" % (tail + 600)).stdout
    expect(out == data[tail + 600:], len(out))
    p = mring("read", path, "--from", "pos:%d" % (tail - 1))
    expect(p.stdout == data[tail:], len(p.stdout))
    contains(p.stderr, "no longer in the ring",
             "the oldest data instead (pos:%d)" % tail)
    for args in (["--from", "seq:1"], ["--from", "time:@1"],
                 ["--show", "pos"]):
        p = mring("read", path, *args, rc=2)
        contains(p.stderr, "this is a byte ring", "--from pos:N")


@test
def no_timestamps():
    path = create("nots.r", "--size", "64K", "--records")
    mring("write", path, "--records", input="a\nb\nc\n")
    for args in (["--from", "time:@0"], ["--show", "seq,time"]):
        p = mring("read", path, *args, rc=2)
        contains(p.stderr, "carry no time", "--timestamps", "--from seq:N")
    # Records of 1 byte take 24: a 16-byte header, 8-byte alignment.
    p = mring("read", path, "--from", "seq:1", "--show", "seq,pos")
    expect(p.stdout == "seq:1\tpos:24\tb\nseq:2\tpos:48\tc\n", p.stdout)


@test
def durable_consumer_from_is_stored():
    path = create("dur.r", "--size", "64K", "--records", "--timestamps")
    mring("write", path, "--records",
          input="".join("%d\n" % i for i in range(100)))
    # A new consumer starts at the record asked for...
    out = mring("read", path, "-c", "c", "--from", "seq:90").stdout
    expect(out == "".join("%d\n" % i for i in range(90, 100)), out)
    mring("write", path, "--records", input="100\n101\n")
    # ... and resumes where it stopped, without --from.
    expect(mring("read", path, "-c", "c").stdout == "100\n101\n", "resume")
    # --from moves an existing consumer back, by number and by time.
    p = mring("read", path, "-c", "c", "--from", "seq:50", "--show", "seq")
    expect(lines(p)[0] == ("seq:50", "50") and len(lines(p)) == 52,
           lines(p)[:2])
    t = lines(mring("read", path, "--from", "seq:70",
                    "--show", "time"))[0][0]
    out = mring("read", path, "-c", "c", "--from", t).stdout
    expect(out.splitlines()[0] == "70" and out.endswith("101\n"), out)
    mring("write", path, "--records", input="102\n")
    expect(mring("read", path, "-c", "c").stdout == "102\n", "resume 2")
    # and to the oldest data or the newest: the consumer had a stored
    # position, which no longer wins over an explicit --from.
    out = mring("read", path, "-c", "c", "--from", "oldest").stdout
    expect(out.splitlines()[0] == "0" and out.endswith("102\n"), out)
    mring("read", path, "-c", "c", "--from", "seq:3")
    (c,) = info(path)["consumers"]
    expect(c["position"] == info(path)["head"], c)
    # A new consumer whose --from fails is not left registered.
    p = mring("read", path, "-c", "new", "--from", "seq:999", rc=1)
    contains(p.stderr, "there is no record with that number yet")
    expect([c["name"] for c in info(path)["consumers"]] == ["c"],
           info(path)["consumers"])
    # --from newest moves it to the head: only what comes next.
    mring("read", path, "-c", "c", "--from", "newest")
    mring("write", path, "--records", input="103\n")
    expect(mring("read", path, "-c", "c").stdout == "103\n", "newest")


@test
def usage_errors():
    path = create("u.r", "--size", "64K", "--records", "--timestamps")
    for args, want in ((["--from", "middle"], "--from middle: expected"),
                       (["--from", "seq:x"], "--from seq:x: expected a "
                        "number after 'seq:'"),
                       (["--from", "pos:"], "--from pos:: expected"),
                       (["--show", "seq,size"], "'size' is not a field"),
                       (["--show", ","], "--show: expected"),
                       (["--show", "seq", "--raw"], "does not go with"),
                       (["--show", "seq", "--pcap"], "does not go with")):
        p = mring("read", path, *args, rc=2)
        contains(p.stderr, want)


main()
