"""mring write / mring read: byte and record round trips through pipes
with checksums, a restartable pipe, EPIPE, overwrite-mode loss reports,
progress output, and the roles' error paths."""
import fcntl
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, tmp, contains, expect, test, main,  # noqa
                       create, sh, matches, RATE, wait_for, MRING, Skip)

# 1 GiB by default, as the feature asks; MRING_TOOL_TEST_BYTES shrinks it.
BIG = int(os.environ.get("MRING_TOOL_TEST_BYTES", 1 << 30))


def info(path):
    return json.loads(mring("info", path, "--json").stdout)


@test
def big_round_trip_two_consumers():
    # A 64 MiB ring carries BIG bytes to two durable consumers reading at
    # the same time as the producer writes; back-pressure loses nothing.
    path = create("big.r", "--size", "64M")
    mring("consumer", "add", path, "x", "--from", "oldest")
    mring("consumer", "add", path, "y", "--from", "oldest")
    out = sh(r'''
        gen() { yes 'mring tool test line: 0123456789abcdefghijklmnop' |
                head -c %d; }
        want=$(gen | sha256sum)
        "$MRING" read "$T/big.r" --consumer x --follow | sha256sum \
            > "$T/x.sum" &
        rx=$!
        "$MRING" read "$T/big.r" --consumer y --follow | sha256sum \
            > "$T/y.sum" &
        ry=$!
        gen | "$MRING" write "$T/big.r"
        wait $rx
        wait $ry
        echo "$want"; cat "$T/x.sum" "$T/y.sum"
    ''' % BIG)
    want, x, y = out.split("\n")[:3]
    expect(want == x == y, "checksums differ:\n" + out)
    i = info(path)
    expect(i["head"] == BIG and i["eof"], i)
    for c in i["consumers"]:
        expect(c["position"] == BIG and c["lag"] == 0, c)



@test
def maint_priority_from_environment():
    # MRING_MAINT_PRIORITY makes the producer's maintenance thread
    # real-time. Without the right to that (no CAP_SYS_NICE: root loses
    # it at exec when the bounding set lacks it; no RLIMIT_RTPRIO),
    # `write` fails, the message names the variable, and the ring keeps
    # what it had.
    if os.geteuid() != 0:
        raise Skip("needs root to give and take away CAP_SYS_NICE")
    path = create("prio.r", "--size", "8M")
    data = os.urandom(3 << 20)
    env = dict(os.environ, MRING_MAINT_PRIORITY="1")
    mring("write", path, input=data, env=env)
    expect(info(path)["head"] == len(data), info(path))
    p = subprocess.run(["prlimit", "--rtprio=0:0", "setpriv",
                        "--bounding-set", "-sys_nice", MRING, "write",
                        path], input=data, capture_output=True, env=env,
                       timeout=120)
    expect(p.returncode != 0, p)
    contains(p.stderr.decode(), "MRING_MAINT_PRIORITY")
    expect(info(path)["head"] == len(data), info(path))
    env["MRING_MAINT_PRIORITY"] = "high"
    p = mring("write", path, input=data, env=env, rc=None)
    expect(p.returncode != 0, p)
    contains(p.stderr.decode(), "MRING_MAINT_PRIORITY")
    expect(info(path)["head"] == len(data), info(path))
    # Unset, the same restricted process writes.
    env.pop("MRING_MAINT_PRIORITY")
    subprocess.run(["prlimit", "--rtprio=0:0", "setpriv",
                    "--bounding-set", "-sys_nice", MRING, "write", path],
                   input=data, check=True, env=env, timeout=120)
    expect(info(path)["head"] == 2 * len(data), info(path))


@test
def random_bytes_exact():
    path = create("rnd.r", "--size", "1M")
    data = os.urandom(3 << 20)  # three laps of the ring
    mring("consumer", "add", path, "c")
    w = subprocess.Popen([MRING, "write", path], stdin=subprocess.PIPE)
    r = subprocess.Popen([MRING, "read", path, "-c", "c", "-f"],
                         stdout=subprocess.PIPE)
    # Feed from a thread: the ring and both pipes fill up meanwhile.
    def feed():
        w.stdin.write(data)
        w.stdin.close()
    t = threading.Thread(target=feed)
    t.start()
    got = r.stdout.read()
    t.join()
    expect(w.wait(60) == 0 and r.wait(60) == 0, "exit status")
    expect(hashlib.sha256(got).digest() == hashlib.sha256(data).digest(),
           "%d bytes back of %d" % (len(got), len(data)))


def pipe_size(fd):
    return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)


def read_all(path):
    return subprocess.run([MRING, "read", path], capture_output=True,
                          check=True, timeout=120).stdout


@test
def small_writes_through_a_grown_pipe():
    # `write` grows a pipe on stdin to 1 MiB and, after a short read,
    # lets it fill before reading again (so a writer of small pieces does
    # not wake it for each). Byte and record mode: every piece arrives,
    # in order, whatever the reads cut.
    rnd = random.Random(7)
    for mode in ("bytes", "records"):
        args = ["--records"] if mode == "records" else []
        path = create("small-%s.r" % mode, "--size", "4M", *args)
        rfd, wfd = os.pipe()
        fcntl.fcntl(wfd, fcntl.F_SETPIPE_SZ, 4096)
        w = subprocess.Popen([MRING, "write", path] + args, stdin=rfd)
        os.close(rfd)
        wait_for(lambda: pipe_size(wfd) == 1 << 20, "the pipe to grow")
        if mode == "records":
            pieces = [b"%d:%s\n" % (i, b"x" * rnd.randrange(40))
                      for i in range(20000)]
        else:
            pieces = [os.urandom(rnd.randrange(1, 300))
                      for i in range(20000)]
        for piece in pieces:
            os.write(wfd, piece)
        os.close(wfd)
        expect(w.wait(120) == 0, "write's exit status")
        got, want = read_all(path), b"".join(pieces)
        expect(got == want, "%s: %d bytes back of %d, differing"
               % (mode, len(got), len(want)))


@test
def restartable_pipe():
    path = create("pipe.r", "--size", "1M")
    mring("consumer", "add", path, "x")
    mring("write", path, input=b"first\n")
    expect(mring("read", path, "--consumer", "x").stdout == "first\n", "1")
    # Nothing new: read stops at once without --follow.
    expect(mring("read", path, "--consumer", "x").stdout == "", "empty")
    mring("write", path, input=b"second\n")
    mring("write", path, input=b"third\n")
    expect(mring("read", path, "--consumer", "x").stdout ==
           "second\nthird\n", "resumes where it left off")
    # An observer starts at the oldest data, or at the newest.
    expect(mring("read", path).stdout == "first\nsecond\nthird\n", "all")
    expect(mring("read", path, "--from", "newest").stdout == "", "newest")


@test
def records_lines_and_fixed():
    path = create("rec.r", "--size", "1M", "--records", "--crc",
                  "--max-record", "4K")
    lines = "".join("line %d\n" % i for i in range(20000))
    mring("consumer", "add", path, "a", "--from", "oldest")
    mring("write", path, "--records", input=lines)
    p = mring("read", path, "--consumer", "a")
    expect(p.stdout == lines, "records come back one per line")
    i = info(path)
    # Each record: a 16-byte header and the payload padded to 8 bytes.
    size = sum(16 + (len("line %d" % k) + 7) // 8 * 8 for k in range(20000))
    expect(i["head"] == size, (size, i))

    # Empty lines are skipped; --keep-delim keeps them exact with --raw.
    mring("write", path, "--records", input="a\n\nb")
    expect(mring("read", path, "-c", "a").stdout == "a\nb\n", "no empty")
    data = "a\n\nb,c\n"
    mring("write", path, "--records", "--keep-delim", input=data)
    expect(mring("read", path, "-c", "a", "--raw").stdout == data, "raw")
    mring("write", path, "--records", "--delim", ",", input="p,q,r")
    expect(mring("read", path, "-c", "a").stdout == "p\nq\nr\n", "delim")
    blob = os.urandom(10000)
    mring("write", path, "--records", "--size", "3000", input=blob)
    out = mring("read", path, "-c", "a", "--raw", input=b"").stdout
    expect(out == blob, "fixed-size records, raw")


@test
def records_too_long_or_wrong_mode():
    path = create("rl.r", "--size", "1M", "--records", "--max-record", "1K")
    p = mring("write", path, "--records", input="x" * 2000 + "\n", rc=1)
    contains(p.stderr, "record of 2000 bytes is longer than the ring's max "
             "record (1024 bytes)", "--max-record")
    p = mring("write", path, input="x", rc=2)
    contains(p.stderr, "this is a record ring", "--records")
    p = mring("write", path, "--records", "--size", "2K", input="x", rc=2)
    contains(p.stderr, "larger than the ring's max record")
    b = create("rb.r", "--size", "1M")
    p = mring("write", b, "--records", input="x", rc=2)
    contains(p.stderr, "this is a byte ring")
    p = mring("write", b, "--delim", ",", input="x", rc=2)
    contains(p.stderr, "need --records")


@test
def epipe_is_quiet_and_keeps_position():
    path = create("ep.r", "--size", "64M")
    mring("consumer", "add", path, "x", "--from", "oldest")
    sh('yes 0123456789 | head -c 20000000 | "$MRING" write "$T/ep.r"')
    out = sh('"$MRING" read "$T/ep.r" --consumer x 2>"$T/ep.err" | '
             'head -c 100 >/dev/null; echo "${PIPESTATUS[0]}"; '
             'cat "$T/ep.err"')
    expect(out == "0\n", "exit 0 and nothing on stderr: %r" % out)
    c = info(path)["consumers"][0]
    # Released only what the pipe took: the rest is still to be read.
    expect(0 < c["position"] < 20000000, c)
    rest = sh('"$MRING" read "$T/ep.r" --consumer x | wc -c')
    expect(int(rest) == 20000000 - c["position"], (rest, c))


@test
def overwrite_mode_reports_loss():
    path = create("ow.r", "--size", "1M", "--overwrite")
    mring("consumer", "add", path, "slow", "--from", "oldest")
    data = bytes(range(256)) * (4 << 12)  # 4 MiB, four laps
    mring("write", path, input=data)
    p = mring("read", path, "--consumer", "slow", input=b"")
    contains(p.stderr.decode(), "lapped by the producer", "lost")
    expect(0 < len(p.stdout) <= 1 << 20, len(p.stdout))
    expect(data.endswith(p.stdout), "what is left is the newest data")


@test
def progress_output():
    path = create("pg.r", "--size", "1M")
    p = mring("write", path, "--progress=always", input="x" * 100000)
    # The summary line; the rate's figure and unit depend on the machine.
    matches(p.stderr, r"mring: 97\.7 KiB written in [0-9]+\.[0-9] s, "
            + RATE + "\n")
    # It also says what the producer's maintenance thread does; a 1 MiB
    # ring fits any page-cache budget, so AUTO leaves data in place.
    contains(p.stderr, "maintenance thread on system calls",
             "reclaim policy none")
    env = dict(os.environ, MRING_NO_PREFETCH="1")
    p = mring("write", path, "--progress=always", input="x", env=env)
    contains(p.stderr, "no maintenance thread")
    p = mring("read", path, "--progress=always")
    matches(p.stderr, r"mring: 97\.7 KiB read in [0-9]+\.[0-9] s, "
            + RATE + "\n")
    # Default: only on a terminal, and stderr is a pipe here.
    p = mring("write", path, "--progress", input="x")
    expect(p.stderr == "", p.stderr)
    p = mring("write", path, "--progress=sometimes", input="x", rc=2)
    contains(p.stderr, "expected auto, always or never")


@test
def recovery_progress():
    # A record ring last written in another page cache (a reboot, emulated
    # by another boot id at offset 352, ring/FORMAT.md): opening it as
    # producer checks the records after the last sync, and
    # --progress=always shows that from the start, then the totals.
    # --no-sync: write syncs at the end by default, which leaves nothing
    # after the last sync to check.
    path = create("recover.r", "--size", "1M", "--records")
    mring("write", path, "--records", "--no-sync", input="line\n" * 1000)
    with open(path, "r+b") as f:
        f.seek(352)
        f.write(b"00000000-reboot\0")
    p = mring("write", path, "--records", "--progress=always",
              input="more\n")
    contains(p.stderr, "recovering ring: 23.4 KiB of 23.4 KiB checked",
             "recovered ring: 23.4 KiB checked in")
    expect(info(path)["head"] == 1001 * 24, info(path))
    # --progress=never: nothing, however long it takes.
    with open(path, "r+b") as f:
        f.seek(352)
        f.write(b"00000000-reboot\0")
    p = mring("write", path, "--records", "--progress=never", input="x\n")
    expect(p.stderr == "", p.stderr)


@test
def one_producer_one_reader_per_name():
    path = create("busy.r", "--size", "1M")
    mring("consumer", "add", path, "x")
    w = subprocess.Popen([MRING, "write", path], stdin=subprocess.PIPE)
    r = subprocess.Popen([MRING, "read", path, "-c", "x", "-f"],
                         stdout=subprocess.DEVNULL)
    try:
        # The library takes the producer lock before it stores its pid:
        # wait for both, or the message may not know the pid yet.
        wait_for(lambda: info(path)["producer"]["pid"] == w.pid and
                 info(path)["producer"]["alive"] and
                 info(path)["consumers"][0]["alive"], "attach")
        p = mring("write", path, input="x", rc=1)
        contains(p.stderr, "another producer is attached",
                 "process %d is writing to it" % w.pid)
        p = mring("read", path, "--consumer", "x", rc=1)
        contains(p.stderr, "consumer 'x' is already attached",
                 "live process %d" % r.pid)
    finally:
        w.stdin.close()
        w.wait(30)
        r.wait(30)
    expect(w.returncode == 0 and r.returncode == 0, "clean exits")


@test
def sigterm_closes_cleanly():
    path = create("sig.r", "--size", "1M")
    r = subprocess.Popen([MRING, "read", path, "-c", "z", "-f"],
                         stdout=subprocess.DEVNULL)
    wait_for(lambda: info(path)["consumers"] and
             info(path)["consumers"][0]["alive"], "reader attached")
    r.send_signal(signal.SIGTERM)
    expect(r.wait(30) == 128 + signal.SIGTERM, r.returncode)
    c = info(path)["consumers"][0]
    expect(c["name"] == "z" and not c["alive"], c)


def write_then_stop(path, data, ready, what):
    """mring write --records of `data`, SIGTERM once ready() holds; the
    tool's standard error."""
    w = subprocess.Popen([MRING, "write", path, "--records"],
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        w.stdin.write(data)
        w.stdin.flush()
        wait_for(ready, what)
        w.send_signal(signal.SIGTERM)
        expect(w.wait(30) == 128 + signal.SIGTERM, w.returncode)
    finally:
        w.stdin.close()
        w.kill()
        w.wait(30)
    return w.stderr.read().decode()


@test
def signal_writes_what_was_read():
    # A signal ends the input: the records read so far are written, the
    # unfinished last one as at the end of input. One pipe write, read at
    # once: two records (24 bytes each) in the ring means "thr" is in the
    # tool's buffer.
    path = create("sigrec.r", "--size", "1M", "--records")
    err = write_then_stop(path, b"one\ntwo\nthr",
                          lambda: info(path)["head"] == 48,
                          "two records written")
    expect(err == "", err)
    p = mring("read", path)
    expect(p.stdout == "one\ntwo\nthr\n", p.stdout)

    # No room for it (a durable consumer a whole ring behind): said.
    path = create("sigfull.r", "--size", "64K", "--records",
                  "--max-record", "4K")
    mring("consumer", "add", path, "d")
    err = write_then_stop(
        path, (b"y" * 1000 + b"\n") * 100,
        lambda: info(path)["producer"]["blocked_by"] == ["d"],
        "the writer waits for d")
    contains(err, "stopped by a signal while the ring was full",
             "bytes read from stdin are not in it")


@test
def file_errors():
    p = mring("read", tmp("none.r"), rc=2)
    contains(p.stderr, "none.r: no such file")
    p = mring("write", tmp("none.r"), input="", rc=2)
    contains(p.stderr, "none.r: no such file")
    with open(tmp("txt"), "w") as f:
        f.write("not a ring\n")
    p = mring("read", tmp("txt"), rc=2)
    contains(p.stderr, "bad magic number")
    p = mring("read", tmp("txt"), "--consumer", "x" * 32, rc=2)
    contains(p.stderr, "1 to 31 bytes")
    path = create("ro.r", "--size", "1M")
    os.chmod(path, 0o444)
    # An observer needs only read permission: for another user's ring,
    # the opt-in (test_security.read_only_reader goes further).
    p = mring("read", path, rc=2, user=True)
    contains(p.stderr, "ro.r: Permission denied", "another user",
             "--any-owner")


main()
