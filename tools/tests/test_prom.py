"""mring stat --prom: every exposition passes `promtool check metrics`
(Prometheus's own parser and linter: the format, HELP and TYPE, counters
ending in _total, base units), and its values follow the ring. Needs
promtool (Debian package prometheus, in tools/deps.sh): without it the
whole group is skipped (77), never passed."""
import json
import os
import re
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, tmp, contains, expect, test, main,  # noqa
                       create, wait_for, MRING)

PROMTOOL = shutil.which("promtool")
if not PROMTOOL:
    print("SKIP: promtool not found (Debian package prometheus, see "
          "tools/deps.sh)")
    sys.exit(77)


def promtool_check(text):
    """promtool check metrics must accept text with nothing to say."""
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    expect(p.returncode == 0 and not p.stdout.strip()
           and not p.stderr.strip(),
           "promtool check metrics (exit %d):\n%s%s\non:\n%s"
           % (p.returncode, p.stdout, p.stderr, text))


SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition that promtool
    accepted (label values as written, escapes kept)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        expect(m, "sample line %r" % line)
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def checked(text):
    promtool_check(text)
    return samples(text)


def get(s, name, **labels):
    for (n, ls), v in s.items():
        if n == name and all((k, val) in ls for k, val in labels.items()):
            return v
    raise AssertionError("no sample %s %s in %s" % (name, labels, s))


@test
def promtool_rejects_bad_text():
    # The checker is live: a counter without _total and a broken line fail.
    for bad in ("# HELP m_bytes h\n# TYPE m_bytes counter\nm_bytes 1\n",
                "# HELP m h\n# TYPE m gauge\nm{a=\"1} 1\n"):
        try:
            promtool_check(bad)
        except AssertionError:
            continue
        raise AssertionError("promtool accepted %r" % bad)


@test
def prom_format_and_values():
    path = create("p.r", "--size", "1M")
    mring("consumer", "add", path, "x", "--from", "oldest")
    mring("consumer", "add", path, 'we"ird\\name', "--from", "oldest")
    mring("write", path, input="y" * 5000)
    mring("read", path, "-c", "x", input="")
    out = mring("stat", path, "--prom", "--interval", "0.1").stdout
    s = checked(out)
    expect(get(s, "mring_head_bytes_total", ring=path) == 5000, s)
    expect(get(s, "mring_synced_bytes_total", ring=path) == 5000, s)
    expect(get(s, "mring_capacity_bytes") == 1 << 20, s)
    expect(get(s, "mring_max_consumers") == 32, s)
    expect(get(s, "mring_consumer_position_bytes_total", consumer="x")
           == 5000, s)
    expect(get(s, "mring_consumer_lag_bytes", consumer="x") == 0, s)
    expect(get(s, "mring_consumer_lag_bytes",
               consumer='we\\"ird\\\\name') == 5000, s)
    expect(abs(get(s, "mring_consumer_lag_ratio", consumer='we\\"ird\\\\name')
               - 5000 / (1 << 20)) < 1e-9, s)
    expect(get(s, "mring_producer_alive") == 0, s)
    expect(get(s, "mring_producer_blocked") == 0, s)
    expect(get(s, "mring_eof") == 1, s)
    # Counters end in _total; and the old names are gone.
    for old in ("mring_head_bytes{", "mring_page_cache_bytes",
                "mring_consumer_slots", "mring_consumer_position_bytes{"):
        expect(old not in out, "old name %s in:\n%s" % (old, out))
    # Page-cache residency, when the kernel can tell (else no sample).
    i = json.loads(mring("info", path, "--json").stdout)
    if i["cache_bytes"] is not None:
        expect(0 <= get(s, "mring_cache_bytes", ring=path) <= 1 << 20, s)


@test
def several_rings_one_exposition():
    # One family per metric, with a sample per ring: promtool refuses a
    # family split in two.
    a = create("pa.r", "--size", "1M")
    b = create("pb.r", "--size", "2M", "--records")
    mring("consumer", "add", a, "c")
    mring("consumer", "add", b, "c")
    mring("write", a, input="a" * 100)
    out = mring("stat", a, b, "--prom", "--interval", "0.1").stdout
    s = checked(out)
    expect(get(s, "mring_head_bytes_total", ring=a) == 100, s)
    expect(get(s, "mring_head_bytes_total", ring=b) == 0, s)
    expect(get(s, "mring_capacity_bytes", ring=b) == 2 << 20, s)
    expect(get(s, "mring_consumer_lag_bytes", ring=a, consumer="c") == 100,
           s)
    expect(get(s, "mring_consumer_lag_bytes", ring=b, consumer="c") == 0, s)
    expect(out.count("# TYPE mring_head_bytes_total counter") == 1, out)


@test
def producer_blocked_by_consumer():
    path = create("pblk.r", "--size", "1M")
    mring("consumer", "add", path, "slow", "--from", "oldest")
    mring("consumer", "add", path, "fast", "--from", "oldest")
    w = subprocess.Popen([MRING, "write", path], stdin=subprocess.PIPE)
    r = subprocess.Popen([MRING, "read", path, "-c", "fast", "-f"],
                         stdout=subprocess.DEVNULL)
    # Two capacities, from a thread: the writer must wait, and so does
    # the pipe to it.
    feed = threading.Thread(target=lambda: (w.stdin.write(b"b" * (2 << 20)),
                                            w.stdin.close()))
    feed.start()
    try:
        def blocked():
            s = checked(mring("stat", path, "--prom", "-i", "0.05").stdout)
            return (get(s, "mring_producer_blocked") == 1 and
                    get(s, "mring_consumer_blocking", consumer="slow") == 1
                    and get(s, "mring_consumer_blocking",
                            consumer="fast") == 0)
        wait_for(blocked, "the producer to be held back by 'slow'",
                 timeout=60)
    finally:
        # Drain 'slow': the writer and its feeder can finish.
        mring("read", path, "-c", "slow", "-f", timeout=120)
        feed.join(60)
        expect(w.wait(60) == 0 and r.wait(60) == 0, "clean exits")


def prom_reports(f):
    """Each report that stat --prom --count streams to f, as text."""
    text = ""
    for line in f:
        if line.startswith("# HELP mring_capacity_bytes ") and text:
            yield text
            text = ""
        text += line
    if text:
        yield text


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
        prev = checked(next(reports))
        expect(get(prev, "mring_head_bytes_total") == 0, prev)
        expect(get(prev, "mring_produce_rate_bytes_per_second") == 0, prev)
        w.stdin.write(b"z" * 65536)
        w.stdin.close()
        expect(w.wait(60) == 0, "the writer exited cleanly")
        moved = 0
        for text in reports:
            s = samples(text)
            head = get(s, "mring_head_bytes_total")
            before = get(prev, "mring_head_bytes_total")
            rate = get(s, "mring_produce_rate_bytes_per_second")
            expect((rate > 0) == (head > before),
                   "rate %r with the head from %d to %d" % (rate, before,
                                                             head))
            moved += head > before
            prev = s
            if head == 65536:
                promtool_check(text)
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
def watch_output_file():
    path = create("w.r", "--size", "1M")
    prom = tmp("m.prom")
    mring("stat", path, "--prom", "--watch", "0.1", "--count", "2",
          "--output", prom)
    with open(prom) as f:
        checked(f.read())
    expect(not os.path.exists(prom + ".tmp"), "temporary file renamed")


main()
