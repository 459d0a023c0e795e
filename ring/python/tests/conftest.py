"""Shared fixtures: a fresh ring path per test, the built mring tool."""
import os
import pathlib
import shutil
import tempfile

import pytest

HERE = pathlib.Path(__file__).resolve().parent


def _tool():
    t = os.environ.get("MRING_TOOL")
    if t:
        return t
    for cand in (HERE.parents[2] / "build" / "tools" / "mring",):
        if cand.exists():
            return str(cand)
    return shutil.which("mring")


@pytest.fixture
def tool():
    t = _tool()
    if not t:
        pytest.skip("the mring tool is not built (set MRING_TOOL)")
    return t


@pytest.fixture
def ringdir():
    # /dev/shm when there is one: tmpfs, like most capture pipelines.
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    d = tempfile.mkdtemp(prefix="mring-py-", dir=base)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def path(ringdir):
    return str(ringdir / "test.ring")


# Subprocesses run this interpreter with the binding importable.
@pytest.fixture
def pyenv():
    env = dict(os.environ)
    import mring
    pkg = str(pathlib.Path(mring.__file__).resolve().parents[1])
    env["PYTHONPATH"] = pkg + os.pathsep + env.get("PYTHONPATH", "")
    return env
