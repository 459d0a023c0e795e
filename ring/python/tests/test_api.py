"""The binding in one process: records, lifetimes, errors, seek, batches,
stats and inspect."""
import errno
import os
import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import mring


def fill(path, n, size=None, **create):
    mring.create(path, capacity=create.pop("capacity", 1 << 20), **create)
    with mring.open(path, "producer") as w:
        for i in range(n):
            w.write(payload(i, size))


def payload(i, size=None):
    head = b"rec-%08d:" % i
    if size is None:
        size = 16 + i % 40
    return (head * (size // len(head) + 1))[:size]


def test_roundtrip_and_numbers(path):
    fill(path, 50)
    with mring.open(path, "consumer", name="c") as r:
        assert r.role == "consumer" and r.records
        n = 0
        for rec in r:
            assert isinstance(rec, memoryview) and rec.readonly
            assert bytes(rec) == payload(n)
            assert r.seq == n
            n += 1
        assert n == 50
        assert r.read(timeout=0) == b""  # end of stream
    # The durable consumer resumes after what it read: nothing is left.
    with mring.open(path, "consumer", name="c") as r:
        assert r.read() == b""


def test_read_copies(path):
    fill(path, 3)
    with mring.open(path, "consumer") as r:
        got = [r.read() for _ in range(3)]
        assert got == [payload(i) for i in range(3)]
        assert all(isinstance(g, bytes) for g in got)


def test_reserve_view_lifetime(path):
    mring.create(path, capacity=1 << 20)
    with mring.open(path, "producer") as w:
        with w.reserve(16) as buf:
            assert not buf.readonly and len(buf) == 16
            buf[:] = b"0123456789abcdef"
        with pytest.raises(ValueError):
            buf[0] = 1  # released after its block: raises, no crash
        with pytest.raises(ValueError):
            bytes(buf)
        # commit(k) inside the block publishes k bytes.
        with w.reserve(100) as buf:
            buf[:5] = b"hello"
            w.commit(5)
        # An exception in the block publishes nothing.
        with pytest.raises(RuntimeError):
            with w.reserve(8) as buf:
                buf[:] = b"dropped!"
                raise RuntimeError("boom")
        w.write(b"last")
    with mring.open(path, "consumer") as r:
        assert [bytes(x) for x in r] == [b"0123456789abcdef", b"hello",
                                         b"last"]


def test_record_view_released_at_next_step(path):
    fill(path, 3)
    with mring.open(path, "consumer") as r:
        first = r.peek()
        with pytest.raises(TypeError):
            first[0] = 0  # read-only memory
        second = r.peek()
        with pytest.raises(ValueError):
            bytes(first)  # released: raises ValueError, no crash
        with pytest.raises(ValueError):
            memoryview(first)
        assert bytes(second) == payload(1)
    with pytest.raises(ValueError):
        second[0]  # closed ring: released too


def test_numpy_export_blocks_the_step(path):
    fill(path, 4, size=64)
    with mring.open(path, "consumer") as r:
        rec = r.peek()
        a = np.frombuffer(rec, dtype=np.uint8)
        assert not a.flags.writeable
        with pytest.raises(BufferError, match="still in use"):
            r.peek()
        # Nothing moved, the array still reads the same record.
        assert a.tobytes() == payload(0, 64)
        assert r.seq == 0
        with pytest.raises(ValueError):
            a[0] = 1  # numpy keeps it read-only
        del a
        assert bytes(r.peek()) == payload(1, 64)
        # A slice alive blocks the step as well.
        s = r.peek()[8:]
        with pytest.raises(BufferError):
            next(r)
        assert bytes(s) == payload(2, 64)[8:]
        del s
        assert bytes(next(r)) == payload(3, 64)


def test_close_with_numpy_alive_keeps_memory(path):
    fill(path, 2, size=4096)
    r = mring.open(path, "consumer", name="keep")
    a = np.frombuffer(r.peek(), dtype=np.uint8)
    r.close()
    assert r.closed
    with pytest.raises(ValueError):
        r.peek()
    # The handle (and its mapping) lives until the array goes.
    assert a.tobytes() == payload(0, 4096)
    assert mring.inspect(path)["consumers"][0]["alive"]
    del a
    assert not mring.inspect(path)["consumers"][0]["alive"]


def test_reservation_export_after_block(path):
    mring.create(path, capacity=1 << 20)
    with mring.open(path, "producer") as w:
        with pytest.raises(BufferError):
            with w.reserve(32) as buf:
                a = np.frombuffer(buf, dtype=np.uint8)
                a[:] = 7
        with pytest.raises(BufferError):
            w.write(b"x")
        del a
        w.write(b"after")
    with mring.open(path, "consumer") as r:
        assert [bytes(x) for x in r] == [b"after"]


def test_numpy_zero_copy(path):
    mring.create(path, capacity=1 << 20)
    arr = np.arange(1000, dtype=np.uint32)
    with mring.open(path, "producer") as w:
        with w.reserve(arr.nbytes) as buf:
            np.frombuffer(buf, dtype=np.uint32)[:] = arr
    with mring.open(path, "consumer") as r:
        rec = r.peek()
        a = np.frombuffer(rec, dtype=np.uint32)
        assert (a == arr).all()
        # No copy: the array's memory is the record's.
        assert a.__array_interface__["data"][0] == \
            np.frombuffer(rec, dtype=np.uint8).__array_interface__["data"][0]
        del a


def test_errors_carry_code_and_message(path, ringdir):
    with pytest.raises(mring.NotFound) as ei:
        mring.open(path, "consumer")
    assert ei.value.code == -errno.ENOENT and ei.value.errno == errno.ENOENT
    assert isinstance(ei.value, FileNotFoundError)
    assert ei.value.strerror == mring.strerror(-errno.ENOENT)
    mring.create(path, capacity=1 << 20)
    with pytest.raises(mring.Exists):
        mring.create(path, capacity=1 << 20)
    with pytest.raises(mring.InvalidArgument):
        mring.create(str(ringdir / "bad"), capacity=12345)
    bad = ringdir / "notaring"
    bad.write_bytes(b"\0" * 65536)
    with pytest.raises(mring.BadMagic) as ei:
        mring.open(str(bad), "consumer")
    assert ei.value.code == mring._mring.EBADMAGIC
    assert "magic" in str(ei.value) and str(bad) in str(ei.value)
    with mring.open(path, "producer") as w:
        with pytest.raises(mring.Busy):
            mring.open(path, "producer")
        with pytest.raises(ValueError):
            w.write(b"x" * (w.max_record + 1))
        with pytest.raises(mring.RoleError):
            w.fileno()
        # The producer is open: the stream has not ended, nothing to read.
        with mring.open(path, "consumer") as r:
            with pytest.raises(mring.WouldBlock):
                r.peek(timeout=0)
            with pytest.raises(mring.Timeout):
                r.read(timeout=0.05)
            with pytest.raises(mring.RoleError):
                r.reserve(8)
    with pytest.raises(ValueError):
        r.read()
    # Every code of the library's table maps to its own class.
    for code, cls in mring._ERRORS.items():
        e = cls(code)
        assert isinstance(e, mring.Error) and e.code == code
        assert e.strerror == mring.strerror(code)


def test_peek_many(path):
    fill(path, 300)
    with mring.open(path, "consumer") as r:
        seen = 0
        while True:
            batch = r.peek_many(64)
            if not batch:
                break
            assert r.seq == seen
            for k, rec in enumerate(batch):
                assert bytes(rec) == payload(seen + k)
            seen += len(batch)
        assert seen == 300
        assert r.stats()["batches"] >= 5


def test_seek_and_time(path):
    mring.create(path, capacity=1 << 20, timestamps=True)
    with mring.open(path, "producer") as w:
        for i in range(100):
            w.write(payload(i), ts=1_000_000 + 10 * i)
    with mring.open(path, "consumer") as r:
        assert r.seek(seq=42)
        assert bytes(r.peek()) == payload(42) and r.seq == 42
        assert r.ts == 1_000_000 + 420
        assert r.seek(time=1_000_000 + 555)  # first stamp >= it: 56
        assert bytes(r.read()) == payload(56)
        r.seek("oldest")
        assert r.read() == payload(0)
        with pytest.raises(mring.OutOfRange):
            r.seek(seq=1000)
        w = r.tell()
        assert w.seq == 1 and isinstance(w, mring.Where)


def test_stats_and_inspect_names_match_the_tool(path, tool):
    fill(path, 10)
    with mring.open(path, "consumer", name="dur") as r:
        for _ in range(4):
            r.read()
        st = r.stats()
        assert st["records_consumed"] == 4
        for k in ("bytes_consumed", "lag", "head", "tail", "position",
                  "capacity", "bytes_lost", "records_lost", "batches"):
            assert k in st
        info = mring.inspect(path)
        tool_info = json.loads(subprocess.run(
            [tool, "info", "--json", path], check=True,
            capture_output=True, text=True).stdout)
    assert set(info) == set(tool_info)
    for k in ("format_version", "mode", "policy", "capacity", "head",
              "tail", "max_record", "eof", "max_consumers"):
        assert info[k] == tool_info[k], k
    assert [set(c) for c in info["consumers"]] == \
        [set(c) for c in tool_info["consumers"]]
    assert info["consumers"][0]["name"] == "dur"


def test_overwrite_lapping(path):
    mring.create(path, capacity=64 << 10, overwrite=True)
    w = mring.open(path, "producer")
    r = mring.open(path, "consumer")  # an observer: may be lapped
    w.write(payload(0, 1000))
    assert r.read() == payload(0, 1000)
    for i in range(1, 1000):  # about 15 laps of the ring
        w.write(payload(i, 1000))
    w.close()
    with pytest.raises(mring.Lapped) as ei:
        r.read()
    lost = ei.value.records_lost
    assert lost > 0 and ei.value.bytes_lost > 0
    # Reading goes on at the oldest intact record; numbers say the loss.
    rec = r.peek()
    assert r.seq == 1 + lost
    assert bytes(rec) == payload(1 + lost, 1000)
    n = 1 + lost + 1
    for rec in r:
        assert bytes(rec) == payload(n, 1000)
        n += 1
    assert n == 1000
    r.close()


def test_corrupt_and_skip(path):
    mring.create(path, capacity=1 << 20, crc=True)
    with mring.open(path, "producer") as w:
        for i in range(3):
            w.write(b"MARK%d-" % i + b"x" * 100)
    with open(path, "r+b") as f:
        data = f.read()
        off = data.index(b"MARK1-")
        f.seek(off + 10)
        f.write(b"y")
    with mring.open(path, "consumer", name="c") as r:
        assert r.read().startswith(b"MARK0-")
        with pytest.raises(mring.Corrupt) as ei:
            r.read()
        assert ei.value.code == mring._mring.ECORRUPT
        with pytest.raises(mring.Corrupt):
            r.peek()  # does not move
        nbytes, nrec = r.skip()
        assert nbytes > 0 and nrec == 1
        assert r.read().startswith(b"MARK2-")


def test_interrupt_from_another_thread(path):
    mring.create(path, capacity=1 << 20)
    w = mring.open(path, "producer")  # keeps the stream open
    r = mring.open(path, "consumer")
    out = {}

    def reader():
        try:
            r.read()
        except Exception as e:  # noqa: BLE001 - the result is checked
            out["e"] = e
    t = threading.Thread(target=reader)
    t.start()
    # Until the reader waits, other calls on the handle are refused.
    deadline = 600
    while t.is_alive() and deadline:
        r.interrupt()
        t.join(0.1)
        deadline -= 1
    assert not t.is_alive()
    assert isinstance(out.get("e"), mring.Cancelled)
    r.close()
    w.close()


def test_one_thread_at_a_time(path):
    mring.create(path, capacity=1 << 20)
    w = mring.open(path, "producer")
    r = mring.open(path, "consumer")
    started = threading.Event()
    out = {}

    def reader():
        started.set()
        try:
            out["v"] = r.read(timeout=30)
        except Exception as e:  # noqa: BLE001
            out["v"] = e
    t = threading.Thread(target=reader)
    t.start()
    started.wait(10)
    refused = False
    for _ in range(300):  # until the reader is inside its wait
        try:
            r.stats()
        except RuntimeError:
            refused = True
            break
        t.join(0.01)
    w.write(b"wake")
    t.join(60)
    assert out["v"] == b"wake"
    assert refused
    r.close()
    w.close()


def test_byte_mode(path):
    mring.create(path, capacity=1 << 20, records=False)
    with mring.open(path, "producer") as w:
        assert w.write(b"a" * 1000) == 1000
        w.write(b"b" * 10)
    with mring.open(path, "consumer") as r:
        assert not r.records and r.seq is None
        got = b"".join(bytes(c) for c in r)
    assert got == b"a" * 1000 + b"b" * 10


def test_sanitizer_build_really_runs_it():
    # In the ASan and TSan builds the suite must run with the sanitizer's
    # runtime loaded, not silently without it.
    san = os.environ.get("MRING_TEST_SANITIZER")
    if not san:
        pytest.skip("not a sanitizer build")
    with open("/proc/self/maps") as f:
        assert f"lib{san}" in f.read()


def test_view_overwritten_while_held_reports_lapped(path):
    # Overwrite mode: a record looked at through its view may be
    # overwritten meanwhile; the next step says so and the reading goes on.
    mring.create(path, capacity=64 << 10, overwrite=True)
    w = mring.open(path, "producer")
    r = mring.open(path, "consumer")
    w.write(payload(0, 1000))
    rec = r.peek()
    assert bytes(rec) == payload(0, 1000)
    for i in range(1, 500):
        w.write(payload(i, 1000))
    with pytest.raises(mring.Lapped) as ei:
        r.peek()
    assert ei.value.records_lost > 0
    with pytest.raises(ValueError):
        bytes(rec)  # released all the same
    nxt = r.peek()
    first = r.seq
    assert first > 1 and bytes(nxt) == payload(first, 1000)
    r.close()
    w.close()


def test_exporter_object_dies_with_the_step(path):
    fill(path, 3)
    with mring.open(path, "consumer") as r:
        exporter = r.peek().obj  # the object behind the view
        assert bytes(memoryview(exporter)) == payload(0)
        r.peek()
        with pytest.raises(ValueError):
            memoryview(exporter)


def test_seek_time_datetime(path):
    import datetime as dt
    base = dt.datetime(2026, 12, 2, 14, 0, tzinfo=dt.timezone.utc)
    ns = int(base.timestamp()) * 10**9
    mring.create(path, capacity=1 << 20, timestamps=True)
    with mring.open(path, "producer") as w:
        for i in range(10):
            w.write(payload(i), ts=ns + i * 10**9)  # one a second
    with mring.open(path, "consumer") as r:
        assert r.seek(time=base + dt.timedelta(seconds=3, milliseconds=500))
        r.peek()
        assert r.seq == 4 and r.ts == ns + 4 * 10**9


def test_prefault_lets_other_threads_run(path):
    # Without a maintenance thread prefault() pre-faults the window itself:
    # other Python threads run meanwhile. With the GIL held through the
    # call, the counter could not move between the two reads below (the
    # switch interval is far longer than the test); released, the other
    # thread, woken from its short sleeps, counts during the call.
    box = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            box[0] += 1
            time.sleep(0.0001)

    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    t = threading.Thread(target=count)
    moved = False
    try:
        t.start()
        while box[0] == 0:
            time.sleep(0.001)
        # A bound on tries, not on time: a loaded machine only needs
        # more of them (each ~20 ms); the GIL held fails every one.
        for i in range(200):
            p = "%s.%d" % (path, i)  # new pages to create each time
            mring.create(p, capacity=64 << 20, records=False)
            try:
                with mring.open(p, "producer", prefetch=False) as w:
                    before = box[0]
                    assert w.prefault(timeout=0) == 64 << 20
                    moved = box[0] != before
            finally:
                os.unlink(p)
            if moved:
                break
    finally:
        stop.set()
        sys.setswitchinterval(old)
        t.join()
    assert moved


def test_prefault_prepares_the_ring(path):
    # A ring within its page-cache budget is prepared whole before it is
    # written: the stats count all of it ready, and what is written over
    # the prepared pages reads back.
    cap = 4 << 20
    mring.create(path, capacity=cap, records=False)
    with mring.open(path, "producer") as w:
        assert w.prefault(0) == 0
        assert w.prefault() == cap
        assert w.prefault(1 << 40, timeout=5) == cap  # cut to the ring
        assert w.stats()["prefault_ahead"] == cap
        data = bytes(range(256)) * 4096
        assert w.write(data) == len(data)
        with pytest.raises(ValueError):
            w.prefault(-1)
    with mring.open(path, "consumer") as r:
        with pytest.raises(mring.RoleError):
            r.prefault()
        r.seek("oldest")
        got = b""
        while len(got) < len(data):
            got += r.read(len(data) - len(got), timeout=0)
        assert got == data
