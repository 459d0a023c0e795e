"""Security conventions of the tool: symbolic links are not followed, a
ring owned by another user is refused unless --any-owner, and no
execute bits in --mode."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, tmp, contains, expect, test, main,  # noqa
                       create, Skip, as_user, MRING)


@test
def symlink_not_followed():
    path = create("real.r", "--size", "1M")
    link = tmp("link.r")
    os.symlink(path, link)
    for args in (["write", link], ["read", link], ["info", link],
                 ["consumer", "add", link, "c"], ["consumer", "rm", link, "c"],
                 ["check", link]):
        p = mring(*args, rc=2, input="")
        contains(p.stderr, "is a symbolic link", "target")
    # create never writes through a link.
    p = mring("create", link, "--size", "1M", rc=1)
    contains(p.stderr, "file exists")
    mring("write", path, input="through the real path\n")


@test
def other_owner_refused():
    if os.geteuid() != 0:
        raise Skip("chown needs root")
    path = create("owned.r", "--size", "1M")
    os.chown(path, 65534, 65534)
    p = mring("write", path, rc=2, input="x")
    contains(p.stderr, "belongs to another user", "uid 65534",
             "--any-owner")
    mring("write", path, "--any-owner", input="hello\n")
    p = mring("read", path, rc=2)
    contains(p.stderr, "belongs to another user")
    expect(mring("read", path, "--any-owner").stdout == "hello\n",
           "read --any-owner")
    # Inspection works on anyone's ring.
    contains(mring("info", path).stdout, "capacity      1 MiB")
    mring("consumer", "add", path, "c", "--any-owner")
    p = mring("consumer", "rm", path, "c", rc=2)
    contains(p.stderr, "belongs to another user", "run this as the ring's")
    # An unprivileged user and root's world-writable ring.
    os.chown(path, 0, 0)
    os.chmod(path, 0o666)
    p = mring("read", path, rc=2, user=True)
    contains(p.stderr, "belongs to another user")
    mring("read", path, "--any-owner", user=True)


@test
def read_only_reader():
    # A user who may only read a ring reads it as a read-only observer;
    # a durable consumer, which must store its position, gets told why
    # not.
    if os.geteuid() != 0:
        raise Skip("chown needs root")
    path = create("ro.r", "--size", "64K", "--records", "--timestamps",
                  "--mode", "0644")
    mring("write", path, "--records", input="a\nb\nc\n")
    # Root's ring, as nobody: another user's file needs the opt-in.
    p = mring("read", path, rc=2, user=True)
    contains(p.stderr, "Permission denied", "belongs to another user",
             "--any-owner", "read-only observer")
    p = mring("read", path, "--any-owner", user=True)
    expect(p.stdout == "a\nb\nc\n" and p.stderr == "", p)
    p = mring("read", path, "--any-owner", "--from", "seq:1", "--show",
              "seq", user=True)
    expect(p.stdout == "seq:1\tb\nseq:2\tc\n", p.stdout)
    p = mring("read", path, "--any-owner", "--consumer", "c", rc=2,
              user=True)
    contains(p.stderr, "durable consumer (--consumer) stores its position",
             "needs write access", "without --consumer, read is an "
             "observer, which only needs read permission")
    expect(mring("consumers", path, "--json").stdout.count("\"c\"") == 0,
           "no slot taken")
    # --follow: it polls, and ends with the stream.
    fresh = create("ro2.r", "--size", "64K", "--records", "--mode", "0644")
    cmd, env = as_user([MRING, "read", fresh, "--any-owner", "--follow"])
    r = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        mring("write", fresh, "--records", input="x\ny\n")
        out, _ = r.communicate(timeout=60)
    finally:
        if r.poll() is None:
            r.kill()
            r.wait()
    expect(r.returncode == 0 and out == "x\ny\n", (r.returncode, out))
    # nobody's own ring that nobody may not write: no opt-in needed.
    os.chown(path, 65534, 65534)
    os.chmod(path, 0o444)
    p = mring("read", path, user=True)
    expect(p.stdout == "a\nb\nc\n", p)
    p = mring("read", path, "-c", "c", rc=2, user=True)
    contains(p.stderr, "needs write access")


@test
def no_execute_bits():
    for m in ("0700", "0755", "4600"):
        p = mring("create", tmp("m%s.r" % m), "--size", "1M", "--mode", m,
                  rc=2)
        contains(p.stderr, "--mode %s" % m, "no execute bits")


main()
