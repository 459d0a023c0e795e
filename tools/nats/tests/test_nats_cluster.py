"""A three-node JetStream cluster on loopback, a stream with 3 replicas:
while records stream ring -> JetStream -> ring, SIGKILL the publishing
bridge several times, the subscribing bridge twice, one server node
once (then restart it) and the stream's leader once (then restart it).
The far ring ends with every record exactly once, in order."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from natsrig import (Cluster, bridge, check_ring, main, mring,  # noqa
                     spawn, spawn_writer, test, tmp, wait_log)

N = 200000
BRIDGE = sys.argv[1]


def kill(p):
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)


@test
def chaos_in_a_cluster():
    cl = Cluster(3)
    src, far = tmp("cl-src"), tmp("cl-far")
    mring("create", src, "--size", "4M", "--records")
    mring("consumer", "add", src, "nats", "--from", "oldest")
    # About 20 s of records: the faults below happen while they flow.
    writer = spawn_writer(src, 0, N, log=tmp("cl-writer.log"), rate=10000)
    pub_args = [BRIDGE, "publish", src, "-s", cl.urls, "--stream", "CL",
                "--subject", "cl.rec", "--create-stream", "--replicas",
                "3", "--window", "1024", "--ack-wait", "2"]
    sub_args = [BRIDGE, "subscribe", far, "-s", cl.urls, "--stream", "CL",
                "--durable", "far", "--create-ring", "--capacity", "64M"]
    plog, slog = tmp("cl-pub.log"), tmp("cl-sub.log")
    pub = spawn(pub_args, log=plog)
    wait_log(plog, b"created stream")  # before the subscriber asks
    sub = spawn(sub_args, log=slog)
    # Publisher: SIGKILLed four times, restarted at once.
    for k in range(4):
        time.sleep(1.0 + 0.3 * k)
        kill(pub)
        pub = spawn(pub_args, log=plog)
    # One node (not the leader) killed, restarted 3 s later.
    lead = cl.leader("CL")
    other = next(nd for nd in cl.nodes if nd is not lead)
    other.kill()
    time.sleep(2)
    kill(sub)
    sub = spawn(sub_args, log=slog)
    time.sleep(1)
    other.start()
    time.sleep(2)
    # The stream's leader killed; a new one is elected; restarted.
    lead = cl.leader("CL")
    lead.kill()
    time.sleep(1)
    kill(pub)
    pub = spawn(pub_args, log=plog)
    time.sleep(3)
    lead.start()
    kill(sub)
    sub = spawn(sub_args, log=slog)
    # Let everything through: the writer ends, the bridges go idle.
    assert writer.wait(timeout=200) == 0, "writer failed"
    pub.send_signal(signal.SIGTERM)
    assert pub.wait(timeout=60) == 0, "publish did not stop cleanly"
    p = bridge("publish", *pub_args[2:], "--idle-exit", "2", "--json",
               timeout=200)
    assert b'"outstanding":0' in p.stdout, p.stdout
    sub.send_signal(signal.SIGTERM)
    assert sub.wait(timeout=60) == 0, "subscribe did not stop cleanly"
    bridge("subscribe", *sub_args[2:], "--idle-exit", "3", timeout=200)
    check_ring(far, 0, N)
    cl.stop()


if __name__ == "__main__":
    main()
