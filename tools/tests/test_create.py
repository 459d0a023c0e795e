"""mring create: sizes with units, geometry validation with clear
messages, flags, and file-system errors."""
import os
import stat
import sys
import json

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, tmp, contains, expect, test, main,  # noqa
                       create)

PAGE = os.sysconf("SC_PAGE_SIZE")


def info(path):
    return json.loads(mring("info", path, "--json").stdout)


@test
def units_and_defaults():
    p = mring("create", tmp("a.r"), "--size", "64M")
    contains(p.stdout, "bytes ring", "back-pressure", "64 MiB")
    i = info(tmp("a.r"))
    expect(i["capacity"] == 64 << 20, i)
    expect(i["mode"] == "bytes" and not i["overwrite"], i)
    expect(stat.S_IMODE(os.stat(tmp("a.r")).st_mode) == 0o600, "mode 0600")
    # Sparse: a fresh 64 MiB ring takes next to no disk.
    expect(os.stat(tmp("a.r")).st_blocks * 512 < (8 << 20), "sparse")


@test
def unit_spellings():
    for i, s in enumerate(["1G", "1g", "1GiB", "1024M", "1048576K",
                           str(1 << 30), "1073741824B", "0.0009765625T"]):
        path = tmp("u%d.r" % i)
        mring("create", path, "--size", s)
        expect(info(path)["capacity"] == 1 << 30, s)


@test
def all_options():
    path = tmp("b.r")
    p = mring("create", path, "-s", "32M", "--window", "4M",
              "--max-record", "64K", "--records", "--crc", "--overwrite",
              "--consumers", "7", "--mode", "0640", "--prealloc")
    contains(p.stdout, "records ring", "overwrite", "crc", "preallocated")
    i = info(path)
    expect(i["records"] and i["crc"] and i["overwrite"], i)
    expect(i["window"] == 4 << 20, i)
    expect(i["max_record"] == 64 << 10, i)
    expect(i["max_consumers"] == 7, i)
    expect(stat.S_IMODE(os.stat(path).st_mode) == 0o640, "mode 0640")
    expect(os.stat(path).st_blocks * 512 >= 32 << 20, "preallocated")


@test
def prealloc_beyond_free_space():
    # More than the file system has free: refused before anything is
    # allocated, with the sizes and what to do instead.
    vs = os.statvfs(os.path.dirname(tmp("big.r")))
    # Twice what is free and more: nobody frees that much meanwhile.
    size = (2 * vs.f_bavail * vs.f_frsize + (1 << 30)) >> 20 << 20
    p = mring("create", tmp("big.r"), "--size", str(size), "--prealloc",
              rc=1)
    contains(p.stderr, "cannot be preallocated", "free; nothing was "
             "allocated", "Leave out --prealloc")
    expect(not os.path.exists(tmp("big.r")), "nothing created")
    # Sparse, the same size is fine.
    mring("create", tmp("big.r"), "--size", str(size))
    expect(info(tmp("big.r"))["capacity"] == size, info(tmp("big.r")))


@test
def timestamps():
    path = tmp("ts.r")
    p = mring("create", path, "--size", "1M", "--records", "--timestamps")
    contains(p.stdout, "records ring", "timestamps")
    i = info(path)
    expect(i["timestamps"] is True and i["format_version"] == 2, i)
    contains(mring("info", path).stdout, "mring format 2",
             "records, back-pressure, timestamps")
    i = info(create("nots.r", "--size", "1M", "--records"))
    expect(i["timestamps"] is False and i["format_version"] == 1, i)
    p = mring("create", tmp("tsx.r"), "--size", "1M", "--timestamps", rc=2)
    contains(p.stderr, "--timestamps needs --records")
    # The stamp takes 8 bytes of the room a record has in half the ring.
    most = 8 * PAGE - 32 - 8
    p = mring("create", tmp("tsx.r"), "--size", str(16 * PAGE), "--records",
              "--timestamps", "--max-record", str(most + 1), rc=2)
    contains(p.stderr, "at most %d bytes" % most, "40-byte header")
    expect(not os.path.exists(tmp("tsx.r")), "nothing created")
    mring("create", tmp("tsx.r"), "--size", str(16 * PAGE), "--records",
          "--timestamps", "--max-record", str(most))
    expect(info(tmp("tsx.r"))["max_record"] == most, info(tmp("tsx.r")))


@test
def bad_sizes():
    p = mring("create", tmp("x.r"), "--size", "0", rc=2)
    contains(p.stderr, "mring: --size 0: must be greater than 0")
    p = mring("create", tmp("x.r"), "--size", "3000", rc=2)
    contains(p.stderr, "mring: --size 3000: must be a multiple of the "
             "page size (%d)" % PAGE)
    p = mring("create", tmp("x.r"), "--size", "1Q", rc=2)
    contains(p.stderr, "--size 1Q: unknown unit 'Q'")
    p = mring("create", tmp("x.r"), "--size", "big", rc=2)
    contains(p.stderr, "--size big: not a size")
    p = mring("create", tmp("x.r"), "--size", "-4K", rc=2)
    contains(p.stderr, "not a size")
    p = mring("create", tmp("x.r"), "--size", "99999999999T", rc=2)
    contains(p.stderr, "too large")
    p = mring("create", tmp("x.r"), "--size", "0.3K", rc=2)
    contains(p.stderr, "not a whole number of bytes")
    p = mring("create", tmp("x.r"), "--size", str(PAGE), rc=2)
    contains(p.stderr, "too small")
    p = mring("create", tmp("x.r"), rc=2)
    contains(p.stderr, "missing --size")
    expect(not os.path.exists(tmp("x.r")), "nothing created")


@test
def bad_geometry():
    p = mring("create", tmp("x.r"), "--size", "1M", "--max-record", "1M",
              rc=2)
    contains(p.stderr, "--max-record 1048576: too large for a 1 MiB ring")
    p = mring("create", tmp("x.r"), "--size", "1M", "--window", "1000",
              rc=2)
    contains(p.stderr, "--window 1000", "page size")
    p = mring("create", tmp("x.r"), "--size", "1M", "--crc", rc=2)
    contains(p.stderr, "--crc needs --records")
    p = mring("create", tmp("x.r"), "--size", "1M", "--consumers", "0",
              rc=2)
    contains(p.stderr, "--consumers 0: must be between 1 and 4096")
    p = mring("create", tmp("x.r"), "--size", "1M", "--mode", "9", rc=2)
    contains(p.stderr, "--mode 9")
    expect(not os.path.exists(tmp("x.r")), "nothing created")


@test
def file_errors():
    create("exists.r", "--size", "1M")
    p = mring("create", tmp("exists.r"), "--size", "1M", rc=1)
    contains(p.stderr, "exists.r: file exists")
    p = mring("create", tmp("nodir/x.r"), "--size", "1M", rc=2)
    contains(p.stderr, "nodir/x.r: no such file")
    os.mkdir(tmp("ro"))
    p = mring("create", tmp("ro/x.r"), "--size", "1M", rc=2, user=True)
    contains(p.stderr, "ro/x.r: Permission denied")


main()
