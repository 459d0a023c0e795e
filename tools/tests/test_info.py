"""mring info: text and JSON, consumers with liveness, and every kind of
file that is not a usable ring."""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, tmp, contains, expect, test, main,  # noqa
                       create, wait_for, MRING, Skip)


def info(path):
    return json.loads(mring("info", path, "--json").stdout)


@test
def fresh_ring_text():
    path = create("t.r", "--size", "16M", "--records", "--crc",
                  "--max-record", "4K")
    out = mring("info", path).stdout
    contains(out, "mring format 1", "records, back-pressure, crc",
             "16 MiB (16777216 bytes)", "max record    4 KiB",
             "data offset", "head          0", "tail          0",
             "synced        0", "producer      none yet",
             "eof           no", "0 of 32 slots", "(no consumers)")


@test
def json_after_traffic():
    path = create("j.r", "--size", "1M")
    mring("consumer", "add", path, "late", "--from", "oldest")
    mring("write", path, input=b"x" * 300000)
    mring("read", path, "--consumer", "late", rc=0)
    mring("write", path, input=b"y" * 1000)
    i = info(path)
    for k in ("format_version", "mode", "policy", "capacity", "window",
              "max_record", "data_offset", "head", "tail", "synced",
              "cache_bytes", "producer", "eof", "consumers"):
        expect(k in i, "key %s in %s" % (k, i))
    expect(i["head"] == 301000, i)
    expect(i["eof"] is True, i)
    expect(i["producer"]["pid"] > 0 and i["producer"]["alive"] is False, i)
    (c,) = i["consumers"]
    expect(c["name"] == "late" and c["durable"], c)
    expect(c["position"] == 300000 and c["lag"] == 1000, c)
    expect(abs(c["lag_ratio"] - 1000 / (1 << 20)) < 1e-9, c)
    # Renamed in 0.1 (README, "Renamed keys"): one name per quantity.
    expect("lag_pct" not in c and "cached_bytes" not in i, i)
    expect(c["alive"] is False, c)
    if shutil.which("jq"):
        out = subprocess.run(["jq", "-e", ".consumers[0].name"],
                             input=mring("info", path, "--json").stdout,
                             capture_output=True, text=True)
        expect(out.returncode == 0 and out.stdout.strip() == '"late"',
               out)
    text = mring("info", path).stdout
    contains(text, "late", "dead", "not running",
             "holds the producer back", "mring consumer rm")


@test
def live_observer_and_producer():
    path = create("live.r", "--size", "1M")
    w = subprocess.Popen([MRING, "write", path], stdin=subprocess.PIPE)
    r = subprocess.Popen([MRING, "read", path, "--follow"],
                         stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: info(path)["producer"]["alive"] and
                 len(info(path)["consumers"]) == 1,
                 "the writer and the reader to attach")
        i = info(path)
        expect(i["producer"]["alive"] and i["producer"]["pid"] == w.pid, i)
        (c,) = i["consumers"]
        expect(c["name"] is None and not c["durable"], c)
        expect(c["alive"] and c["pid"] == r.pid, c)
        contains(mring("info", path).stdout, "(observer)", "alive",
                 "pid %d, alive" % w.pid)
    finally:
        w.stdin.close()
        w.wait(30)
        r.wait(30)
    expect(w.returncode == 0 and r.returncode == 0, "clean exits")
    i = info(path)
    expect(i["eof"] and not i["producer"]["alive"], i)
    expect(i["consumers"] == [], "observer slot released")


@test
def page_cache_residency():
    """cache_bytes follows the data region's pages: none in a fresh
    sparse ring, some after writing, fewer once written back and dropped
    (dirty pages stay until they are written, hence the fsync)."""
    path = create("cache.r", "--size", "16M")
    i = info(path)
    if i["cache_bytes"] is None:
        contains(mring("info", path).stdout, "page cache    unknown")
        raise Skip("this kernel cannot report page-cache residency")
    expect(i["cache_bytes"] == 0, i)
    contains(mring("info", path).stdout, "page cache    0 B (0.0% of")
    mring("write", path, input=b"c" * (4 << 20))
    i = info(path)
    full = i["cache_bytes"]
    expect(0 < full <= i["capacity"], i)
    expect(full % os.sysconf("SC_PAGE_SIZE") == 0, i)
    m = re.search(r"page cache    (.*) \(([0-9.]+)% of capacity\)",
                  mring("info", path).stdout)
    expect(m and abs(float(m.group(2)) - 100.0 * full / i["capacity"])
           < 0.1, m)
    fstype = subprocess.run(["stat", "-f", "-c", "%T", path],
                            capture_output=True, text=True).stdout.strip()
    if fstype in ("tmpfs", "ramfs"):
        return  # the pages are the file's storage: nothing is dropped
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    i = info(path)
    expect(i["cache_bytes"] is not None and i["cache_bytes"] <= full // 4,
           "after write-back and DONTNEED: %s of %d" % (i, full))


@test
def page_cache_residency_mincore():
    """Without cachestat (Linux < 6.5, or MRING_NO_CACHESTAT=1) the
    library counts resident pages with mincore: the same figure."""
    path = create("mincore.r", "--size", "16M")
    mring("write", path, input=b"m" * (3 << 20))
    env = dict(os.environ, MRING_NO_CACHESTAT="1")
    slow = json.loads(mring("info", path, "--json", env=env).stdout)
    fast = info(path)
    expect(slow["cache_bytes"] is not None and slow["cache_bytes"] > 0,
           slow)
    if fast["cache_bytes"] is not None:
        expect(slow["cache_bytes"] == fast["cache_bytes"],
               "mincore %s, cachestat %s" % (slow, fast))


@test
def not_a_ring():
    p = mring("info", tmp("missing.r"), rc=2)
    contains(p.stderr, "missing.r: no such file", "mring create")
    os.mkdir(tmp("dir.r"))
    p = mring("info", tmp("dir.r"), rc=2)
    contains(p.stderr, "dir.r: is a directory")
    with open(tmp("text.r"), "w") as f:
        f.write("hello, world\n" * 100)
    p = mring("info", tmp("text.r"), rc=2)
    contains(p.stderr, "text.r: not an mring file (bad magic number)",
             "was it created with 'mring create'?")
    open(tmp("empty.r"), "w").close()
    p = mring("info", tmp("empty.r"), rc=2)
    contains(p.stderr, "bad magic number")


@test
def damaged_rings():
    path = create("trunc.r", "--size", "1M")
    os.truncate(path, 1 << 20)
    p = mring("info", path, rc=2)
    contains(p.stderr, "shorter than its header says", "truncated")
    path = create("sum.r", "--size", "1M")
    with open(path, "r+b") as f:
        f.seek(40)  # the window field, covered by the checksum
        f.write(b"\x01")
    p = mring("info", path, rc=2)
    contains(p.stderr, "checksum mismatch", "damaged")
    path = create("ver.r", "--size", "1M")
    with open(path, "r+b") as f:
        f.seek(8)
        f.write(b"\x09")
    p = mring("info", path, rc=2)
    contains(p.stderr, "unsupported mring format version")


@test
def no_permission():
    path = create("perm.r", "--size", "1M")
    os.chmod(path, 0)
    p = mring("info", path, rc=2, user=True)
    contains(p.stderr, "perm.r: Permission denied")


main()
