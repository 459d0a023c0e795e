"""mring read --pcap: a record ring of packets in the format of
examples/capture.c (per record: u64 time in ns, u32 frame length, u32
padding, the Ethernet frame; host byte order) comes out as one pcap
stream that tcpdump reads: file header first, one packet per record,
also from a ring that wrapped. And the man page's byte-ring pipeline for
a pcap stream, which keeps the stream's header. Needs tcpdump
(tools/deps.sh); skipped (77) without it."""
import os
import re
import shutil
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, tmp, contains, expect, test, main,  # noqa
                       create, MRING)

TCPDUMP = shutil.which("tcpdump")
if not TCPDUMP:
    print("SKIP: tcpdump not found (tools/deps.sh installs it)")
    sys.exit(77)

T0 = 1700000000 * 10**9  # 2023-11-14, in ns


def ip_checksum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(n, size):
    """Ethernet/IPv4/UDP frame number n of `size` bytes, from
    10.0.0.(1 + n % 16):(40000 + n % 16) to 10.0.1.1:9, as capture.c
    builds them."""
    flow = n % 16
    eth = bytes([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]) + b"\x08\x00"
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, size - 14,
                               n & 0xffff, 0x4000, 64, 17, 0,
                               bytes([10, 0, 0, 1 + flow]),
                               bytes([10, 0, 1, 1])))
    ip[10:12] = struct.pack("!H", ip_checksum(bytes(ip)))
    udp = struct.pack("!HHHH", 40000 + flow, 9, size - 34, 0)
    data = struct.pack("!Q", n) + b"\xa5" * (size - 42 - 8)
    return eth + bytes(ip) + udp + data


def record(n, size):
    """Packet n as capture.c commits it: time, length, padding, frame."""
    return struct.pack("=QII", T0 + n * 1001, size, 0) + frame(n, size)


def tcpdump(pcap):
    """tcpdump's lines for a pcap stream given on its stdin (-r -)."""
    p = subprocess.run([TCPDUMP, "-nn", "-tt", "--time-stamp-precision=nano",
                        "-r", "-"], input=pcap, capture_output=True,
                       timeout=120)
    expect(p.returncode == 0, "tcpdump refused the stream: %s"
           % p.stderr.decode(errors="replace"))
    return p.stdout.decode().splitlines()


LINE = re.compile(r"^(\d+)\.(\d{9}) IP 10\.0\.0\.(\d+)\.(\d+) > "
                  r"10\.0\.1\.1\.9: UDP, length (\d+)$")


def check_packets(lines, numbers_sizes):
    """Each tcpdump line is packet n of size s, in order."""
    expect(len(lines) == len(numbers_sizes),
           "%d packets, expected %d" % (len(lines), len(numbers_sizes)))
    for line, (n, size) in zip(lines, numbers_sizes):
        m = LINE.match(line)
        expect(m, "tcpdump line %r" % line)
        ts = int(m.group(1)) * 10**9 + int(m.group(2))
        expect(ts == T0 + n * 1001, "time of packet %d: %r" % (n, line))
        expect(int(m.group(3)) == 1 + n % 16 and
               int(m.group(4)) == 40000 + n % 16, line)
        expect(int(m.group(5)) == size - 42, line)


def write_packets(path, first, count, size):
    """Append packets first.. as records of one size (--size cuts them)."""
    data = b"".join(record(n, size) for n in range(first, first + count))
    mring("write", path, "--records", "--size", 16 + size, input=data)
    return [(n, size) for n in range(first, first + count)]


@test
def pcap_from_capture_records():
    path = create("cap.r", "--size", "1M", "--records")
    want = write_packets(path, 0, 100, 64)
    want += write_packets(path, 100, 20, 576)
    want += write_packets(path, 120, 5, 1500)
    out = mring("read", path, "--pcap", input=b"").stdout
    magic, major, minor, _, _, snaplen, link = struct.unpack("=IHHiIII",
                                                             out[:24])
    expect((magic, major, minor, link) == (0xa1b23c4d, 2, 4, 1),
           "pcap file header first: %r" % out[:24])
    check_packets(tcpdump(out), want)
    # Through a pipe, as the man page shows it.
    got = subprocess.run("%s read %s --pcap | %s -nn -r - | wc -l"
                         % (MRING, path, TCPDUMP), shell=True,
                         capture_output=True, text=True, timeout=120)
    expect(got.stdout.strip() == "125", got)


@test
def pcap_durable_consumer_each_run_a_whole_file():
    path = create("capd.r", "--size", "1M", "--records")
    mring("consumer", "add", path, "disk", "--from", "oldest")
    first = write_packets(path, 0, 10, 64)
    out1 = mring("read", path, "-c", "disk", "--pcap", input=b"").stdout
    check_packets(tcpdump(out1), first)
    second = write_packets(path, 10, 7, 576)
    out2 = mring("read", path, "-c", "disk", "--pcap", input=b"").stdout
    check_packets(tcpdump(out2), second)
    # Nothing new: still a valid, empty capture.
    out3 = mring("read", path, "-c", "disk", "--pcap", input=b"").stdout
    expect(len(out3) == 24 and tcpdump(out3) == [], out3)


@test
def pcap_from_a_wrapped_overwrite_ring():
    # A flight recorder of packets that lapped several times: the reader
    # starts at the oldest packet still there, and its output is still a
    # whole pcap stream.
    path = create("capw.r", "--size", "1M", "--records", "--overwrite")
    count = 30000  # 30000 * 96 bytes: almost 3 laps
    write_packets(path, 0, count, 64)
    lines = tcpdump(mring("read", path, "--pcap", input=b"").stdout)
    expect(10000 < len(lines) < count, "%d packets" % len(lines))
    first = count - len(lines)
    check_packets(lines, [(n, 64) for n in range(first, count)])


@test
def pcap_errors():
    b = create("capb.r", "--size", "1M")
    p = mring("read", b, "--pcap", rc=2)
    contains(p.stderr, "--pcap reads record rings", "byte ring")
    t = create("capt.r", "--size", "1M", "--records")
    mring("write", t, "--records", input="hello\nworld\n")
    mring("consumer", "add", t, "c", "--from", "oldest")
    for who in ([], ["-c", "c"], ["-c", "c"]):
        p = mring("read", t, "--pcap", *who, rc=1, input=b"")
        contains(p.stderr.decode(), "record at position 0 (5 bytes) is not "
                 "a packet in the format of examples/capture.c")
    # Not released: the durable consumer stays on it, nothing skipped.
    expect(mring("read", t, "-c", "c").stdout == "hello\nworld\n",
           "the consumer still reads both records")
    p = mring("read", t, "--pcap", "--raw", rc=2)
    contains(p.stderr, "choose one")


@test
def man_page_byte_ring_pipeline():
    # mring.1's example: a pcap stream (tcpdump -w -) through a byte ring
    # three times its size. The durable consumer registered before the
    # first byte gets the whole stream, its header included.
    path = create("capstream.r", "--size", "1M")
    mring("consumer", "add", path, "disk")
    hdr = struct.pack("=IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 65535, 1)
    pkts = [(n, 1500) for n in range(2500)]
    stream = hdr + b"".join(
        struct.pack("=IIII", (T0 + n * 1001) // 10**9,
                    (T0 + n * 1001) % 10**9, s, s) + frame(n, s)
        for n, s in pkts)
    expect(len(stream) > 3 << 20, "three laps")
    w = subprocess.Popen([MRING, "write", path], stdin=subprocess.PIPE)
    r = subprocess.Popen([MRING, "read", path, "--consumer", "disk",
                          "--follow"], stdout=subprocess.PIPE)
    feed = threading.Thread(target=lambda: (w.stdin.write(stream),
                                            w.stdin.close()))
    feed.start()
    out = r.stdout.read()
    feed.join(60)
    expect(w.wait(60) == 0 and r.wait(60) == 0, "clean exits")
    expect(out == stream, "the stream came through whole")
    check_packets(tcpdump(out), pkts)


main()
