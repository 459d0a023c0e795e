"""mring consumers / mring consumer add|rm: listing, the warning about a
dead durable consumer holding a back-pressure ring, removal and its
refusals."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, tmp, contains, expect, test, main,  # noqa
                       create, wait_for, MRING)


def consumers(path):
    return json.loads(mring("info", path, "--json").stdout)["consumers"]


@test
def list_add_remove():
    path = create("c.r", "--size", "1M")
    out = mring("consumers", path).stdout
    contains(out, "0 of 32 consumer slots", "(no consumers)")
    mring("write", path, input="x" * 1000)
    contains(mring("consumer", "add", path, "old", "--from", "oldest").stdout,
             "consumer 'old' at position 0")
    contains(mring("consumer", "add", path, "new").stdout,
             "consumer 'new' at position 1000")
    out = mring("consumers", path).stdout
    contains(out, "2 of 32", "old", "new", "1000 B", "dead")
    # Dead durable consumers in a back-pressure ring: say what it means.
    contains(out, "'old' is not attached", "holds the producer back",
             "mring consumer rm %s old" % path)
    contains(mring("consumer", "rm", path, "old").stdout,
             "removed consumer 'old'")
    names = [c["name"] for c in consumers(path)]
    expect(names == ["new"], names)
    # Re-adding an existing name keeps its position.
    contains(mring("consumer", "add", path, "new", "--from", "oldest").stdout,
             "consumer 'new' exists, at position 1000 (kept)")
    expect(consumers(path)[0]["position"] == 1000, consumers(path))


@test
def add_does_not_open():
    # consumer add registers through mring_consumer_add: a slot in the
    # control block, no window mapped, nothing read ahead -- a fresh
    # sparse ring gets no page cache of zeros, and no process opened it.
    path = create("sparse.r", "--size", "256M")
    contains(mring("consumer", "add", path, "later").stdout,
             "consumer 'later' at position 0")
    i = json.loads(mring("info", path, "--json").stdout)
    (c,) = i["consumers"]
    expect(c["name"] == "later" and c["pid"] == 0 and not c["alive"], c)
    expect(i["cache_bytes"] in (0, None), i)
    contains(mring("consumers", path).stdout,
             "'later' is not attached (never opened)")
    # It holds its place: what is written next is kept for it.
    mring("write", path, input="kept\n")
    expect(mring("read", path, "-c", "later").stdout == "kept\n", "read")


@test
def consumers_json():
    path = create("cj.r", "--size", "1M")
    j = json.loads(mring("consumers", path, "--json").stdout)
    expect(j == {"file": path, "policy": "back-pressure",
                 "max_consumers": 32, "consumers": []}, j)
    mring("write", path, input="x" * 1000)
    mring("consumer", "add", path, "old", "--from", "oldest")
    mring("consumer", "add", path, 'q"uote')
    j = json.loads(mring("consumers", path, "--json").stdout)
    got = {c["name"]: (c["position"], c["lag"], c["durable"], c["alive"])
           for c in j["consumers"]}
    expect(got == {"old": (0, 1000, True, False),
                   'q"uote': (1000, 0, True, False)}, j)
    # The same objects as info --json's list.
    expect(j["consumers"] == consumers(path), j)
    for c in j["consumers"]:
        expect(set(c) == {"name", "durable", "position", "lag", "lag_ratio",
                          "lapped", "alive", "pid", "blocking"}, c)


@test
def overwrite_ring_no_warning():
    path = create("o.r", "--size", "1M", "--overwrite")
    mring("consumer", "add", path, "x")
    out = mring("consumers", path).stdout
    contains(out, "overwrite mode", "x")
    expect("holds the producer back" not in out, out)


@test
def remove_refusals():
    path = create("busy.r", "--size", "1M")
    p = mring("consumer", "rm", path, "ghost", rc=1)
    contains(p.stderr, "no durable consumer named 'ghost'")
    r = subprocess.Popen([MRING, "read", path, "-c", "live", "-f"],
                         stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: consumers(path) and consumers(path)[0]["alive"],
                 "the reader to attach")
        p = mring("consumer", "rm", path, "live", rc=1)
        contains(p.stderr, "consumer 'live' is attached in a live process "
                 "(pid %d)" % r.pid)
        contains(mring("consumers", path).stdout, "live", "alive",
                 str(r.pid))
    finally:
        r.terminate()
        r.wait(30)
    mring("consumer", "rm", path, "live")
    expect(consumers(path) == [], consumers(path))


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


@test
def skip_damage():
    path = create("dmg.r", "--size", "1M", "--records", "--crc")
    mring("consumer", "add", path, "x", "--from", "oldest")
    mring("write", path, "--records",
          input="".join("line %05d\n" % i for i in range(1000)))
    i = json.loads(mring("info", path, "--json").stdout)
    # Record 10's payload: each record is a 16-byte header and 16 bytes.
    flip(path, i["data_offset"] + (i["tail"] + 10 * 32) % i["capacity"] + 16)
    p = mring("read", path, "-c", "x", rc=1)
    expect(p.stdout == "".join("line %05d\n" % k for k in range(10)),
           p.stdout)
    contains(p.stderr, "corrupt record at position 320",
             "'mring consumer skip %s x' moves this consumer past it"
             % path)
    # It stays stopped there...
    mring("read", path, "-c", "x", rc=1)
    p = mring("consumer", "skip", path, "x")
    contains(p.stdout, "consumer 'x' skipped 1 damaged record (32 B, from "
             "pos:320); it goes on at pos:352")
    # ... and after the skip reads on from the next record.
    out = mring("read", path, "-c", "x").stdout
    expect(out == "".join("line %05d\n" % k for k in range(11, 1000)),
           out[:40])
    p = mring("consumer", "skip", path, "x", rc=1)
    contains(p.stderr, "not stopped by damage", "nothing skipped")
    p = mring("consumer", "skip", path, "y", rc=1)
    contains(p.stderr, "no durable consumer named 'y'")
    expect([c["name"] for c in consumers(path)] == ["x"], "y not added")
    b = create("dmgb.r", "--size", "1M")
    mring("consumer", "add", b, "x")
    p = mring("consumer", "skip", b, "x", rc=2)
    contains(p.stderr, "byte ring carries no checks")


@test
def usage_and_file_errors():
    path = create("u.r", "--size", "1M")
    p = mring("consumer", "add", path, "x" * 32, rc=2)
    contains(p.stderr, "1 to 31 bytes")
    p = mring("consumer", "frob", path, "x", rc=2)
    contains(p.stderr, "unknown action 'frob' (add, rm or skip)")
    p = mring("consumer", "rm", path, rc=2)
    contains(p.stderr, "missing FILE and NAME")
    p = mring("consumer", "add", path, "x", "--from", "middle", rc=2)
    contains(p.stderr, "--from middle")
    p = mring("consumers", tmp("nope.r"), rc=2)
    contains(p.stderr, "nope.r: no such file")
    p = mring("consumer", "rm", tmp("nope.r"), "x", rc=2)
    contains(p.stderr, "nope.r: no such file")
    os.mkdir(tmp("d.r"))
    p = mring("consumer", "rm", tmp("d.r"), "x", rc=2)
    contains(p.stderr, "is a directory")
    os.chmod(path, 0o444)
    p = mring("consumer", "add", path, "x", rc=2, user=True)
    contains(p.stderr, "Permission denied")


main()
