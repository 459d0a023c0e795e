"""mring stat: rates from successive snapshots, the text table, and the
Prometheus text exposition format checked by a small validator."""
import math
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, tmp, contains, expect, test, main,  # noqa
                       create, matches, RATE, wait_for, MRING)

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
                   r'\s*(,|$)')


def parse_prom(text):
    """Check text against the Prometheus text exposition format 0.0.4 and
    return {(name, frozenset(labels)): value}. Raises on any violation."""
    expect(text.endswith("\n"), "ends with a newline")
    types, helps, samples, seen_families = {}, {}, {}, []
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (n, line)
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                expect(NAME.match(name), "bad metric name " + where)
                if parts[1] == "TYPE":
                    expect(len(parts) == 4 and parts[3] in (
                        "counter", "gauge", "histogram", "summary",
                        "untyped"), "bad TYPE " + where)
                    expect(name not in types, "second TYPE " + where)
                    expect(name not in [s[0] for s in samples],
                           "TYPE after samples " + where)
                    types[name] = parts[3]
                else:
                    expect(name not in helps, "second HELP " + where)
                    helps[name] = parts[3] if len(parts) == 4 else ""
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)"
                     r"(\s+-?\d+)?$", line)
        expect(m, "bad sample " + where)
        name, body, value = m.group(1), m.group(3), m.group(4)
        labels = {}
        rest = body or ""
        while rest:
            lm = LABEL.match(rest)
            expect(lm, "bad labels " + where)
            expect(lm.group(1) not in labels, "repeated label " + where)
            labels[lm.group(1)] = lm.group(2)
            rest = rest[lm.end():]
        if value not in ("+Inf", "-Inf", "NaN"):
            v = float(value)
            expect(math.isfinite(v), "value " + where)
        else:
            v = float(value.replace("Inf", "inf"))
        # A family's samples are contiguous, after its HELP and TYPE.
        if not seen_families or seen_families[-1] != name:
            expect(name not in seen_families, "family split " + where)
            seen_families.append(name)
        expect(name in types and name in helps, "no HELP/TYPE " + where)
        key = (name, frozenset(labels.items()))
        expect(key not in samples, "duplicate series " + where)
        samples[key] = v
    return samples


def get(samples, name, **labels):
    for (n, ls), v in samples.items():
        if n == name and all((k, val) in ls for k, val in labels.items()):
            return v
    raise AssertionError("no sample %s %s" % (name, labels))


@test
def validator_rejects_bad_text():
    for bad in ["mring_x 1\n", "# TYPE m gauge\n# HELP m h\nm{a=\"1} 1\n",
                "# TYPE m foo\n", "# TYPE m gauge\n# HELP m h\nm 1\nm 2\n"]:
        try:
            parse_prom(bad)
        except AssertionError:
            continue
        raise AssertionError("validator accepted %r" % bad)


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


def prom_reports(f):
    """Parse each report that stat --prom --count streams to f."""
    text = ""
    for line in f:
        if line.startswith("# HELP mring_capacity_bytes ") and text:
            yield parse_prom(text)
            text = ""
        text += line
    if text:
        yield parse_prom(text)


@test
def rate_follows_the_head():
    # Whether a report shows a rate must follow from the head alone, not
    # from how fast this machine writes: reports stream out, data is
    # written only once the first is out, and every report must show a
    # positive rate exactly when the head moved since the one before.
    path = create("rf.r", "--size", "16M")
    w = subprocess.Popen([MRING, "write", path], stdin=subprocess.PIPE)
    st = subprocess.Popen([MRING, "stat", path, "--prom", "--interval",
                           "0.05", "--count", "2000"],
                          stdout=subprocess.PIPE, text=True)
    try:
        reports = prom_reports(st.stdout)
        prev = next(reports)
        expect(get(prev, "mring_head_bytes") == 0, prev)
        expect(get(prev, "mring_produce_rate_bytes_per_second") == 0, prev)
        w.stdin.write(b"z" * 65536)
        w.stdin.close()
        expect(w.wait(60) == 0, "the writer exited cleanly")
        moved = 0
        for s in reports:
            head = get(s, "mring_head_bytes")
            before = get(prev, "mring_head_bytes")
            rate = get(s, "mring_produce_rate_bytes_per_second")
            expect((rate > 0) == (head > before),
                   "rate %r with the head from %d to %d" % (rate, before,
                                                             head))
            moved += head > before
            prev = s
            if head == 65536:
                break
        else:
            raise AssertionError("no report showed the head at 65536")
        expect(moved > 0, "the head moved")
    finally:
        st.kill()
        st.wait(30)
        if w.poll() is None:
            w.kill()
            w.wait(30)


@test
def prom_format_and_values():
    path = create("p.r", "--size", "1M")
    mring("consumer", "add", path, "x", "--from", "oldest")
    mring("consumer", "add", path, 'we"ird\\name', "--from", "oldest")
    mring("write", path, input="y" * 5000)
    mring("read", path, "-c", "x", input="")
    out = mring("stat", path, "--prom", "--interval", "0.1").stdout
    s = parse_prom(out)
    expect(get(s, "mring_head_bytes", ring=path) == 5000, s)
    expect(get(s, "mring_capacity_bytes") == 1 << 20, s)
    expect(get(s, "mring_consumer_lag_bytes", consumer="x") == 0, s)
    expect(get(s, "mring_consumer_lag_bytes",
               consumer='we\\"ird\\\\name') == 5000, s)
    expect(abs(get(s, "mring_consumer_lag_ratio", consumer="x")) < 1e-12, s)
    expect(get(s, "mring_producer_alive") == 0, s)
    expect(get(s, "mring_eof") == 1, s)
    # Page-cache residency, when the kernel can tell (else no sample).
    if '"cached_bytes":null' not in mring("info", path, "--json").stdout:
        expect(0 < get(s, "mring_page_cache_bytes", ring=path) <= 1 << 20,
               s)
    contains(out, "# HELP mring_head_bytes", "# TYPE mring_head_bytes")


@test
def watch_count_and_output_file():
    path = create("w.r", "--size", "1M")
    out = mring("stat", path, "--watch", "0.1", "--count", "3").stdout
    expect(out.count("produced") == 3, out)
    prom = tmp("m.prom")
    mring("stat", path, "--prom", "--watch", "0.1", "--count", "2",
          "--output", prom)
    with open(prom) as f:
        parse_prom(f.read())
    expect(not os.path.exists(prom + ".tmp"), "temporary file renamed")


@test
def errors():
    path = create("e.r", "--size", "1M")
    p = mring("stat", path, "--prom", "--watch", "1", rc=2)
    contains(p.stderr, "needs --output")
    p = mring("stat", path, "--watch", "0", rc=2)
    contains(p.stderr, "--watch 0")
    p = mring("stat", path, "--output", "x", rc=2)
    contains(p.stderr, "--output goes with --prom")
    p = mring("stat", tmp("none.r"), rc=2)
    contains(p.stderr, "none.r: no such file")
    with open(tmp("t"), "w") as f:
        f.write("text")
    p = mring("stat", tmp("t"), rc=2)
    contains(p.stderr, "bad magic number")


main()
