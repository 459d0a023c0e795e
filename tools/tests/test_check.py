"""mring check: exit 0 for good rings, 1 for damaged records or lost
data, 2 for files that are not usable rings."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, tmp, contains, expect, test, main,  # noqa
                       create)


def info(path):
    return json.loads(mring("info", path, "--json").stdout)


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


@test
def good_rings():
    path = create("g.r", "--size", "1M", "--records", "--crc",
                  "--max-record", "4K")
    contains(mring("check", path).stdout, "0 records", "ok")
    lines = "".join("record %d\n" % i for i in range(100000))  # wraps
    mring("write", path, "--records", input=lines)
    out = mring("check", path).stdout
    contains(out, "control block valid", "records, back-pressure, crc",
             "records (", "verified", "ok")
    n = int(out.split("records (")[0].split()[-1])
    expect(0 < n <= 100000, out)
    b = create("b.r", "--size", "1M")
    mring("write", b, input="bytes")
    contains(mring("check", b).stdout, "byte ring", "ok")
    expect(mring("check", b, "--quiet").stdout == "", "quiet")


@test
def corrupt_record_found():
    for crc in (True, False):
        name = "c%d.r" % crc
        path = create(name, "--size", "1M", "--records",
                      *(["--crc"] if crc else []))
        mring("write", path, "--records",
              input="".join("line %05d\n" % i for i in range(1000)))
        i = info(path)
        # Record 10: each is a 16-byte header and 16 bytes of payload.
        at = i["data_offset"] + (i["tail"] + 10 * 32) % i["capacity"]
        flip(path, at + 16 if crc else at)  # payload (crc) or length
        p = mring("check", path, rc=1)
        contains(p.stdout, "problem", "corrupt", "after 10 good records",
                 "1 problem found")
        p = mring("read", path, rc=1)
        contains(p.stderr, "corrupt record", "mring check")


@test
def lapped_durable_consumer_is_a_problem():
    # Forge a consumer position below tail in a back-pressure ring.
    path = create("l.r", "--size", "1M")
    mring("consumer", "add", path, "x", "--from", "oldest")
    mring("consumer", "rm", path, "x")
    mring("write", path, input="z" * (3 << 20))  # nobody holds it back
    mring("consumer", "add", path, "x", "--from", "oldest")
    mring("check", path)
    i = info(path)
    expect(i["tail"] > 0, i)
    with open(path, "r+b") as f:
        f.seek(512)  # slot 0 position
        f.write((0).to_bytes(8, "little"))
    p = mring("check", path, rc=1)
    contains(p.stdout, "consumer 'x'", "behind the oldest intact data",
             "lost")


@test
def unusable_files():
    p = mring("check", tmp("none.r"), rc=2)
    contains(p.stderr, "no such file")
    with open(tmp("t.txt"), "w") as f:
        f.write("hello\n")
    p = mring("check", tmp("t.txt"), rc=2)
    contains(p.stderr, "bad magic number")
    os.mkdir(tmp("dir"))
    p = mring("check", tmp("dir"), rc=2)
    contains(p.stderr, "is a directory")
    path = create("h.r", "--size", "1M")
    flip(path, 33)  # capacity, covered by the header checksum
    p = mring("check", path, rc=2)
    contains(p.stderr, "checksum mismatch")
    path = create("t.r", "--size", "1M")
    os.truncate(path, 4096)
    p = mring("check", path, rc=2)
    contains(p.stderr, "shorter than its header says")
    path = create("p.r", "--size", "1M", "--records")
    os.chmod(path, 0o444)
    # Reading the header works; the record walk needs write access.
    p = mring("check", path, rc=2, user=True)
    contains(p.stderr, "cannot walk the records", "Permission denied")


main()
