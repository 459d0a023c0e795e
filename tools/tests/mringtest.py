"""Helpers for the mring tool's tests: run the real binary, temporary
directories, running as an unprivileged user, and a tiny test runner.

Each test_*.py takes the path of the mring binary as its only argument,
runs its test functions in order and exits 0 (all passed), 1 (a failure)
or 77 (nothing could run here).
"""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
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
        cmd = as_user(cmd)
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


def as_user(cmd):
    """cmd run as the unprivileged user nobody (raises Skip if we can't)."""
    global _NOBODY
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
    return _NOBODY + cmd


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


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
