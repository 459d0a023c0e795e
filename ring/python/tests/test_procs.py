"""Across processes: the C tool as producer or consumer of a Python peer,
Ctrl-C in a blocked read, the asyncio reader. Every record is checked by
number and content; every wait is bounded."""
import asyncio
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

import mring

N = 20000  # records: several laps of the 1 MiB rings below


def rec_bytes(i, size):
    """Record i: its number as 16 uint64 words then a pattern."""
    a = np.full(size // 8, i * 2654435761 % (1 << 61), dtype=np.uint64)
    a[0] = i
    return a.tobytes()


def test_c_producer_python_consumer(path, tool):
    size = 512
    mring.create(path, capacity=1 << 20)
    mring.consumer_add(path, "py")
    data = b"".join(rec_bytes(i, size) for i in range(N))
    prod = subprocess.Popen([tool, "write", path, "-r", "-n", str(size),
                             "--progress=never"],
                            stdin=subprocess.PIPE)
    feeder = threading.Thread(target=lambda: (prod.stdin.write(data),
                                              prod.stdin.close()))
    feeder.start()
    n = 0
    try:
        with mring.open(path, "consumer", name="py") as r:
            for rec in r:  # ends when the tool closes the stream
                a = np.frombuffer(rec, dtype=np.uint64)  # zero copy
                assert r.seq == n
                assert a[0] == n
                assert (a[1:] == n * 2654435761 % (1 << 61)).all()
                del a
                n += 1
    finally:
        feeder.join(120)
        assert prod.wait(120) == 0
    assert n == N


def test_python_producer_c_consumer(path, tool, ringdir):
    mring.create(path, capacity=1 << 20)
    mring.consumer_add(path, "c")
    out = open(ringdir / "out.txt", "wb")
    cons = subprocess.Popen([tool, "read", path, "--consumer", "c",
                             "--follow", "--show", "seq",
                             "--progress=never"], stdout=out)
    try:
        with mring.open(path, "producer") as w:
            for i in range(N):
                body = b"py %d " % i + b"abcdefghij" * (i % 13)
                if i % 2:
                    w.write(body)
                else:
                    with w.reserve(len(body)) as buf:
                        buf[:] = body
        assert cons.wait(120) == 0
    finally:
        if cons.poll() is None:
            cons.kill()
        out.close()
    lines = (ringdir / "out.txt").read_bytes().split(b"\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    assert len(lines) == N
    for i, line in enumerate(lines):
        seq, body = line.split(b"\t", 1)
        assert seq == b"seq:%d" % i
        assert body == b"py %d " % i + b"abcdefghij" * (i % 13)


BLOCKED_READER = r"""
import signal, sys, mring
# Whatever the parent did with SIGINT (a test runner may ignore it).
signal.signal(signal.SIGINT, signal.default_int_handler)
r = mring.open(sys.argv[1], "consumer")
try:
    print("ready", flush=True)
    for rec in r:
        pass
finally:
    print("left the loop", flush=True)
"""


def test_keyboard_interrupt_in_blocked_read(path, pyenv):
    mring.create(path, capacity=1 << 20)
    w = mring.open(path, "producer")  # the stream stays open: reads block
    child = subprocess.Popen([sys.executable, "-c", BLOCKED_READER, path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=pyenv)
    try:
        assert child.stdout.readline() == b"ready\n"
        # Once the child waits, or before: either way Ctrl-C must end it.
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
        w.close()
    assert b"left the loop" in out
    assert b"KeyboardInterrupt" in err
    assert child.returncode != 0


def test_keyboard_interrupt_in_blocked_reserve(path, pyenv):
    # A back-pressure ring, full, whose durable consumer never reads.
    mring.create(path, capacity=64 << 10)
    mring.consumer_add(path, "stuck")
    script = r"""
import signal, sys, mring
signal.signal(signal.SIGINT, signal.default_int_handler)
w = mring.open(sys.argv[1], "producer")
try:
    for i in range(100000):
        w.write(b"x" * 1000, timeout=0 if i < 60 else None)
        if i == 60:
            print("ready", flush=True)
except mring.WouldBlock:
    print("ready", flush=True)
    w.write(b"x" * 1000)
"""
    child = subprocess.Popen([sys.executable, "-c", script, path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=pyenv)
    try:
        assert child.stdout.readline() == b"ready\n"
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert b"KeyboardInterrupt" in err and child.returncode != 0


def test_asyncio_reader(path):
    mring.create(path, capacity=256 << 10)
    count = 3000

    async def produce(w):
        # Never blocks the loop: when the ring is full, the reader (in
        # this same loop) must run to make room.
        for i in range(count):
            data = rec_bytes(i, 256)
            while True:
                try:
                    w.write(data, timeout=0)
                    break
                except mring.WouldBlock:
                    await asyncio.sleep(0.001)
            if i % 100 == 99:
                await asyncio.sleep(0)  # the reader runs meanwhile
        w.close()

    async def consume(r):
        n = 0
        async for rec in r:
            assert r.seq == n
            assert bytes(rec) == rec_bytes(n, 256)
            n += 1
        return n

    async def main():
        w = mring.open(path, "producer")
        with mring.open(path, "consumer", name="aio") as r:
            # The reader starts first and must wait without blocking the
            # loop, or the producer task never runs (and wait_for fires).
            task = asyncio.ensure_future(consume(r))
            await asyncio.sleep(0)
            await produce(w)
            return await asyncio.wait_for(task, 60)

    assert asyncio.run(asyncio.wait_for(main(), 120)) == count


def test_fork_child_reopens(path):
    mring.create(path, capacity=1 << 20)
    with mring.open(path, "producer") as w:
        w.write(b"before fork")
    r = mring.open(path, "consumer")
    pid = os.fork()
    if pid == 0:  # the child: the inherited handle refuses, no crash
        code = 1
        try:
            r.read()
        except mring.Forked:
            code = 0
        except BaseException:  # noqa: BLE001
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert r.read() == b"before fork"
    r.close()
