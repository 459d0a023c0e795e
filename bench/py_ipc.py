#!/usr/bin/python3
"""bench/py_ipc.py: Python consumers of a ring, against C and a pipe.

One C producer (bench/py_peer.c, mring-bench-pypeer) writes every byte of
every record; in the same run, with fresh processes per measurement:

  1 MiB records (GB/s at the consumer, first record to last)
    c          C consumer: peek, sum every 64-bit word, release
    py-numpy   Python: for rec in ring: np.frombuffer(rec, uint64).sum()
               (zero copy: numpy reads the ring's memory)
    pipe-numpy the same records through a 1 MiB pipe, readinto() a
               buffer, then np.frombuffer(buf, uint64).sum()
  64-byte records (records/s)
    c          C consumer as above
    py-iter    Python: for rec in ring: check its number (struct)
    py-batch   Python: ring.peek_many(256), the same check per record
    py-read    Python: ring.read() (a copy per record), the same check

Every consumer checks every record's number. Several repetitions; the
table gives medians (min-max) and the ratios the README quotes.

  bench/run-py-ipc.sh [--reps N] [--quick] [--dir DIR] [--out CSV]
"""
import argparse
import csv
import fcntl
import os
import pathlib
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
try:
    import mring
except ImportError:  # run from the source tree: the build's module
    sys.path.insert(0, str(HERE.parent / "build" / "ring" / "python"))
    import mring
import numpy as np

F_SETPIPE_SZ = 1031
PATTERN = 0x9E3779B97F4A7C15


def ring(dirpath, name, capacity):
    p = os.path.join(dirpath, name)
    if os.path.exists(p):
        os.unlink(p)
    # Preallocated: the producer then laps over pages that exist, the
    # steady state of a long-running capture, not tmpfs allocating pages.
    mring.create(p, capacity=capacity, prealloc=True)
    mring.consumer_add(p, "bench")
    return p


def c_consumer(peer, dirpath, size, count, capacity):
    p = ring(dirpath, "c.ring", capacity)
    cons = subprocess.Popen([peer, "consume", p, "bench", str(count)],
                            stdout=subprocess.PIPE, text=True)
    prod = subprocess.Popen([peer, "produce", p, str(size), str(count)])
    out, _ = cons.communicate(timeout=600)
    if prod.wait(600) or cons.returncode:
        raise SystemExit("py_ipc: the C peer failed")
    _, nbytes, secs, _ = out.split()
    os.unlink(p)
    return int(nbytes), float(secs)


def py_numpy(peer, dirpath, size, count, capacity):
    p = ring(dirpath, "py.ring", capacity)
    prod = subprocess.Popen([peer, "produce", p, str(size), str(count)])
    nbytes = total = 0
    t0 = None
    with mring.open(p, "consumer", name="bench") as r:
        for i, rec in enumerate(r):
            if t0 is None:
                t0 = time.perf_counter()
            a = np.frombuffer(rec, dtype=np.uint64)
            if a[0] != i:
                raise SystemExit(f"py_ipc: record {i} carries {a[0]}")
            total += int(a.sum())
            nbytes += a.nbytes
            del a
            if i + 1 == count:
                break
        secs = time.perf_counter() - t0
    if prod.wait(600):
        raise SystemExit("py_ipc: the C producer failed")
    os.unlink(p)
    return nbytes, secs


def pipe_numpy(peer, size, count):
    prod = subprocess.Popen([peer, "pipe", str(size), str(count)],
                            stdout=subprocess.PIPE, bufsize=0)
    fd = prod.stdout.fileno()
    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass  # a smaller pipe: what an unprivileged user may get
    buf = bytearray(size)
    mv = memoryview(buf)
    a = np.frombuffer(buf, dtype=np.uint64)
    nbytes = total = 0
    t0 = None
    for i in range(count):
        off = 0
        while off < size:
            n = prod.stdout.readinto(mv[off:])
            if not n:
                raise SystemExit("py_ipc: the pipe ended early")
            off += n
        if t0 is None:
            t0 = time.perf_counter()
        if a[0] != i:
            raise SystemExit(f"py_ipc: pipe record {i} carries {a[0]}")
        total += int(a.sum())
        nbytes += size
    secs = time.perf_counter() - t0
    if prod.wait(600):
        raise SystemExit("py_ipc: the pipe producer failed")
    return nbytes, secs


def py_small(peer, dirpath, size, count, capacity, how):
    p = ring(dirpath, "small.ring", capacity)
    prod = subprocess.Popen([peer, "produce", p, str(size), str(count)])
    unpack = struct.Struct("<Q").unpack_from
    t0 = None
    with mring.open(p, "consumer", name="bench") as r:
        i = 0
        if how == "iter":
            for rec in r:
                if t0 is None:
                    t0 = time.perf_counter()
                if unpack(rec)[0] != i:
                    raise SystemExit(f"py_ipc: record {i} is wrong")
                i += 1
                if i == count:
                    break
        elif how == "batch":
            while i < count:
                batch = r.peek_many(256)
                if t0 is None:
                    t0 = time.perf_counter()
                for rec in batch:
                    if unpack(rec)[0] != i:
                        raise SystemExit(f"py_ipc: record {i} is wrong")
                    i += 1
            r.release()
        else:
            read = r.read
            while i < count:
                rec = read()
                if t0 is None:
                    t0 = time.perf_counter()
                if unpack(rec)[0] != i:
                    raise SystemExit(f"py_ipc: record {i} is wrong")
                i += 1
        secs = time.perf_counter() - t0
    if prod.wait(600):
        raise SystemExit("py_ipc: the C producer failed")
    os.unlink(p)
    return count * size, secs


def machine(dirpath):
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    fs = subprocess.run(["stat", "-f", "-c", "%T", dirpath],
                        capture_output=True, text=True).stdout.strip()
    return (f"{model}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
            f"Python {platform.python_version()} ({sys.executable}), "
            f"numpy {np.__version__}, ring on {dirpath} ({fs})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", default=str(
        HERE.parent / "build" / "bench" / "mring-bench-pypeer"))
    ap.add_argument("--dir", default="/dev/shm")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--big", type=int, default=2000,
                    help="1 MiB records per measurement (2000)")
    ap.add_argument("--small", type=int, default=2_000_000,
                    help="64-byte records per measurement (2000000)")
    ap.add_argument("--quick", action="store_true",
                    help="a short run that checks everything works "
                         "(200 big, 100000 small records, 2 reps)")
    ap.add_argument("--out", help="also write every measurement as CSV")
    o = ap.parse_args()
    if o.quick:
        o.big, o.small, o.reps = 200, 100_000, 2
    if not os.access(o.peer, os.X_OK):
        raise SystemExit(f"py_ipc: {o.peer} not found: build with "
                         "-DMRING_BUILD_BENCH=ON, or give --peer")
    work = tempfile.mkdtemp(prefix="mring-pyipc-", dir=o.dir)
    big, small = 1 << 20, 64
    rows = []
    try:
        print(f"machine: {machine(work)}", flush=True)
        for rep in range(o.reps):
            for case, fn in (
                    ("1M c", lambda: c_consumer(o.peer, work, big, o.big,
                                                64 << 20)),
                    ("1M py-numpy", lambda: py_numpy(o.peer, work, big,
                                                     o.big, 64 << 20)),
                    ("1M pipe-numpy", lambda: pipe_numpy(o.peer, big,
                                                         o.big)),
                    ("64B c", lambda: c_consumer(o.peer, work, small,
                                                 o.small, 64 << 20)),
                    ("64B py-iter", lambda: py_small(
                        o.peer, work, small, o.small, 64 << 20, "iter")),
                    ("64B py-batch", lambda: py_small(
                        o.peer, work, small, o.small, 64 << 20, "batch")),
                    ("64B py-read", lambda: py_small(
                        o.peer, work, small, o.small, 64 << 20, "read"))):
                nbytes, secs = fn()
                size = big if case.startswith("1M") else small
                rows.append({"rep": rep, "case": case, "bytes": nbytes,
                             "seconds": secs,
                             "gbps": nbytes / secs / 1e9,
                             "recs_per_s": nbytes / size / secs})
                print(f"  rep {rep} {case:14} {nbytes / secs / 1e9:7.2f} GB/s"
                      f" {nbytes / size / secs / 1e6:8.2f} M rec/s",
                      flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if o.out:
        with open(o.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)

    def med(case, key):
        v = [r[key] for r in rows if r["case"] == case]
        return statistics.median(v), min(v), max(v)

    print(f"\nmedians of {o.reps} runs ({o.big} x 1 MiB, {o.small} x 64 B):")
    for case in ("1M c", "1M py-numpy", "1M pipe-numpy"):
        m, lo, hi = med(case, "gbps")
        print(f"  {case:14} {m:7.2f} GB/s   ({lo:.2f}-{hi:.2f})")
    for case in ("64B c", "64B py-iter", "64B py-batch", "64B py-read"):
        m, lo, hi = med(case, "recs_per_s")
        print(f"  {case:14} {m / 1e6:7.2f} M records/s   "
              f"({lo / 1e6:.2f}-{hi / 1e6:.2f})")
    c = med("1M c", "gbps")[0]
    py = med("1M py-numpy", "gbps")[0]
    pipe = med("1M pipe-numpy", "gbps")[0]
    it = med("64B py-iter", "recs_per_s")[0]
    bt = med("64B py-batch", "recs_per_s")[0]
    print(f"\n  1 MiB: py-numpy / c = {py / c:.2f} (target >= 0.5), "
          f"py-numpy / pipe-numpy = {py / pipe:.2f} (target >= 2)")
    print(f"  64 B:  py-batch / py-iter = {bt / it:.2f}, "
          f"py-iter / c = {it / med('64B c', 'recs_per_s')[0]:.3f}")


if __name__ == "__main__":
    main()
