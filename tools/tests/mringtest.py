"""Helpers for the mring tool's tests: run the real binary, temporary
directories, running as an unprivileged user, and a tiny test runner.

Each test_*.py takes the path of the mring binary as its only argument,
runs its test functions in order and exits 0 (all passed), 1 (a failure)
or 77 (nothing could run here).
"""
import atexit
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import traceback

MRING = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "mring"
_TESTS = []
_TMP = tempfile.mkdtemp(prefix="mring-tool-test-")
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
# The unprivileged user must be able to reach files in the directory.
os.chmod(_TMP, 0o755)


class Skip(Exception):
    """Raised by a test that cannot run in this environment."""


def tmp(name):
    """A path inside this run's temporary directory."""
    return os.path.join(_TMP, name)


def mring(*args, rc=0, input=None, env=None, user=None, timeout=120,
          exe=None):
    """Run mring (or the copy exe) with args; check the exit status unless
    rc is None. Returns the CompletedProcess (stdout and stderr as text)."""
    cmd = [exe or MRING] + [str(a) for a in args]
    if user:
        cmd, env = as_user(cmd, env)
    p = subprocess.run(cmd, input=input, capture_output=True, env=env,
                       timeout=timeout,
                       text=not isinstance(input, bytes))
    if rc is not None and p.returncode != rc:
        raise AssertionError(
            "%s: exit %d, expected %d\nstdout: %s\nstderr: %s"
            % (" ".join(cmd), p.returncode, rc, p.stdout, p.stderr))
    return p


def sh(script, timeout=300):
    """Run a bash script (-e, no pipefail: generators such as yes die of
    SIGPIPE) with MRING and T (the temporary directory) set; returns
    stdout (text), checks the status is 0."""
    env = dict(os.environ, MRING=MRING, T=_TMP)
    p = subprocess.run(["bash", "-ec", script],
                       capture_output=True, text=True, env=env,
                       timeout=timeout)
    if p.returncode != 0:
        raise AssertionError("script failed (%d): %s\nstdout: %s\nstderr: %s"
                             % (p.returncode, script, p.stdout, p.stderr))
    return p.stdout


_NOBODY = None


def _others_can_read(path):
    """Whether a user with no rights of its own can open path: every
    directory above it searchable by others, the file readable."""
    path = os.path.realpath(path)
    if not os.stat(path).st_mode & stat.S_IROTH:
        return False
    d = os.path.dirname(path)
    while True:
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return False
        if d == os.path.dirname(d):
            return True
        d = os.path.dirname(d)


def _libraries(exe, pre=(), env=None):
    """({soname: path}, loader output) of the shared libraries the dynamic
    loader picks for exe, run through pre (a static executable has none);
    "not found" and a failed load raise."""
    # Through env(1), so that the loader traces exe, not pre's program.
    cmd = list(pre) + ["env", "LD_TRACE_LOADED_OBJECTS=1", exe]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                       env=env)
    out = p.stdout + p.stderr
    if p.returncode != 0 or "not found" in out:
        raise AssertionError("%s cannot load:\n%s" % (" ".join(cmd), out))
    libs = {}
    for line in p.stdout.splitlines():
        m = re.match(r"\s*(\S+) => (.*?)(?: \(0x[0-9a-f]+\))?$", line)
        if m:
            libs[m.group(1)] = m.group(2)
    return libs, out


def _nobody_tool():
    """(exe, env) to run the tool as nobody. The build tree may sit where
    nobody cannot enter (a clone under a 0700 directory is common), so the
    binary under test and mring's own library (plus any other library
    nobody could not reach) are copied, byte for byte, into this run's
    directory, reachable by all, and the loader is pointed at them with
    LD_LIBRARY_PATH. Always, wherever the checkout is: one way to run, and
    the copies are the very files the root runs execute."""
    if not _others_can_read(_TMP):
        raise Skip("%s is not reachable by other users (TMPDIR?); "
                   "permission case skipped" % _TMP)
    libs, _ = _libraries(MRING)
    d = tmp("nobody-bin")
    os.mkdir(d)
    os.chmod(d, 0o755)
    exe = os.path.join(d, os.path.basename(MRING))
    shutil.copyfile(MRING, exe)
    copied = {}
    for name, path in libs.items():
        if os.path.isabs(path) and (name.startswith("libmring")
                                    or not _others_can_read(path)):
            copied[name] = os.path.join(d, name)
            shutil.copyfile(path, copied[name])
    for f in [exe] + list(copied.values()):
        os.chmod(f, 0o755)
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = d + (":" + env["LD_LIBRARY_PATH"]
                                  if env.get("LD_LIBRARY_PATH") else "")
    # The loader, run as nobody, must pick each copy (not another build,
    # nor an installed libmring) and find everything else.
    got, out = _libraries(exe, _NOBODY, env)
    for name, path in copied.items():
        expect(got.get(name) == path, "as nobody, %s resolves to %r, not "
               "the copy %s:\n%s" % (name, got.get(name), path, out))
    return exe, env


_NOBODY_TOOL = None


def as_user(cmd, env=None):
    """(cmd, env) to run cmd as the unprivileged user nobody (raises Skip if
    we can't). cmd[0] = the tool under test is replaced by a copy nobody
    can run (see _nobody_tool); env (None: ours) gets its library path."""
    global _NOBODY, _NOBODY_TOOL
    if _NOBODY is None:
        _NOBODY = False
        if os.geteuid() == 0 and shutil.which("setpriv"):
            pre = ["setpriv", "--reuid=65534", "--regid=65534",
                   "--clear-groups"]
            try:
                ok = subprocess.run(pre + ["true"], timeout=10).returncode == 0
            except OSError:
                ok = False
            if ok:
                _NOBODY = pre
    if not _NOBODY:
        raise Skip("cannot run as an unprivileged user (needs root and "
                   "setpriv); permission case skipped")
    if cmd[0] != MRING:
        return _NOBODY + cmd, env
    if _NOBODY_TOOL is None:
        _NOBODY_TOOL = _nobody_tool()
    exe, tenv = _NOBODY_TOOL
    if env is not None:
        tenv = dict(env, LD_LIBRARY_PATH=tenv["LD_LIBRARY_PATH"])
    return _NOBODY + [exe] + cmd[1:], tenv


def wait_for(pred, what, timeout=120):
    """Poll pred until it is true. The deadline only ends a hang: it is
    far above what a loaded machine needs, so that no result depends on
    the machine's speed."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


# A rate as the tool prints it: a number and a unit of bytes per second.
# fmt_rate() (tools/mring/util.c) picks the unit by the figure, MB/s or
# GB/s today, so which unit a run prints depends on the machine's speed
# and load: tests match the shape and accept any byte-rate unit.
RATE = r"[0-9]+(?:\.[0-9]+)? (?:[kKMGTPE]i?)?B/s"


def matches(text, pattern):
    """The first match of the regular expression pattern in text."""
    m = re.search(pattern, text)
    if not m:
        raise AssertionError("expected /%s/ in:\n%s" % (pattern, text))
    return m


def contains(text, *needles):
    for n in needles:
        if n not in text:
            raise AssertionError("expected %r in:\n%s" % (n, text))


def create(name, *args):
    """Create a ring in the temporary directory; returns its path."""
    path = tmp(name)
    mring("create", path, *args)
    return path


def test(fn):
    _TESTS.append(fn)
    return fn


def main():
    if not os.access(MRING, os.X_OK):
        print("mring binary not found: %s" % MRING)
        sys.exit(77)
    failed = skipped = 0
    for fn in _TESTS:
        try:
            fn()
            print("PASS %s" % fn.__name__)
        except Skip as e:
            skipped += 1
            print("SKIP %s: %s" % (fn.__name__, e))
        except Exception:
            failed += 1
            print("FAIL %s" % fn.__name__)
            traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
    print("%d passed, %d failed, %d skipped"
          % (len(_TESTS) - failed - skipped, failed, skipped))
    if failed:
        sys.exit(1)
    if skipped == len(_TESTS):
        sys.exit(77)
    sys.exit(0)
