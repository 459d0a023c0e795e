"""Security conventions of the tool: symbolic links are not followed, a
ring owned by another user is refused unless --any-owner, and no
execute bits in --mode."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, tmp, contains, expect, test, main,  # noqa
                       create, Skip)


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
def no_execute_bits():
    for m in ("0700", "0755", "4600"):
        p = mring("create", tmp("m%s.r" % m), "--size", "1M", "--mode", m,
                  rc=2)
        contains(p.stderr, "--mode %s" % m, "no execute bits")


main()
