"""Durability of the shell pipe: mring write syncs at the end of input,
--sync-every syncs on the way (by size, and by time even while the input
is idle), --no-sync does not; read --consumer makes its position durable
the same way. What a sync did is seen in the ring's `synced` position
(mring_inspect, through info --json), which only mring_sync() moves."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, contains, expect, test, main,  # noqa
                       create, sh, wait_for, MRING)


def info(path):
    return json.loads(mring("info", path, "--json").stdout)


@test
def write_syncs_at_end_of_input():
    path = create("end.r", "--size", "1M")
    sh('seq 1 100000 | "$MRING" write "$T/end.r"')
    i = info(path)
    expect(i["head"] == 588895, i)
    expect(i["synced"] == i["head"], "everything synced: %r" % i)
    contains(mring("info", path).stdout, "(0 B not yet synced)")


@test
def records_write_syncs_at_end_of_input():
    path = create("rend.r", "--size", "1M", "--records")
    sh('seq 1 1000 | "$MRING" write "$T/rend.r" --records')
    i = info(path)
    expect(i["head"] > 0 and i["synced"] == i["head"], i)


@test
def no_sync_leaves_it_unsynced():
    path = create("nosync.r", "--size", "1M")
    sh('seq 1 100000 | "$MRING" write "$T/nosync.r" --no-sync')
    i = info(path)
    expect(i["head"] == 588895 and i["synced"] == 0, i)
    contains(mring("info", path).stdout, "575.1 KiB not yet synced")


def feeder(*args):
    """A writer whose stdin the test drives."""
    return subprocess.Popen([MRING, "write"] + list(args),
                            stdin=subprocess.PIPE)


def finish(w):
    w.stdin.close()
    expect(w.wait(60) == 0, "the writer exited cleanly")


@test
def sync_every_size_mid_stream():
    path = create("size.r", "--size", "1M")
    w = feeder(path, "--sync-every", "64K")
    try:
        w.stdin.write(b"s" * 200000)
        w.stdin.flush()
        # The writer still runs, its input open: only --sync-every can
        # have moved synced.
        wait_for(lambda: info(path)["synced"] >= 65536,
                 "synced to reach 64 KiB mid-stream", timeout=60)
        expect(w.poll() is None, "the writer is still running")
    finally:
        finish(w)
    i = info(path)
    expect(i["head"] == 200000 and i["synced"] == 200000, i)


@test
def sync_every_duration_while_input_is_idle():
    # 1000 bytes, then nothing: no more data comes to trigger a sync, so
    # only the timer can make them durable while stdin stays open.
    for name, args, data in (("dur.r", [], b"d" * 1000),
                             ("rdur.r", ["--records"], b"a\nbb\nccc\n")):
        path = create(name, "--size", "1M", *args)
        w = feeder(path, "--sync-every", "100ms", *args)
        try:
            w.stdin.write(data)
            w.stdin.flush()
            wait_for(lambda: info(path)["head"] > 0, "the data to arrive",
                     timeout=60)
            wait_for(lambda: info(path)["synced"] == info(path)["head"],
                     "synced to catch up with an idle input", timeout=60)
            expect(w.poll() is None, "the writer is still running")
        finally:
            finish(w)


@test
def read_consumer_syncs_its_position():
    path = create("rc.r", "--size", "1M")
    mring("consumer", "add", path, "c", "--from", "oldest")
    mring("consumer", "add", path, "n", "--from", "oldest")
    mring("write", path, "--no-sync", input="x" * 5000)
    expect(info(path)["synced"] == 0, "nothing synced yet")
    # --no-sync: the reader does not sync either.
    expect(len(mring("read", path, "-c", "n", "--no-sync").stdout) == 5000,
           "read all")
    expect(info(path)["synced"] == 0, "read --no-sync did not sync")
    # By default it does, at the end: the control block with its
    # position reaches the disk (and synced moves to the head with it).
    expect(len(mring("read", path, "-c", "c").stdout) == 5000, "read all")
    i = info(path)
    expect(i["synced"] == 5000, i)
    pos = {c["name"]: c["position"] for c in i["consumers"]}
    expect(pos == {"c": 5000, "n": 5000}, pos)


@test
def read_sync_every_mid_stream():
    path = create("rse.r", "--size", "1M")
    mring("consumer", "add", path, "c", "--from", "oldest")
    w = feeder(path, "--no-sync")
    r = subprocess.Popen([MRING, "read", path, "-c", "c", "--follow",
                          "--sync-every", "16K"], stdout=subprocess.DEVNULL)
    try:
        w.stdin.write(b"r" * 100000)
        w.stdin.flush()
        # Neither the writer (--no-sync) nor the end of the reader: only
        # the reader's --sync-every syncs while both run.
        wait_for(lambda: info(path)["synced"] >= 16384,
                 "the reader to sync mid-stream", timeout=60)
        expect(w.poll() is None and r.poll() is None, "both still run")
    finally:
        finish(w)
        expect(r.wait(60) == 0, "the reader exited cleanly")


@test
def usage_errors():
    path = create("u.r", "--size", "1M")
    for bad, why in (("0", "above 0"), ("0s", "a duration"),
                     ("1x", "unknown unit"), ("-1s", "a size")):
        p = mring("write", path, "--sync-every", bad, rc=2, input="")
        contains(p.stderr, "--sync-every", why)
    p = mring("write", path, "--no-sync", "--sync-every", "1s", rc=2,
              input="")
    contains(p.stderr, "do not go together")
    p = mring("read", path, "--sync-every", "1s", rc=2)
    contains(p.stderr, "go with --consumer")
    p = mring("read", path, "--no-sync", rc=2)
    contains(p.stderr, "go with --consumer")
    contains(mring("write", "--help").stdout, "--sync-every", "--no-sync")
    contains(mring("read", "--help").stdout, "--sync-every", "--no-sync")


main()
