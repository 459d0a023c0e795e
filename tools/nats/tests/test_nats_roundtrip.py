"""Ring -> JetStream -> ring on one nats-server: a million records of
mixed sizes, every record checked by content and number, in order; the
record's timestamp travels in Mring-Ts and lands in the far ring."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from natsrig import (Cluster, check_ring, main, mring, record,  # noqa
                     spawn, spawn_writer, test, tmp, wait_for)

N = 1000000


@test
def million_records_round_trip():
    srv = Cluster(1)
    src, far = tmp("rt-src"), tmp("rt-far")
    # A ring smaller than the data: the writer waits for the bridge.
    mring("create", src, "--size", "32M", "--records", "--timestamps")
    mring("consumer", "add", src, "nats", "--from", "oldest")
    w = spawn_writer(src, 0, N, log=tmp("rt-writer.log"))
    pub = spawn([sys.argv[1], "publish", src, "-s", srv.urls, "--stream",
                 "RT", "--subject", "rt.records", "--create-stream",
                 "--count", N, "--json"], log=tmp("rt-pub.log"),
                stdout=open(tmp("rt-pub.json"), "w"))
    # The subscriber needs the stream: the publisher creates it.
    def created():
        with open(tmp("rt-pub.log"), "rb") as f:
            return b"created stream" in f.read()
    wait_for(created, "the stream", 30)
    sub = spawn([sys.argv[1], "subscribe", far, "-s", srv.urls,
                 "--stream", "RT", "--durable", "far", "--create-ring",
                 "--capacity", "256M", "--timestamps", "--count", N,
                 "--batch", "1024", "--sync", "none", "--json"],
                log=tmp("rt-sub.log"), stdout=open(tmp("rt-sub.json"), "w"))
    assert pub.wait(timeout=280) == 0, "publish failed"
    with open(tmp("rt-pub.json")) as f:
        pub = json.loads(f.read())
    assert pub["acknowledged"] == N, pub
    assert pub["duplicates"] == 0 and pub["lost"] == 0, pub
    assert w.wait(timeout=60) == 0, "writer failed"
    assert sub.wait(timeout=200) == 0, "subscribe failed"
    with open(tmp("rt-sub.json")) as f:
        st = json.loads(f.read())
    assert st["written"] == N and st["acknowledged"] == N, st
    check_ring(far, 0, N)
    # Same stamps on both sides (the source ring, smaller, still holds
    # its last records).
    for seq in (N - 100000, N - 1000, N - 1):
        a = mring("read", src, "--from", "seq:%d" % seq, "--show",
                  "seq,time").stdout.split(b"\n", 1)[0]
        b = mring("read", far, "--from", "seq:%d" % seq, "--show",
                  "seq,time").stdout.split(b"\n", 1)[0]
        assert a == b and a.endswith(record(seq)), (a[:60], b[:60])
    srv.stop()


if __name__ == "__main__":
    main()
