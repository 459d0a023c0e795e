"""The command line: help, usage errors, and clear errors when the
server is unreachable, the stream is missing, a record is larger than
the server's max_payload, the far ring has another writer or belongs to
another stream; --prom and --json counters."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from natsrig import (Cluster, bridge, free_port, main, mring,  # noqa
                     spawn, test, tmp, wait_for, write_records)

BRIDGE = sys.argv[1]


@test
def help_and_usage():
    for args in (["--help"], ["publish", "--help"],
                 ["subscribe", "--help"]):
        p = bridge(*args)
        assert p.stdout.startswith(b"Usage: mring-nats"), p.stdout[:80]
    out = bridge("publish", "--help").stdout
    for opt in (b"--window", b"--create-stream", b"--dup-window",
                b"--count", b"--idle-exit", b"--prom", b"--creds"):
        assert opt in out, opt
    p = bridge("publish", "r", rc=2)
    assert b"-s URL is required" in p.stderr, p.stderr
    p = bridge("publish", "r", "-s", "nats://x", rc=2)
    assert b"--stream and --subject" in p.stderr, p.stderr
    p = bridge("subscribe", "r", "-s", "nats://x", "--stream", "S",
               "--durable", "d", "--capacity", "1M", rc=2)
    assert b"--create-ring" in p.stderr, p.stderr
    p = bridge("frobnicate", rc=2)
    assert b"unknown command" in p.stderr
    p = bridge("publish", tmp("none"), "-s", "nats://127.0.0.1:1",
               "--stream", "S", "--subject", "s", rc=2)
    assert b"no such file" in p.stderr, p.stderr
    assert bridge("--version").stdout.startswith(b"mring-nats ")


@test
def unreachable_server():
    ring = tmp("cli-un")
    mring("create", ring, "--size", "1M", "--records")
    port = free_port()  # nobody listens there
    p = bridge("publish", ring, "-s", "nats://127.0.0.1:%d" % port,
               "--stream", "S", "--subject", "s", "--connect-wait", "1.5",
               rc=1, timeout=30)
    assert b"cannot connect to nats://127.0.0.1:%d" % port in p.stderr
    assert b"is nats-server running" in p.stderr, p.stderr


@test
def missing_stream_and_max_payload():
    srv = Cluster(1, max_payload=4096)
    ring = tmp("cli-mp")
    mring("create", ring, "--size", "1M", "--records")
    p = bridge("publish", ring, "-s", srv.urls, "--stream", "NOPE",
               "--subject", "nope", rc=1)
    assert b"stream 'NOPE' not found" in p.stderr, p.stderr
    assert b"--create-stream" in p.stderr
    p = bridge("subscribe", tmp("cli-far0"), "-s", srv.urls, "--stream",
               "NOPE", "--durable", "d", "--create-ring", "--capacity",
               "1M", rc=1)
    assert b"stream 'NOPE' not found" in p.stderr, p.stderr
    write_records(ring, 0, 10)
    mring("write", ring, "--records", "--no-sync",
          input=b"x" * 8000 + b"\n")
    p = bridge("publish", ring, "-s", srv.urls, "--stream", "MP",
               "--subject", "mp", "--create-stream", "--idle-exit", "1",
               "--json", rc=1)
    assert b"record 10 is 8000 bytes" in p.stderr, p.stderr
    assert b"max_payload" in p.stderr
    # The ten before it went through and were released; it was not.
    st = json.loads(p.stdout)
    assert st["acknowledged"] == 10, st
    info = json.loads(mring("info", ring, "--json").stdout)
    nats = next(c for c in info["consumers"] if c["name"] == "nats")
    assert nats["lag"] > 8000, nats
    srv.stop()


@test
def far_ring_one_writer_one_stream_and_counters():
    srv = Cluster(1)
    src, far = tmp("cli-src"), tmp("cli-far")
    mring("create", src, "--size", "1M", "--records")
    write_records(src, 0, 500)
    prom = tmp("cli.prom")
    p = bridge("publish", src, "-s", srv.urls, "--stream", "C1",
               "--subject", "c1", "--create-stream", "--count", "500",
               "--prom", prom, "--json", "--progress=always")
    st = json.loads(p.stdout)
    assert st["published"] == 500 and st["acknowledged"] == 500, st
    assert b"published and acknowledged (500 records)" in p.stderr
    with open(prom) as f:
        text = f.read()
    assert "# TYPE mring_nats_acknowledged counter" in text, text
    assert "mring_nats_acknowledged 500\n" in text, text
    assert "mring_nats_outstanding 0\n" in text, text
    # A second stream for the far ring later.
    bridge("publish", src, "-s", srv.urls, "--stream", "C2",
           "--subject", "c2", "--create-stream", "--consumer", "c2",
           "--count", "500")
    sub_args = ["subscribe", far, "-s", srv.urls, "--stream", "C1",
                "--durable", "far", "--create-ring", "--capacity", "4M"]
    s1 = spawn([BRIDGE] + sub_args, log=tmp("cli-sub.log"))
    wait_for(lambda: os.path.exists(far + ".nats"), "the sidecar", 30)
    p = bridge(*sub_args, "--idle-exit", "1", rc=1)
    assert b"another process writes to this ring" in p.stderr, p.stderr
    s1.terminate()
    assert s1.wait(timeout=30) == 0
    st = json.loads(bridge(*sub_args, "--idle-exit", "1", "--json").stdout)
    assert st["duplicates"] == 0, st
    p = bridge("subscribe", far, "-s", srv.urls, "--stream", "C2",
               "--durable", "far", "--idle-exit", "1", rc=2)
    assert b"fed from stream 'C1'" in p.stderr, p.stderr
    got = mring("read", far).stdout.split(b"\n")
    assert len(got) == 501 and got[499].startswith(b"00000499"), got[-3:]
    srv.stop()


if __name__ == "__main__":
    main()
