"""mring stat: rates from successive snapshots, the text table, --json,
several rings at once, and who holds the producer back. (The Prometheus
output is checked with promtool in test_prom.py.)"""
import json
import os
import re
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, tmp, contains, expect, test, main,  # noqa
                       create, matches, RATE, wait_for, MRING)


@test
def text_rates_while_producing():
    path = create("s.r", "--size", "16M")
    mring("consumer", "add", path, "idle")
    mring("consumer", "rm", path, "idle")
    gen = subprocess.Popen(["yes", "0123456789abcdef"],
                           stdout=subprocess.PIPE)
    w = subprocess.Popen([MRING, "write", path], stdin=gen.stdout)
    gen.stdout.close()
    try:
        wait_for(lambda: '"alive":true' in mring("info", path,
                                                 "--json").stdout,
                 "the writer to attach")
        out = mring("stat", path, "--interval", "0.3").stdout
    finally:
        w.terminate()
        gen.terminate()
        w.wait(30)
        gen.wait(30)
    # The shape of the line. Its figure (MB/s or GB/s, one decimal) is
    # the machine's speed and load: a loaded one may even print 0.0.
    matches(out, re.escape(path) + ": produced " + RATE + ", head ")
    contains(out, "producer alive")


@test
def watch_count():
    path = create("w.r", "--size", "1M")
    out = mring("stat", path, "--watch", "0.1", "--count", "3").stdout
    expect(out.count("produced") == 3, out)


@test
def json_reports():
    path = create("j.r", "--size", "1M")
    mring("consumer", "add", path, "x", "--from", "oldest")
    mring("write", path, input="y" * 5000)
    out = mring("stat", path, "--json", "--watch", "0.1", "--count",
                "2").stdout
    lines = out.splitlines()
    expect(len(lines) == 2, out)  # one object per report, a line each
    for line in lines:
        rep = json.loads(line)
        expect(rep["interval"] > 0, rep)
        (r,) = rep["rings"]
        expect(r["file"] == path and r["head"] == 5000, r)
        expect(r["synced"] == 5000 and r["produce_rate"] == 0, r)
        expect(r["producer"]["blocked_by"] == [], r)
        (c,) = r["consumers"]
        expect(c["name"] == "x" and c["lag"] == 5000, c)
        expect(abs(c["lag_ratio"] - 5000 / (1 << 20)) < 1e-9, c)
        expect(c["rate"] == 0 and c["blocking"] is False, c)
        # The same names as info --json.
        i = json.loads(mring("info", path, "--json").stdout)
        for k in i:
            expect(k in r, "info key %s in stat --json" % k)


@test
def several_rings():
    a = create("ma.r", "--size", "1M")
    b = create("mb.r", "--size", "2M")
    mring("write", a, input="a" * 100)
    out = mring("stat", a, b, "-i", "0.1").stdout
    matches(out, re.escape(a) + ": produced " + RATE + ", head 100 B")
    matches(out, re.escape(b) + ": produced " + RATE + ", head 0 B")
    rep = json.loads(mring("stat", a, b, "--json", "-i", "0.1").stdout)
    expect([r["file"] for r in rep["rings"]] == [a, b], rep)
    expect([r["capacity"] for r in rep["rings"]] == [1 << 20, 2 << 20], rep)
    p = mring("stat", a, tmp("none.r"), rc=2)
    contains(p.stderr, "none.r: no such file")


@test
def producer_blocked_and_by_whom():
    path = create("blk.r", "--size", "1M")
    mring("consumer", "add", path, "slow", "--from", "oldest")
    mring("consumer", "add", path, "fast", "--from", "oldest")
    # Not blocked: nothing written, and no producer.
    r0 = json.loads(mring("stat", path, "--json", "-i", "0.05").stdout)
    expect(r0["rings"][0]["producer"]["blocked_by"] == [], r0)
    w = subprocess.Popen([MRING, "write", path], stdin=subprocess.PIPE)
    r = subprocess.Popen([MRING, "read", path, "-c", "fast", "-f"],
                         stdout=subprocess.DEVNULL)
    # Two capacities, from a thread: the writer must wait for 'slow',
    # and the pipe to it for the writer.
    feed = threading.Thread(target=lambda: (w.stdin.write(b"b" * (2 << 20)),
                                            w.stdin.close()))
    feed.start()
    try:
        def blocked():
            rep = json.loads(mring("stat", path, "--json", "-i",
                                   "0.05").stdout)
            return rep["rings"][0]["producer"]["blocked_by"] == ["slow"]
        wait_for(blocked, "stat to say 'slow' holds the producer back",
                 timeout=60)
        rep = json.loads(mring("stat", path, "--json", "-i", "0.05").stdout)
        cons = {c["name"]: c for c in rep["rings"][0]["consumers"]}
        expect(cons["slow"]["blocking"] and not cons["fast"]["blocking"],
               cons)
        out = mring("stat", path, "-i", "0.05").stdout
        contains(out, "blocked by consumer 'slow'", "less than a max record",
                 "holds the producer back")
        i = json.loads(mring("info", path, "--json").stdout)
        expect(i["producer"]["blocked_by"] == ["slow"], i)
        contains(mring("consumers", path).stdout, "(holds the producer back)")
    finally:
        mring("read", path, "-c", "slow", "-f", timeout=120)
        feed.join(60)
        expect(w.wait(60) == 0 and r.wait(60) == 0, "clean exits")
    # Unblocked once it caught up.
    rep = json.loads(mring("stat", path, "--json", "-i", "0.05").stdout)
    expect(rep["rings"][0]["producer"]["blocked_by"] == [], rep)


@test
def errors():
    path = create("e.r", "--size", "1M")
    p = mring("stat", path, "--prom", "--watch", "1", rc=2)
    contains(p.stderr, "needs --output")
    p = mring("stat", path, "--watch", "0", rc=2)
    contains(p.stderr, "--watch 0")
    p = mring("stat", path, "--output", "x", rc=2)
    contains(p.stderr, "--output goes with --prom")
    p = mring("stat", path, "--json", "--prom", rc=2)
    contains(p.stderr, "not both")
    p = mring("stat", tmp("none.r"), rc=2)
    contains(p.stderr, "none.r: no such file")
    with open(tmp("t"), "w") as f:
        f.write("text")
    p = mring("stat", tmp("t"), rc=2)
    contains(p.stderr, "bad magic number")


main()
