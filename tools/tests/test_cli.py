"""Global conventions: --help, --version, every subcommand's --help, and
usage errors with exit status 2."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import mring, contains, expect, test, main  # noqa: E402

COMMANDS = ["create", "info", "write", "read", "consumers", "consumer",
            "stat", "check", "bench"]


@test
def help_lists_commands():
    p = mring("--help")
    contains(p.stdout, "Usage: mring", "Exit status", *COMMANDS)
    expect(p.stderr == "", "help writes to stdout only")


@test
def version_names_tool_and_library():
    p = mring("--version")
    contains(p.stdout, "mring ", "library ", "ring format 2")


@test
def every_subcommand_has_help():
    for c in COMMANDS:
        p = mring(c, "--help")
        contains(p.stdout, "Usage: mring " + c)


@test
def usage_errors_exit_2():
    p = mring(rc=2)
    contains(p.stderr, "Usage: mring")
    p = mring("frobnicate", rc=2)
    contains(p.stderr, "unknown command 'frobnicate'", "mring --help")
    p = mring("--bogus", rc=2)
    contains(p.stderr, "unknown option")
    for c in COMMANDS:
        p = mring(c, rc=2)
        contains(p.stderr, "mring %s --help" % c)
        p = mring(c, "--no-such-option", "x", rc=2)
        contains(p.stderr, "mring %s --help" % c)


@test
def extra_arguments_are_refused():
    p = mring("info", "a", "b", rc=2)
    contains(p.stderr, "unexpected argument 'b'")


@test
def man_page_documents_every_option():
    man = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "mring.1")
    with open(man) as f:
        text = f.read().replace("\\-", "-")
    for c in COMMANDS:
        contains(text, ".SS " + c if c != "consumer" else ".SS consumer ")
        for opt in set(re.findall(r"--[a-z][a-z-]*", mring(c, "--help")
                                  .stdout)):
            contains(text, opt)


ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def man_text():
    with open(os.path.join(ROOT, "tools", "mring.1")) as f:
        return f.read().replace("\\-", "-")


def man_section(name):
    text = man_text()
    start = text.index(".SH " + name + "\n")
    end = text.find("\n.SH ", start + 1)
    return text[start:end if end >= 0 else len(text)]


@test
def man_page_environment_lists_every_variable():
    # Every variable the library or the tool reads: getenv("...") and the
    # library's mring__env_set("...").
    names = set()
    for d in ("ring/src", "tools/mring"):
        for f in os.listdir(os.path.join(ROOT, d)):
            if f.endswith(".c"):
                with open(os.path.join(ROOT, d, f)) as src:
                    names |= set(re.findall(
                        r'(?:getenv|mring__env_set)\("([A-Z0-9_]+)"\)',
                        src.read()))
    expect(len(names) >= 7, names)
    env = man_section("ENVIRONMENT")
    for n in sorted(names):
        contains(env, ".B " + n + "\n")


@test
def size_units_agree():
    # The same units, said the same way, in --help, the man page and the
    # error messages, and each of them accepted.
    units = "K, M, G, T or P"
    contains(mring("--help").stdout, units, "powers of")
    contains(mring("create", "--help").stdout, units, "powers of 1024")
    contains(man_section("SIZES"), units, "powers of 1024")
    p = mring("create", "/nonexistent/x", "--size", "1X", rc=2)
    contains(p.stderr, units, "powers of 1024")
    p = mring("create", "/nonexistent/x", "--size", "lots", rc=2)
    contains(p.stderr, units, "powers of 1024")
    for u in ("K", "M", "G", "T", "P", "KiB", "GB", ""):
        p = mring("write", "/nonexistent/x", "--sync-every", "1" + u, rc=2)
        expect("--sync-every" not in p.stderr, "1%s refused: %s"
               % (u, p.stderr))
        contains(p.stderr, "no such file")


main()
