"""The servers down: at the bridge's start, and for 10 s while records
flow. The ring fills and its writer waits (back-pressure), nothing that
was acknowledged is lost, and once the server is back every record
arrives once, in order. In an overwrite ring the writer never waits:
the loss is counted and reported, and what arrives is still in order,
intact and never twice."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from natsrig import (Cluster, bridge, check_ring, check_subsequence,  # noqa
                     main, mring, spawn, spawn_writer, test, tmp,
                     wait_log, write_records)

BRIDGE = sys.argv[1]


def lag(ring, name):
    info = json.loads(mring("info", ring, "--json").stdout)
    c = next(c for c in info["consumers"] if c["name"] == name)
    return c["lag"], info["capacity"]


def wait_half_full(ring, name, bound=120):
    """Until the consumer `name` lags by more than half the ring: the
    writer at 20k records/s gets there in about a second; the bound only
    stops a test that would never get there (a slow machine waits)."""
    deadline = time.monotonic() + bound
    while True:
        used, cap = lag(ring, name)
        if used > cap // 2:
            return
        assert time.monotonic() < deadline, ("ring never filled", used, cap)
        time.sleep(0.1)


@test
def server_down_at_start_then_ten_seconds_mid_stream():
    srv = Cluster(1, start=False)
    src, far = tmp("od-src"), tmp("od-far")
    n = 120000  # about 18 MB through a 2 MiB ring
    mring("create", src, "--size", "2M", "--records")
    mring("consumer", "add", src, "nats", "--from", "oldest")
    w = spawn_writer(src, 0, n, log=tmp("od-writer.log"), rate=20000)
    pub_args = [BRIDGE, "publish", src, "-s", srv.urls, "--stream", "OD",
                "--subject", "od.rec", "--create-stream", "--ack-wait",
                "2"]
    pub = spawn(pub_args, log=tmp("od-pub.log"))
    # No server: the ring fills, the writer waits for the bridge.
    wait_half_full(src, "nats")
    time.sleep(1)
    assert w.poll() is None, "writer finished without the bridge"
    srv.start()
    sub_args = [BRIDGE, "subscribe", far, "-s", srv.urls, "--stream",
                "OD", "--durable", "far", "--create-ring", "--capacity",
                "64M"]
    wait_log(tmp("od-pub.log"), b"created stream")
    sub = spawn(sub_args, log=tmp("od-sub.log"))
    time.sleep(1)
    # Down for 10 s while records flow.
    srv.nodes[0].kill()
    time.sleep(10)
    wait_half_full(src, "nats")
    assert w.poll() is None, "writer finished while the server was down"
    srv.start()
    assert w.wait(timeout=120) == 0, ("exit status", w.returncode)
    pub.send_signal(signal.SIGTERM)
    assert pub.wait(timeout=60) == 0, ("exit status", pub.returncode)
    p = bridge(*pub_args[1:], "--idle-exit", "1", "--json", timeout=120)
    assert b'"outstanding":0' in p.stdout
    sub.send_signal(signal.SIGTERM)
    assert sub.wait(timeout=60) == 0, ("exit status", sub.returncode)
    bridge(*sub_args[1:], "--idle-exit", "2", timeout=120)
    check_ring(far, 0, n)
    with open(tmp("od-pub.log"), "rb") as f:
        log = f.read()
    assert b"no NATS server reachable" in log, log[-2000:]
    srv.stop()


@test
def overwrite_ring_counts_the_loss():
    srv = Cluster(1)
    src, far = tmp("ow-src"), tmp("ow-far")
    mring("create", src, "--size", "1M", "--records", "--overwrite")
    write_records(src, 0, 1000)
    args = ["publish", src, "-s", srv.urls, "--stream", "OW", "--subject",
            "ow.rec", "--ack-wait", "2", "--json"]
    st = json.loads(bridge(*args, "--create-stream", "--idle-exit", "1")
                    .stdout)
    assert st["acknowledged"] == 1000, st
    srv.nodes[0].kill()
    # 50000 records (7 MB) into a 1 MiB ring: most are overwritten.
    write_records(src, 1000, 49000)
    srv.start()
    st = json.loads(bridge(*args, "--idle-exit", "2").stdout)
    assert st["lost"] > 0, st
    got = json.loads(bridge("subscribe", far, "-s", srv.urls, "--stream",
                            "OW", "--durable", "far", "--create-ring",
                            "--capacity", "16M", "--idle-exit", "2",
                            "--json").stdout)
    kept = check_subsequence(far, 50000)
    # Acknowledged, or found in the stream after a lost answer (skipped).
    assert kept == got["written"] == 1000 + st["acknowledged"] + \
        st["skipped"], (kept, st)
    assert kept + st["lost"] == 50000, (kept, st)
    srv.stop()


if __name__ == "__main__":
    main()
