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


main()
