"""Restarts of the publishing bridge: after its duplicate window expired
(the server no longer drops a re-sent record), with a ring position that
went back (as after a power cut before its sync), with SIGKILLs; two
bridges on one ring; a second ring into the same stream."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from natsrig import (Cluster, bridge, check_ring, main, mring,  # noqa
                     spawn, spawn_writer, test, tmp, wait_consumer_open,
                     write_records)

BRIDGE = sys.argv[1]
SRV = None


def server():
    global SRV
    if SRV is None:
        SRV = Cluster(1)
    return SRV


def pub(ring, stream, *extra, rc=0):
    p = bridge("publish", ring, "-s", server().urls, "--stream", stream,
               "--subject", stream.lower() + ".rec", *extra, "--json",
               rc=rc, timeout=120)
    return json.loads(p.stdout) if rc == 0 else p


def sub(ring, stream, *extra):
    p = bridge("subscribe", ring, "-s", server().urls, "--stream", stream,
               "--durable", "far", "--create-ring", "--capacity", "32M",
               "--idle-exit", "2", "--json", *extra, timeout=120)
    return json.loads(p.stdout)


@test
def duplicate_window_expired_and_position_lost():
    src, far = tmp("dw-src"), tmp("dw-far")
    mring("create", src, "--size", "16M", "--records")
    write_records(src, 0, 20000)
    st = pub(src, "DW", "--create-stream", "--dup-window", "1",
             "--count", "20000")
    assert st["acknowledged"] == 20000, st
    # The ring's consumer goes back to the start (a position lost to a
    # power cut); the duplicate window is long gone when it restarts.
    mring("consumer", "rm", src, "nats")
    mring("consumer", "add", src, "nats", "--from", "oldest")
    time.sleep(2.5)
    write_records(src, 20000, 5000)
    st = pub(src, "DW", "--idle-exit", "1")
    # Nothing re-sent: the stream's last message said where to resume.
    assert st["acknowledged"] == 5000 and st["published"] == 5000, st
    st = sub(far, "DW")
    assert st["written"] == 25000 and st["duplicates"] == 0, st
    check_ring(far, 0, 25000)


@test
def sigkill_restarts_beyond_the_window():
    src, far = tmp("sk-src"), tmp("sk-far")
    n = 150000
    mring("create", src, "--size", "4M", "--records")
    mring("consumer", "add", src, "nats", "--from", "oldest")
    w = spawn_writer(src, 0, n, log=tmp("sk-writer.log"), rate=25000)
    args = [BRIDGE, "publish", src, "-s", server().urls, "--stream", "SK",
            "--subject", "sk.rec", "--create-stream", "--dup-window", "1",
            "--window", "8192"]
    for k in range(4):
        p = spawn(args, log=tmp("sk-pub.log"))
        time.sleep(0.7)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        time.sleep(1.2)  # past the duplicate window
    # The last one runs until the writer is done and all is through.
    p = spawn(args + ["--idle-exit", "2"], log=tmp("sk-pub.log"))
    assert w.wait(timeout=200) == 0, ("exit status", w.returncode)
    assert p.wait(timeout=200) == 0, ("exit status", p.returncode)
    st = sub(far, "SK")
    assert st["written"] == n, st
    check_ring(far, 0, n)


@test
def two_bridges_on_one_ring():
    src, far = tmp("two-src"), tmp("two-far")
    n = 60000
    mring("create", src, "--size", "4M", "--records")
    mring("consumer", "add", src, "nats", "--from", "oldest")
    mring("consumer", "add", src, "other", "--from", "oldest")
    w = spawn_writer(src, 0, n, log=tmp("two-writer.log"), rate=30000)
    args = [BRIDGE, "publish", src, "-s", server().urls, "--stream", "TWO",
            "--subject", "two.rec", "--idle-exit", "2"]
    a = spawn(args + ["--create-stream"], log=tmp("two-a.log"))
    wait_consumer_open(src, "nats")
    # Same consumer name: refused at once.
    p = bridge(*args[1:], rc=1)
    assert b"in use" in p.stderr, p.stderr
    # Another consumer name: both run; the stream still gets each
    # record once, in order (the expected-sequence chain).
    b = spawn(args + ["--consumer", "other"], log=tmp("two-b.log"))
    assert w.wait(timeout=120) == 0, ("exit status", w.returncode)
    assert a.wait(timeout=120) == 0 and b.wait(timeout=120) == 0
    st = sub(far, "TWO")
    assert st["written"] == n, st
    check_ring(far, 0, n)


@test
def another_ring_is_refused():
    other = tmp("dw-other")
    mring("create", other, "--size", "1M", "--records")
    write_records(other, 0, 10)
    p = pub(other, "DW", "--idle-exit", "1", rc=1)
    assert b"not published from this ring" in p.stderr, p.stderr


@test
def subscribe_restarts_resume_exactly():
    """Subscribe SIGKILLed repeatedly while copying; batches of 7 so
    that kills land inside batches."""
    far = tmp("sk-far2")
    args = [BRIDGE, "subscribe", far, "-s", server().urls, "--stream",
            "DW", "--durable", "far2", "--create-ring", "--capacity",
            "32M", "--batch", "7"]
    for k in range(5):
        p = spawn(args, log=tmp("sk-sub.log"))
        time.sleep(0.4 + 0.2 * k)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    bridge(*args[1:], "--idle-exit", "2", timeout=200)
    check_ring(far, 0, 25000)


if __name__ == "__main__":
    main()
