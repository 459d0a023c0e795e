"""mring bench: finding the benchmark programs (build tree, installed
layout, MRING_BENCH_DIR), the hint when they are not built, and a run of a
few seconds of the loop-around benchmark through the tool.

CTest sets MRING_TEST_BENCH=1 when this build has the benchmarks
(-DMRING_BUILD_BENCH=ON), and MRING_TEST_LIBEXEC_REL to where the tool
looks for them once installed, relative to its own directory."""
import csv
import io
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mringtest import (mring, tmp, contains, expect, test, main,  # noqa
                       Skip, MRING)

BUILT = os.environ.get("MRING_TEST_BENCH") == "1"
LIBEXEC_REL = os.environ.get("MRING_TEST_LIBEXEC_REL", "../libexec/mring")
# The build tree puts the tool in tools/ and the benchmarks in bench/.
LOOP = os.path.join(os.path.dirname(MRING), "..", "bench",
                    "mring-bench-loop")


def env(**kw):
    """The environment without the user's MRING_BENCH_DIR, plus kw."""
    e = {k: v for k, v in os.environ.items() if k != "MRING_BENCH_DIR"}
    e.update(kw)
    return e


def need_built():
    if not BUILT:
        raise Skip("benchmarks not built here (-DMRING_BUILD_BENCH=OFF)")


@test
def help_and_usage_errors():
    p = mring("bench", "--help")
    contains(p.stdout, "Usage: mring bench loop|ipc", "mring-bench-loop",
             "mring-bench-ipc", "-DMRING_BUILD_BENCH=ON", "MRING_BENCH_DIR")
    p = mring("bench", rc=2)
    contains(p.stderr, "missing BENCHMARK", "mring bench --help")
    p = mring("bench", "frob", rc=2)
    contains(p.stderr, "unknown benchmark 'frob' (loop or ipc)")
    p = mring("bench", "--frob", rc=2)
    contains(p.stderr, "unknown option '--frob'")


@test
def not_found_says_where_it_looked():
    empty = tmp("no-bench")
    os.mkdir(empty)
    p = mring("bench", "loop", "--list", rc=1,
              env=env(MRING_BENCH_DIR=empty))
    contains(p.stderr, "mring-bench-loop not found in " + empty,
             "unset it")
    expect(p.stdout == "", p.stdout)


@test
def not_built_says_how_to_build():
    """A copy of the tool alone, in a prefix without the programs."""
    bindir = tmp("bare/bin")
    os.makedirs(bindir)
    tool = shutil.copy2(MRING, bindir)
    p = mring("bench", "ipc", rc=1, env=env(), exe=tool)
    libexec = os.path.normpath(os.path.join(bindir, LIBEXEC_REL))
    contains(p.stderr, "mring-bench-ipc not found", "looked in " + libexec,
             "-DMRING_BUILD_BENCH=ON")


@test
def finds_the_build_tree():
    need_built()
    p = mring("bench", "loop", "--list", env=env())
    contains(p.stdout, "naive", "pwrite", "mring")
    # Its own usage error comes through with its status.
    p = mring("bench", "loop", "--strategy", "no-such", rc=2, env=env())
    contains(p.stderr, "usage: loop")


@test
def finds_the_installed_layout():
    """A copy of the tool in PREFIX/bin finds PREFIX/<libexec>/mring; the
    build-tree copy still loads the library through its build RPATH."""
    need_built()
    bindir = tmp("prefix/bin")
    os.makedirs(bindir)
    libexec = os.path.normpath(os.path.join(bindir, LIBEXEC_REL))
    os.makedirs(libexec)
    tool = shutil.copy2(MRING, bindir)
    shutil.copy2(LOOP, libexec)
    p = mring("bench", "loop", "--list", env=env(), exe=tool)
    contains(p.stdout, "mring")
    os.unlink(os.path.join(libexec, "mring-bench-loop"))
    p = mring("bench", "loop", "--list", rc=1, env=env(), exe=tool)
    contains(p.stderr, "looked in " + libexec)


@test
def loop_smoke_run():
    need_built()
    d = tmp("loop-run")
    os.mkdir(d)
    p = mring("bench", "loop", "--strategy", "mring", "--writers", "1",
              "--file-size", "32M", "--window", "8M", "--laps", "2",
              "--dir", d, "--header", env=env(), timeout=170)
    # bench/loop.c prints every lap's rate in GB/s, whatever the figure.
    contains(p.stderr, "lap 1:", "lap 2:", "GB/s", "p99", "majflt")
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    expect(len(rows) == 2, p.stdout)
    for lap, r in enumerate(rows, 1):
        expect(r["strategy"] == "mring" and int(r["lap"]) == lap, r)
        # A whole lap of data went through; its rate is only a figure
        # (%.4f GB/s: a slow or loaded machine may print 0.0000).
        expect(int(r["complete"]) == 1 and
               int(r["bytes"]) >= int(r["file_bytes"]) > 0 and
               float(r["gbps"]) >= 0, r)
    expect(os.listdir(d) == [], "benchmark files removed")


main()
