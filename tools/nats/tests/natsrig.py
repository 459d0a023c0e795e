"""Real nats-server processes for the mring-nats tests: one node or a
three-node JetStream cluster, on free 127.0.0.1 ports in 14000-19999,
with their storage in a temporary directory; everything is killed and
removed at exit, whatever happened. Also: the test runner (as
tools/tests/mringtest.py), record generation and checking.

Each test_nats_*.py takes the mring-nats binary and the mring binary as
arguments, runs its test functions in order and exits 0, 1 or 77 (no
nats-server here)."""
import atexit
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import threading
import traceback
import urllib.request

BRIDGE = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "mring-nats"
MRING = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "mring"
NATS_SERVER = shutil.which("nats-server") or (
    "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server")
    else None)
TMP = tempfile.mkdtemp(prefix="mring-nats-test-")
_PROCS = []  # every process started, killed at exit
_TESTS = []


def _cleanup():
    for p in _PROCS:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    shutil.rmtree(TMP, ignore_errors=True)


atexit.register(_cleanup)
# A test killed by CTest's timeout (SIGTERM) still cleans up.
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


def tmp(name):
    return os.path.join(TMP, name)


_used_ports = set()


def free_port():
    """A port in 14000-19999 nobody listens on (bounded tries)."""
    for _ in range(200):
        port = random.randint(14000, 19999)
        if port in _used_ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        _used_ports.add(port)
        return port
    raise AssertionError("no free port in 14000-19999")


def spawn(cmd, log=None, **kw):
    """Start a process in its own process group; remembered for cleanup."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    p = subprocess.Popen([str(c) for c in cmd], stdout=kw.pop("stdout", out),
                         stderr=out, start_new_session=True, **kw)
    _PROCS.append(p)
    return p


def wait_port(port, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on 127.0.0.1:%d after %d s"
                         % (port, timeout))


class Node:
    """One nats-server with JetStream, its config file and storage."""

    def __init__(self, name, port, conf):
        self.name, self.port, self.conf = name, port, conf
        self.proc = None
        self.log = tmp(name + ".log")

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def start(self):
        self.proc = spawn([NATS_SERVER, "-c", self.conf], log=self.log)
        wait_port(self.port)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class Cluster:
    """n nodes (1: a single server); urls for -s."""

    def __init__(self, n=1, max_payload=None, start=True):
        self.nodes = []
        ports = [free_port() for _ in range(n)]
        hports = [free_port() for _ in range(n)]
        cports = [free_port() for _ in range(n)] if n > 1 else []
        for i in range(n):
            name = "n%d" % i
            store = tmp("js-" + name)
            os.makedirs(store, exist_ok=True)
            conf = ["server_name: %s" % name,
                    "listen: 127.0.0.1:%d" % ports[i],
                    "http: 127.0.0.1:%d" % hports[i],
                    "jetstream { store_dir: \"%s\" }" % store]
            if max_payload:
                conf.append("max_payload: %d" % max_payload)
            if n > 1:
                routes = ", ".join("nats://127.0.0.1:%d" % p
                                   for j, p in enumerate(cports) if j != i)
                conf.append("cluster { name: mringtest, listen: "
                            "127.0.0.1:%d, routes: [%s] }"
                            % (cports[i], routes))
            path = tmp(name + ".conf")
            with open(path, "w") as f:
                f.write("\n".join(conf) + "\n")
            self.nodes.append(Node(name, ports[i], path))
            self.nodes[-1].http = hports[i]
        if start:
            self.start()

    def start(self):
        for nd in self.nodes:
            nd.proc = spawn([NATS_SERVER, "-c", nd.conf], log=nd.log)
        for nd in self.nodes:
            wait_port(nd.port)

    @property
    def urls(self):
        return ",".join(nd.url for nd in self.nodes)

    def stop(self):
        for nd in self.nodes:
            nd.stop()

    def leader(self, stream, timeout=30):
        """The node that leads `stream` now (asked of the live nodes'
        monitoring port), waiting for an election if need be."""
        end = time.time() + timeout
        while time.time() < end:
            for nd in self.nodes:
                if not nd.proc or nd.proc.poll() is not None:
                    continue
                try:
                    with urllib.request.urlopen(
                            "http://127.0.0.1:%d/jsz?accounts=true&"
                            "streams=true" % nd.http, timeout=2) as r:
                        js = json.loads(r.read())
                except (OSError, ValueError):
                    continue
                for acc in js.get("account_details") or []:
                    for st in acc.get("stream_detail") or []:
                        if st.get("name") != stream:
                            continue
                        lead = (st.get("cluster") or {}).get("leader")
                        for cand in self.nodes:
                            if cand.name == lead and cand.proc and \
                                    cand.proc.poll() is None:
                                return cand
            time.sleep(0.2)
        raise AssertionError("no leader for stream %s after %d s"
                             % (stream, timeout))


def require_server():
    if not NATS_SERVER:
        raise Skip("nats-server not installed (tools/deps.sh installs it)")


class Skip(Exception):
    pass


def run(*args, rc=0, timeout=120, input=None):
    """Run a command to its end; check its status unless rc is None."""
    cmd = [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, timeout=timeout,
                       input=input)
    if rc is not None and p.returncode != rc:
        raise AssertionError("%s: exit %d, expected %d\nstdout: %s\n"
                             "stderr: %s" % (" ".join(cmd), p.returncode,
                                             rc, p.stdout[-2000:],
                                             p.stderr[-4000:]))
    return p


def bridge(*args, **kw):
    return run(BRIDGE, *args, **kw)


def mring(*args, **kw):
    return run(MRING, *args, **kw)


# ------------------------------------------------------------------
# Records derived from their number, so checking needs no stored copy.

def record(i):
    """Record i: its number and a filler, 9 to 3008 bytes, mixed (mean
    about 150)."""
    n = (i * 2654435761) % 256 if i % 1000 else 3000
    return b"%08d" % i + bytes([97 + i % 26]) * n


def write_records(ring, start, count, timeout=300):
    """Append records start..start+count-1 with 'mring write' (one per
    line); returns the process (it may wait on back-pressure)."""
    data = b"".join(record(i) + b"\n"
                    for i in range(start, start + count))
    return run(MRING, "write", ring, "--records", "--no-sync",
               input=data, timeout=timeout)


def spawn_writer(ring, start, count, log=None, rate=None):
    """'mring write' of records start.. in the background, fed from a
    file, or at about `rate` records a second by a thread (so that a
    test's faults happen while records flow); returns the process."""
    if rate:
        p = spawn([MRING, "write", ring, "--records", "--no-sync"],
                  log=log, stdin=subprocess.PIPE)

        def feed():
            step = max(1, rate // 20)
            try:
                for i in range(start, start + count, step):
                    n = min(step, start + count - i)
                    p.stdin.write(b"".join(record(k) + b"\n"
                                           for k in range(i, i + n)))
                    time.sleep(0.05)
                p.stdin.close()
            except (BrokenPipeError, ValueError):
                pass
        threading.Thread(target=feed, daemon=True).start()
        return p
    path = tmp("in-%d-%d" % (start, count))
    with open(path, "wb") as f:
        for i in range(start, start + count):
            f.write(record(i) + b"\n")
    return spawn([MRING, "write", ring, "--records", "--no-sync"],
                 log=log, stdin=open(path, "rb"))


def check_ring(ring, start, count):
    """The ring holds exactly records start..start+count-1, in order,
    each once: read it all and compare every record."""
    p = run(MRING, "read", ring, timeout=300)
    lines = p.stdout.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    problems = []
    if len(lines) != count:
        problems.append("%d records, expected %d" % (len(lines), count))
    for k, got in enumerate(lines):
        want = record(start + k)
        if got != want:
            num = got[:8]
            problems.append("record %d of the ring is %r..., expected "
                            "record %d" % (k, num, start + k))
            break
    if problems:
        raise AssertionError("far ring wrong: " + "; ".join(problems))


def check_subsequence(ring, total):
    """The ring holds some of records 0..total-1, each intact, in
    increasing order, none twice; returns how many."""
    p = run(MRING, "read", ring, timeout=300)
    lines = p.stdout.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    last = -1
    for k, got in enumerate(lines):
        i = int(got[:8])
        if i <= last or i >= total or got != record(i):
            raise AssertionError("far ring record %d is %r..., after "
                                 "record %d" % (k, got[:12], last))
        last = i
    return len(lines)


def wait_log(path, text, timeout=60):
    """Wait until the log file at path contains text (bytes)."""
    def found():
        try:
            with open(path, "rb") as f:
                return text in f.read()
        except OSError:
            return False
    wait_for(found, "%r in %s" % (text, os.path.basename(path)), timeout)


def wait_for(pred, what, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out after %d s waiting for %s"
                         % (timeout, what))


def ring_records(ring):
    """How many records the ring's producer has committed (info)."""
    p = mring("info", ring, "--json")
    return json.loads(p.stdout)


def wait_consumer_open(ring, name, timeout=60):
    """Wait until a live process has the ring's consumer `name` open
    (what a second opener is refused for), however slow its start."""
    def held():
        info = json.loads(mring("info", ring, "--json").stdout)
        return any(c["name"] == name and c["alive"]
                   for c in info["consumers"])
    wait_for(held, "consumer '%s' of %s open" % (name, ring), timeout)


def test(f):
    _TESTS.append(f)
    return f


def _show_logs():
    """The tail of every log of this run (servers, bridges, writers)."""
    for name in sorted(os.listdir(TMP)):
        if name.endswith(".log"):
            with open(tmp(name), "rb") as fh:
                tail = fh.read()[-3000:]
            print("--- %s (tail)\n%s" % (name, tail.decode(errors="replace")))


def main():
    try:
        require_server()
    except Skip as e:
        print("SKIP:", e)
        sys.exit(77)
    failed = 0
    for f in _TESTS:
        t0 = time.time()
        try:
            f()
            print("ok   %s (%.1f s)" % (f.__name__, time.time() - t0))
            if os.environ.get("MRING_NATS_TEST_VERBOSE"):
                _show_logs()
        except Skip as e:
            print("skip %s: %s" % (f.__name__, e))
        except Exception:
            failed += 1
            print("FAIL %s (%.1f s)" % (f.__name__, time.time() - t0))
            traceback.print_exc()
            _show_logs()
        sys.stdout.flush()
    sys.exit(1 if failed else 0)
