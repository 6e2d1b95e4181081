"""Integration-test harness: real programs, real broker, kernel-picked ports.

Every test gets its own temporary directory, its own ``mosquitto`` on a free loopback
port, and its own ``roundhouse-central`` (and, for edge tests, ``roundhouse-edge``)
started with ``--listen 127.0.0.1:0``; the real port is read from the program's
structured log on stderr (``{"event":"http_listening","port":N}`` for the central,
``{"event":"health_listening","port":N}`` for the edge). Nothing uses a fixed port or
a non-loopback address, and every wait is bounded in time and iterations.

Typical use::

    import harness

    class TestSomething(harness.RoundhouseTestCase):
        def test_register(self):
            central = self.start_central("--heartbeat-interval", "5")
            r = central.post("/api/controllers/register", {"name": "pi-1", "address": "10.0.0.1"})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["status"], "registered")

        def test_edge_registers(self):
            central = self.start_central()
            edge = self.start_edge(central, name="pi-7", env={"TRAIN_ID": "t7"})
            edge.wait_event("registered", timeout=20)          # any log event name
            r = edge.health.get("/health")                       # edge's local health port
            harness.wait_until(lambda: central.get("/api/trains/t7").status == 200, timeout=20)
            with harness.MqttClient(self.broker.port) as mq:      # optional paho-mqtt
                mq.subscribe("trains/t7/status")
                mq.wait_message("trains/t7/status", where=lambda d: d["speed"] == 0)

    if __name__ == "__main__":
        harness.main()

Binaries come from ``$ROUNDHOUSE_BIN_DIR`` (``roundhouse-central``, ``roundhouse-edge``,
``roundhouse``); without it, ``<repo>/build/bin``. Processes are stopped with SIGTERM (then
SIGKILL after 10 s) when the test ends; a non-zero exit status or a sanitizer report on stderr
(``AddressSanitizer``, ``runtime error:``) fails the test, so the suite is meaningful against
ASan/UBSan builds. On failure the collected stderr of every process is printed; set
``ROUNDHOUSE_KEEP_TMP=1`` to keep the temporary directories.

PostgreSQL: :func:`start_postgres` starts one throwaway cluster per test process (initdb +
pg_ctl in a temp directory, on a kernel-picked loopback port, as an unprivileged user; see
``tests/support/pg-cluster.sh``) and returns its ``postgresql://`` URL; :func:`create_pg_database`
gives a test its own database in it. With ``ROUNDHOUSE_TEST_DB=postgres`` in the environment,
``start_central`` without ``db=`` runs the central on such a database instead of a SQLite file
(``integration_pg_*`` in ctest); tests that depend on SQLite itself are marked
:func:`sqlite_only`.

Standard library only; ``paho-mqtt`` (Debian ``python3-paho-mqtt``) is optional and only
needed by :class:`MqttClient` (check :data:`HAVE_PAHO`).
"""

import atexit
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid as uuidlib

try:  # optional: only MqttClient needs it
    import paho.mqtt.client as _paho

    HAVE_PAHO = True
except ImportError:  # pragma: no cover - depends on the host
    _paho = None
    HAVE_PAHO = False

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MOSQUITTO = os.environ.get("ROUNDHOUSE_MOSQUITTO") or shutil.which("mosquitto") or "/usr/sbin/mosquitto"

#: Generous bounds: sanitizer builds start and answer several times slower.
START_TIMEOUT = float(os.environ.get("ROUNDHOUSE_START_TIMEOUT", "30"))
HTTP_TIMEOUT = float(os.environ.get("ROUNDHOUSE_HTTP_TIMEOUT", "15"))
STOP_TIMEOUT = 10.0

#: ``ROUNDHOUSE_TEST_DB=postgres``: the central's default database is PostgreSQL.
ON_POSTGRES = os.environ.get("ROUNDHOUSE_TEST_DB", "sqlite") == "postgres"
PG_CLUSTER = os.path.join(REPO, "tests", "support", "pg-cluster.sh")

#: Lines on stderr that mean a sanitizer found something.
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer")

#: Environment variables our programs read; scrubbed from the inherited environment so that
#: the developer's shell cannot change what a test runs against.
_SCRUB_PREFIXES = ("ROUNDHOUSE_", "MQTT_", "CENTRAL_API_")
_SCRUB_NAMES = {
    "LOG_LEVEL", "EDGE_CONFIG", "STATE_DIR", "CONTROLLER_NAME", "HEALTH_LISTEN",
    "SIMULATION_MODE", "LOCAL_DEV", "TRAIN_ID", "TRAIN_NAME", "MOTOR_PORT",
    "HEARTBEAT_INTERVAL", "FAILSAFE_TIMEOUT", "CACHE_MAX_AGE",
}

ISO_UTC_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CHECKSUM_RE = re.compile(r"^sha256:[0-9a-f]{64}$")

#: Keys the documented interface fixes for JSON documents of the central (docs/api.md).
REGISTER_KEYS = {"uuid", "name", "address", "status", "config_version", "heartbeat_interval", "session_epoch"}
CONTROLLER_KEYS = {"id", "name", "description", "address", "enabled", "trains", "first_seen", "last_seen",
                   "config_hash", "version", "platform", "memory_mb", "cpu_count", "status",
                   "config_version", "applied_config_version", "session_epoch"}
TRAIN_KEYS = {"id", "name", "description", "model", "plugin", "invert_directions", "controller_id",
              "desired_controller_id", "actual_controller_id", "reassignment_status", "status", "address"}
RUNTIME_CONFIG_KEYS = {"uuid", "name", "version", "checksum", "train_id", "status_topic", "commands_topic",
                       "mqtt_broker", "heartbeat_interval", "trains"}
RUNTIME_TRAIN_KEYS = {"train_id", "name", "plugin", "invert_directions", "commands_topic", "status_topic"}
PRESENCE_STATES = {"online", "stale", "offline", "unknown"}
REASSIGNMENT_STATES = {"pending", "in_progress", "complete", "conflict"}


# --------------------------------------------------------------------------- small helpers

def bin_dir():
    """Directory holding the programs: ``$ROUNDHOUSE_BIN_DIR`` or ``<repo>/build/bin``."""
    return os.environ.get("ROUNDHOUSE_BIN_DIR") or os.path.join(REPO, "build", "bin")


def binary(name):
    """Absolute path of program ``name`` in :func:`bin_dir`; raises if it is missing."""
    path = os.path.join(bin_dir(), name)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(
            "%s not found or not executable (set ROUNDHOUSE_BIN_DIR to the build's bin/)" % path)
    return path


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it).

    Only for programs that cannot report their own port (mosquitto); there is a short race
    with other processes, so callers must retry with another port if the bind fails."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=10.0, interval=0.05, message=None):
    """Call ``predicate()`` until it returns something truthy; return that value.

    Bounded both in time (``timeout`` seconds) and in calls (``timeout / interval + 2``).
    Raises AssertionError with ``message`` (and the last value or exception) on timeout.
    Exceptions from the predicate count as "not yet" and are reported if time runs out."""
    deadline = time.monotonic() + timeout
    max_calls = int(timeout / interval) + 2
    last, last_exc = None, None
    for _ in range(max_calls):
        try:
            last = predicate()
            last_exc = None
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - reported below
            last_exc = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    detail = "last exception: %r" % (last_exc,) if last_exc else "last value: %r" % (last,)
    raise AssertionError("%s (waited %.1f s; %s)" % (message or "condition not met", timeout, detail))


def wait_tcp(host, port, timeout=10.0, alive=None):
    """Wait until ``host:port`` accepts a TCP connection. ``alive()`` (optional) returning
    False aborts early. Returns True when connected, False on timeout/abort."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.05) + 2):
        if alive is not None and not alive():
            return False
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return False


def sqlite_only(reason):
    """Decorator: skip the test (or class) when the central runs on PostgreSQL
    (``ROUNDHOUSE_TEST_DB=postgres``) because it depends on SQLite itself (its file, WAL,
    permissions, corruption); ``reason`` says which."""
    return unittest.skipIf(ON_POSTGRES, "SQLite only: " + reason)


_pg_cluster = None  # (url, directory) of this process's cluster
_pg_databases = 0


def _stop_postgres():
    global _pg_cluster
    if _pg_cluster is not None:
        subprocess.run([PG_CLUSTER, "stop", _pg_cluster[1]], timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _pg_cluster = None


def start_postgres():
    """The ``postgresql://`` URL (superuser ``roundhouse``, database ``postgres``) of this test
    process's throwaway PostgreSQL cluster, started on first use (one per test module: each
    test file runs in its own process) and stopped at exit."""
    global _pg_cluster
    if _pg_cluster is None:
        proc = subprocess.run([PG_CLUSTER, "start", str(os.getpid())], capture_output=True,
                              text=True, timeout=180)
        if proc.returncode != 0:
            raise RuntimeError("cannot start a PostgreSQL cluster:\n" + proc.stderr)
        url, directory = proc.stdout.split()[:2]
        _pg_cluster = (url, directory)
        atexit.register(_stop_postgres)
    return _pg_cluster[0]


def restart_postgres():
    """Restart this process's cluster (a fast shutdown: every session is cut, as when the
    server of a central restarts)."""
    if _pg_cluster is None:
        raise AssertionError("no PostgreSQL cluster started")
    subprocess.run([PG_CLUSTER, "restart", _pg_cluster[1]], check=True, timeout=120,
                   stdout=subprocess.DEVNULL)


def psql(url, sql):
    """Run ``sql`` with ``psql`` on ``url``; returns its output (unaligned, tuples only)."""
    proc = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url,
                           "-c", sql], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError("psql %r: %s" % (sql, proc.stderr))
    return proc.stdout


def create_pg_database():
    """A new empty database in this process's cluster; returns its URL."""
    global _pg_databases
    url = start_postgres()
    _pg_databases += 1
    name = "rh_%d_%d" % (os.getpid(), _pg_databases)
    psql(url, "CREATE DATABASE %s" % name)
    return url.rsplit("/", 1)[0] + "/" + name


def db_execute(db, sql):
    """Run one SQL statement on the database directly (not through the central) and return
    its rows as a list of tuples; committed at once. SQLite gives typed values; PostgreSQL
    (a URL, through ``psql``) gives every value as a string (None for NULL)."""
    if is_postgres_url(db):
        proc = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-P", "null=\x1e",
                               "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise AssertionError("psql %r: %s" % (sql, proc.stderr))
        return [tuple(None if v == "\x1e" else v for v in line.split("\x1f"))
                for line in proc.stdout.splitlines() if line]
    conn = sqlite3.connect(db, timeout=10)
    try:
        with conn:
            return conn.execute(sql).fetchall()
    finally:
        conn.close()


def reset_database(db):
    """Throw the database away, as an operator who starts over: a SQLite file (with its WAL,
    shared-memory and journal files) is deleted, a PostgreSQL database dropped and created
    again empty. The central using it must be stopped."""
    if is_postgres_url(db):
        base, name = db.rsplit("/", 1)
        psql(base + "/postgres", "DROP DATABASE %s" % name)
        psql(base + "/postgres", "CREATE DATABASE %s" % name)
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)


def is_postgres_url(db):
    return str(db).startswith(("postgresql://", "postgres://"))


def db_dump(path):
    """Full SQL text dump of the database at ``path``, for byte-identity checks before/after a
    rejected request. SQLite: ``iterdump`` of the file opened read-only (so it never creates
    or modifies it; committed WAL content is included). PostgreSQL (a URL): ``pg_dump`` of the
    data, without the sequence positions (a refused INSERT ... ON CONFLICT still draws a
    number) and comments."""
    if is_postgres_url(path):
        proc = subprocess.run(["pg_dump", "--data-only", "--inserts", "--no-owner", "-d", path],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise AssertionError("pg_dump: " + proc.stderr)
        return "\n".join(l for l in proc.stdout.splitlines()
                         if l and not l.startswith(("--", "\\")) and "pg_catalog.setval" not in l)
    uri = "file:%s?mode=ro" % path
    conn = sqlite3.connect(uri, uri=True, timeout=10)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def canonical_json(doc):
    """Canonical JSON as the contract defines it: sorted keys, separators ``(',', ':')``,
    ``ensure_ascii=False``; UTF-8 bytes."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def config_checksum(doc):
    """``"sha256:<hex>"`` of the canonical JSON of ``doc`` without its ``checksum`` key."""
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def new_uuid():
    """A fresh canonical lower-case UUID string."""
    return str(uuidlib.uuid4())


def _clean_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB_NAMES}
    # Sanitizer builds: make reports complete and fatal; callers may override.
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    # DNS-SD (avahi) is reached over the system D-Bus: never the machine's own, so that no
    # test advertises on, or discovers from, the real network. The DNS-SD tests (mdns.py)
    # point it at a private bus.
    env["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/roundhouse-tests-no-bus"
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
    return env


def run_program(name, *args, env=None, timeout=60, input=None):
    """Run a short-lived program from :func:`bin_dir` (e.g. the ``roundhouse`` CLI) to
    completion with a scrubbed environment (``env`` adds/overrides; None removes) and
    return the ``subprocess.CompletedProcess`` (``stdout``/``stderr`` as str). Raises
    AssertionError if it reports a sanitizer error; the exit status is the caller's to check."""
    proc = subprocess.run([binary(name)] + [str(a) for a in args], input=input, capture_output=True,
                          text=True, timeout=timeout, env=_clean_env(env),
                          stdin=None if input is not None else subprocess.DEVNULL)
    bad = [l for l in proc.stderr.splitlines() if any(m in l for m in SANITIZER_MARKERS)]
    if bad:
        raise AssertionError("%s: sanitizer report on stderr:\n%s" % (name, proc.stderr))
    return proc


# --------------------------------------------------------------------------- HTTP client

class Response:
    """One HTTP answer: ``status`` (int), ``headers`` (case-insensitive
    ``http.client.HTTPMessage``), ``body`` (bytes) and ``json`` (parsed body, or None when
    the body is empty or not JSON)."""

    def __init__(self, status, headers, body, method, path):
        self.status = status
        self.headers = headers
        self.body = body
        self.method = method
        self.path = path
        self.json = None
        if body:
            try:
                self.json = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self.json = None

    def header(self, name, default=None):
        """Value of header ``name`` (case-insensitive) or ``default``."""
        return self.headers.get(name, default)

    def __repr__(self):
        text = self.body[:600].decode("utf-8", "replace")
        return "<%s %s -> %d %s>" % (self.method, self.path, self.status, text)


class HttpClient:
    """Minimal JSON-over-HTTP client for one ``host:port`` (one connection per request).

    Built on ``http.client`` rather than ``urllib.request`` because tests need full control
    over the request: any method (OPTIONS, PATCH), raw or chunked bodies, a missing or wrong
    Content-Type, a forged ``Host`` header, and no exception for 3xx/4xx/5xx answers."""

    def __init__(self, host, port, timeout=HTTP_TIMEOUT):
        self.host = host
        self.port = port
        self.timeout = timeout

    @property
    def base_url(self):
        return "http://%s:%d" % (self.host, self.port)

    def request(self, method, path, body=None, headers=None, raw=None, content_type="application/json",
                chunked=False, timeout=None):
        """Send one request and return a :class:`Response`.

        ``body`` is JSON-encoded (``ensure_ascii=False``, UTF-8) unless ``raw`` bytes are
        given. ``content_type=None`` sends no Content-Type. ``chunked=True`` sends the body
        with chunked transfer encoding (an iterator of 4 KiB chunks, no Content-Length)."""
        hdrs = dict(headers or {})
        data = raw
        if data is None and body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if data is not None and content_type is not None and not any(k.lower() == "content-type" for k in hdrs):
            hdrs["Content-Type"] = content_type
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        try:
            send_error = None
            try:
                if chunked and data is not None:
                    chunks = [data[i:i + 4096] for i in range(0, len(data), 4096)]
                    conn.request(method, path, body=iter(chunks), headers=hdrs, encode_chunked=True)
                else:
                    conn.request(method, path, body=data, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError) as exc:
                # The server may answer (413) and close before reading the whole body; the
                # answer is still waiting in our receive buffer.
                send_error = exc
            try:
                resp = conn.getresponse()
                payload = resp.read()
            except (http.client.HTTPException, OSError):
                if send_error is not None:
                    raise send_error
                raise
            return Response(resp.status, resp.headers, payload, method, path)
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def options(self, path, **kw):
        return self.request("OPTIONS", path, **kw)


def raw_request(port, data, host="127.0.0.1", source=None, timeout=HTTP_TIMEOUT):
    """Send the bytes ``data`` as they are (no client library between: bad framing, raw
    bytes in the request line or headers) from ``source`` (a local address such as
    127.0.0.2, or None) and read one answer. Returns a :class:`Response`; its ``status`` is
    0 when the server closed the connection without answering."""
    sock = socket.create_connection((host, port), timeout=timeout,
                                    source_address=(source, 0) if source else None)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        sock.sendall(data)
        while time.monotonic() < deadline:
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
                if m and len(rest) >= int(m.group(1)):
                    break
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
    finally:
        sock.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0]) if lines else None
    import email.parser
    headers = email.parser.BytesHeaderParser().parsebytes(b"\r\n".join(lines[1:]) + b"\r\n\r\n")
    first = data.split(b" ", 2)
    return Response(int(m.group(1)) if m else 0, headers, body,
                    first[0].decode("latin-1"), first[1].decode("latin-1") if len(first) > 1 else "")


# --------------------------------------------------------------------------- processes

class Process:
    """A started program whose stderr is collected line by line in a background thread.

    ``lines`` holds every stderr line (str, without newline); ``events`` holds those that
    parsed as JSON objects (the structured log). ``pass_fds``: file descriptors the program
    inherits (e.g. a listening socket the test bound on a kernel-picked port). Use :meth:`wait_event` to wait for a log
    event, :meth:`stop` to end the program and check its exit status and sanitizer output."""

    def __init__(self, name, argv, env, cwd, log_path=None, pass_fds=()):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.lines = []
        self.events = []
        self.returncode = None
        self._cond = threading.Condition()
        self._eof = False
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env, cwd=cwd, start_new_session=True, pass_fds=pass_fds)
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read, name="%s-stderr" % name, daemon=True)
        self._reader.start()

    def _read(self):
        stream = self.proc.stderr
        logf = open(self.log_path, "ab") if self.log_path else None
        try:
            for raw in iter(stream.readline, b""):
                if logf:
                    logf.write(raw)
                    logf.flush()
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                event = None
                if line.startswith("{"):
                    try:
                        event = json.loads(line)
                    except ValueError:
                        event = None
                with self._cond:
                    self.lines.append(line)
                    if isinstance(event, dict):
                        self.events.append(event)
                    self._cond.notify_all()
        finally:
            if logf:
                logf.close()
            stream.close()
            with self._cond:
                self._eof = True
                self._cond.notify_all()

    def wait_ready(self, timeout=START_TIMEOUT):
        """Wait until the program is ready to be used (subclasses override)."""

    @property
    def alive(self):
        """True while the program runs."""
        return self.proc.poll() is None

    def wait_event(self, event, timeout=START_TIMEOUT, where=None, start=0):
        """Wait for a structured log line with ``"event": event`` (and ``where(ev)`` true, if
        given) among ``events[start:]``; return it as a dict.

        Raises AssertionError (with the collected stderr) if the program exits or
        ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        idx = start
        with self._cond:
            while True:
                while idx < len(self.events):
                    ev = self.events[idx]
                    idx += 1
                    if ev.get("event") == event and (where is None or where(ev)):
                        return ev
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.5))
        state = "exited with %r" % self.proc.poll() if self._eof else "timed out after %.0f s" % timeout
        raise AssertionError("%s: no %r log event (%s)\n%s" % (self.name, event, state, self.stderr_text()))

    def find_events(self, event):
        """All structured log lines seen so far with ``"event": event``."""
        with self._cond:
            return [e for e in self.events if e.get("event") == event]

    def stderr_text(self, last=400):
        """The last ``last`` stderr lines as one string (for diagnostics)."""
        with self._cond:
            return "\n".join(self.lines[-last:])

    def sanitizer_lines(self):
        """stderr lines that carry a sanitizer report marker."""
        with self._cond:
            return [l for l in self.lines if any(m in l for m in SANITIZER_MARKERS)]

    def send_signal(self, sig):
        """Send ``sig`` to the program if it still runs."""
        if self.alive:
            self.proc.send_signal(sig)

    def stop(self, timeout=STOP_TIMEOUT, sig=signal.SIGTERM):
        """SIGTERM (or ``sig``), wait up to ``timeout`` s, then SIGKILL. Returns a list of
        problems (empty when the program exited with status 0 and no sanitizer report);
        idempotent. :meth:`RoundhouseTestCase.stop` turns the problems into a failure."""
        problems = []
        if self.returncode is not None:
            return problems  # already stopped and reported
        killed = False
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                killed = True
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        self.returncode = self.proc.returncode
        self._reader.join(timeout=timeout)
        if killed:
            problems.append("%s did not exit within %.0f s of %s; killed" % (self.name, timeout, sig.name))
        elif self.returncode != 0:
            problems.append("%s exited with status %r" % (self.name, self.returncode))
        bad = self.sanitizer_lines()
        if bad:
            problems.append("%s: sanitizer report on stderr: %s" % (self.name, bad[:5]))
        return problems


class Mosquitto(Process):
    """A private ``mosquitto`` broker on a free 127.0.0.1 port (``self.port``), anonymous
    access, no persistence. Use :meth:`start`."""

    DYNSEC_PLUGIN = os.environ.get("ROUNDHOUSE_DYNSEC_PLUGIN") or \
        "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"

    @classmethod
    def start(cls, tmpdir, attempts=5, extra_config="", dynsec_admin=None):
        """Start a broker, retrying on another port if it does not come up (port race).
        ``extra_config`` is appended to the generated configuration file.

        ``dynsec_admin=(username, password)``: no anonymous access, and the dynamic-security
        plugin loaded with a fresh ``<tmpdir>/dynsec.json`` made by ``mosquitto_ctrl dynsec
        init`` whose only account is that administrator (``self.dynsec_file``)."""
        last = None
        dynsec_file = None
        if dynsec_admin is not None:
            dynsec_file = os.path.join(tmpdir, "dynsec.json")
            if not os.path.exists(dynsec_file):
                subprocess.run(["mosquitto_ctrl", "dynsec", "init", dynsec_file, dynsec_admin[0],
                                dynsec_admin[1]], check=True, capture_output=True, timeout=30)
        for attempt in range(attempts):
            port = free_port()
            conf = os.path.join(tmpdir, "mosquitto-%d.conf" % attempt)
            with open(conf, "w") as f:
                f.write("listener %d 127.0.0.1\n" % port)
                if dynsec_file is None:
                    f.write("allow_anonymous true\n")
                else:
                    f.write("allow_anonymous false\n")
                    f.write("plugin %s\n" % cls.DYNSEC_PLUGIN)
                    f.write("plugin_opt_config_file %s\n" % dynsec_file)
                    # Started as root, mosquitto runs as "mosquitto", which cannot read the
                    # test's private directory; ignored when not started as root.
                    f.write("user root\n")
                f.write("persistence false\n")
                f.write("log_dest stderr\n")
                f.write("log_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
                f.write(extra_config)
            broker = cls("mosquitto", [MOSQUITTO, "-c", conf], _clean_env(), tmpdir,
                         os.path.join(tmpdir, "mosquitto.log"))
            broker.port = port
            broker.conf = conf
            broker.dynsec_file = dynsec_file
            if wait_tcp("127.0.0.1", port, timeout=10.0, alive=lambda: broker.alive):
                return broker
            last = broker.stderr_text()
            broker.stop(timeout=2)
        raise RuntimeError("mosquitto did not come up after %d attempts:\n%s" % (attempts, last))

    def stop(self, timeout=STOP_TIMEOUT, sig=signal.SIGTERM):
        # The broker is not under test: only report if it could not be stopped.
        problems = super().stop(timeout, sig)
        return [p for p in problems if "killed" in p]


class Central(Process):
    """A started ``roundhouse-central``. ``port`` is its HTTP port, ``client`` an
    :class:`HttpClient` for it; ``get/post/put/patch/delete/options/request`` are shortcuts.
    ``db`` is the database path, ``flags`` the extra flags it was started with."""

    def __init__(self, argv, env, cwd, log_path, db, flags):
        super().__init__("roundhouse-central", argv, env, cwd, log_path)
        self.db = db
        self.flags = list(flags)
        self.port = None
        self.client = None

    def wait_ready(self, timeout=START_TIMEOUT):
        """Wait for ``http_listening`` and learn the port."""
        ev = self.wait_event("http_listening", timeout=timeout)
        self.port = int(ev["port"])
        self.client = HttpClient("127.0.0.1", self.port)

    @property
    def url(self):
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        return self.client.base_url

    def request(self, *a, **kw):
        return self.client.request(*a, **kw)

    def get(self, *a, **kw):
        return self.client.get(*a, **kw)

    def post(self, *a, **kw):
        return self.client.post(*a, **kw)

    def put(self, *a, **kw):
        return self.client.put(*a, **kw)

    def patch(self, *a, **kw):
        return self.client.patch(*a, **kw)

    def delete(self, *a, **kw):
        return self.client.delete(*a, **kw)

    def options(self, *a, **kw):
        return self.client.options(*a, **kw)

    # Headers that GET /api/backup needs from this central (an administrator's credential
    # when it runs with --auth); tests that read the database of an --auth central set them.
    dump_headers = None

    def _read_db(self, read):
        """read(path) of this central's database. A running central holds its SQLite file
        locked, so read gets the copy the central sends from ``GET /api/backup``."""
        if is_postgres_url(self.db) or not self.alive:
            return read(self.db)
        resp = self.get("/api/backup", headers=self.dump_headers)
        if resp.status != 200:
            raise AssertionError("GET /api/backup to read the database: %r" % (resp,))
        fd, copy = tempfile.mkstemp(suffix=".db", dir=os.path.dirname(os.path.abspath(self.db)))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(resp.body)
            return read(copy)
        finally:
            os.unlink(copy)

    def dump(self):
        """:func:`db_dump` of this central's database."""
        return self._read_db(db_dump)

    def query(self, sql):
        """The rows of a read-only statement on this central's database (:func:`db_execute`)."""
        return self._read_db(lambda path: db_execute(path, sql))


class Edge(Process):
    """A started ``roundhouse-edge``. ``health_port`` is its local health port (None when
    started with health off) and ``health`` an :class:`HttpClient` for it; ``state_dir`` is
    its state directory."""

    def __init__(self, argv, env, cwd, log_path, state_dir, wait_health):
        super().__init__("roundhouse-edge", argv, env, cwd, log_path)
        self.state_dir = state_dir
        self.health_port = None
        self.health = None
        self._wait_health = wait_health

    def wait_ready(self, timeout=START_TIMEOUT):
        """Wait for ``health_listening`` (when health is on) and learn the port."""
        if self._wait_health:
            ev = self.wait_event("health_listening", timeout=timeout)
            self.health_port = int(ev["port"])
            self.health = HttpClient("127.0.0.1", self.health_port)


class MqttClient:
    """A small paho-mqtt subscriber/publisher for assertions on MQTT traffic.

    ``messages`` collects ``(topic, payload_bytes, retained, qos)``; :meth:`wait_message`
    waits for one matching topic (and predicate on the parsed JSON payload). Requires
    :data:`HAVE_PAHO`; use as a context manager or call :meth:`close`."""

    def __init__(self, port, host="127.0.0.1", client_id=None, timeout=10.0, username=None,
                 password=None):
        if not HAVE_PAHO:
            raise unittest.SkipTest("python3-paho-mqtt not installed")
        self.messages = []
        self._cond = threading.Condition()
        self._connected = threading.Event()
        cid = client_id or "rh-test-%s" % uuidlib.uuid4().hex[:12]
        if hasattr(_paho, "CallbackAPIVersion"):  # paho-mqtt 2.x
            self._c = _paho.Client(_paho.CallbackAPIVersion.VERSION1, client_id=cid)
        else:
            self._c = _paho.Client(client_id=cid)
        if username is not None:
            self._c.username_pw_set(username, password)
        self.connack = None  # the broker's CONNACK code (0: accepted)

        def on_connect(c, u, f, rc):
            self.connack = rc
            self._connected.set()
        self._c.on_connect = on_connect
        self._c.on_message = self._on_message
        self._c.on_subscribe = self._on_subscribe
        self._acked = {}
        self._c.connect(host, port, keepalive=30)
        self._c.loop_start()
        if not self._connected.wait(timeout) or self.connack != 0:
            self.close()
            raise AssertionError("MQTT test client could not connect to %s:%d (CONNACK %r)"
                                 % (host, port, self.connack))

    def _on_message(self, client, userdata, msg):
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos))
            self._cond.notify_all()

    def subscribe(self, topic, qos=1, timeout=10.0):
        """Subscribe and wait for the SUBACK (so later publishes are not missed). Returns the
        granted QoS (128: refused by the broker)."""
        rc, mid = self._c.subscribe(topic, qos)
        if rc != 0:
            raise AssertionError("subscribe(%r) failed: %r" % (topic, rc))
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._acked, timeout):
                raise AssertionError("no SUBACK for %r within %.0f s" % (topic, timeout))
            return self._acked[mid]

    def _on_subscribe(self, client, userdata, mid, granted_qos, *rest):
        with self._cond:
            self._acked[mid] = granted_qos[0] if granted_qos else None
            self._cond.notify_all()

    def publish(self, topic, payload, qos=1, retain=False, timeout=10.0):
        """Publish ``payload`` (dict/list → JSON, str, or bytes) and wait until sent."""
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        info = self._c.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout)

    def wait_message(self, topic, where=None, timeout=10.0):
        """Wait for a message on ``topic`` (exact match) whose JSON payload satisfies
        ``where(payload_dict)`` (if given); returns ``(payload_dict, retained)``. Empty
        payloads are skipped: they clear a retained message (the central clears a retained
        emergency stop each time it connects, which a test subscribed early also receives)."""
        deadline = time.monotonic() + timeout
        idx = 0
        with self._cond:
            while True:
                while idx < len(self.messages):
                    t, raw, retained, _q = self.messages[idx]
                    idx += 1
                    if t != topic or len(raw) == 0:
                        continue
                    try:
                        doc = json.loads(raw.decode("utf-8"))
                    except ValueError:
                        doc = None
                    if where is None or (doc is not None and where(doc)):
                        return doc, retained
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.5))
        seen = [(t, p[:200]) for t, p, _r, _q in self.messages[-20:]]
        raise AssertionError("no matching MQTT message on %r within %.0f s; last seen: %r" % (topic, timeout, seen))

    def close(self):
        try:
            self._c.disconnect()
        finally:
            self._c.loop_stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------- test case base

class RoundhouseTestCase(unittest.TestCase):
    """Base class: per-test temp dir (``self.tmp``) and broker (``self.broker``, unless the
    class sets ``START_BROKER = False``), helpers to start the central and the edge, and
    JSON-error assertions. Every started process is stopped at the end of the test; its
    exit status and sanitizer output are checked; on failure all stderr is printed."""

    START_BROKER = True

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rh-it-%s-" % self._testMethodName[:40])
        self._procs = []
        self.addCleanup(self._cleanup_tmp)
        self.addCleanup(self._cleanup_procs)
        self.broker = self.start_broker() if self.START_BROKER else None

    # ---- process management

    def start_broker(self, extra_config="", dynsec_admin=None):
        """Start another private mosquitto; returns :class:`Mosquitto` (port in ``.port``).
        ``dynsec_admin``: see :meth:`Mosquitto.start`."""
        broker = Mosquitto.start(self.tmp, extra_config=extra_config, dynsec_admin=dynsec_admin)
        self._procs.append(broker)
        return broker

    def default_db(self):
        """This test's database: ``<tmp>/roundhouse.db``, or with ``ROUNDHOUSE_TEST_DB=postgres``
        a PostgreSQL database of its own (the same one for every central of the test)."""
        if not ON_POSTGRES:
            return os.path.join(self.tmp, "roundhouse.db")
        if getattr(self, "_pg_db", None) is None:
            self._pg_db = create_pg_database()
        return self._pg_db

    def start_central(self, *flags, db=None, mqtt=None, env=None, log_level="debug", prefix=None):
        """Start ``roundhouse-central --listen 127.0.0.1:0 --db DB --mqtt 127.0.0.1:PORT
        --log-level debug FLAGS...`` and wait for its ``http_listening`` event.

        ``db`` defaults to :meth:`default_db`; ``mqtt`` (a "host:port" string) defaults
        to this test's broker; ``env`` adds/overrides environment variables (value None
        removes one). ``prefix`` is a command to run it under (e.g. valgrind). Returns a
        :class:`Central`."""
        if db is None:
            db = self.default_db()
        own_broker = mqtt is None and self.broker is not None
        if mqtt is None:
            mqtt = "127.0.0.1:%d" % (self.broker.port if self.broker else free_port())
        argv = list(prefix or []) + [binary("roundhouse-central"), "--listen", "127.0.0.1:0",
                                     "--db", db, "--mqtt", mqtt, "--log-level", log_level]
        if not any(str(f).startswith("--withrottle-listen") for f in flags):
            argv += ["--withrottle-listen", "127.0.0.1:0"]  # never the fixed default port
        argv += [str(f) for f in flags]
        n = sum(1 for p in self._procs if isinstance(p, Central))
        central = self._spawn(Central(argv, _clean_env(env), self.tmp,
                                      os.path.join(self.tmp, "central-%d.log" % n), db, flags))
        if own_broker and self.broker.alive:
            # Moving or deleting a train needs the broker (the stop sent first): ready means
            # connected, as for an operator who waits for mqtt_connected in /health.
            central.wait_event("mqtt_connected", timeout=START_TIMEOUT)
        return central

    def start_edge(self, central=None, *flags, state_dir=None, name=None, env=None, simulate=True,
                   health=True, log_level="debug"):
        """Start ``roundhouse-edge`` against ``central`` (a :class:`Central` or a URL string;
        None passes no ``--central``) with ``--state-dir`` (default ``<tmp>/edge-state``),
        ``--health-listen 127.0.0.1:0`` (``health=False`` passes ``off``), ``--simulate``
        (unless ``simulate=False``), ``--name NAME`` (if given), ``--log-level`` and FLAGS.
        ``env`` adds/overrides environment variables (None removes one); the inherited
        environment is scrubbed of every variable the programs read. Waits for the
        ``health_listening`` event when health is on. Returns an :class:`Edge`."""
        state_dir = state_dir or os.path.join(self.tmp, "edge-state")
        os.makedirs(state_dir, exist_ok=True)
        argv = [binary("roundhouse-edge")]
        if central is not None:
            argv += ["--central", central.url if isinstance(central, Central) else str(central)]
        argv += ["--state-dir", state_dir, "--health-listen", "127.0.0.1:0" if health else "off",
                 "--log-level", log_level]
        if simulate:
            argv.append("--simulate")
        if name is not None:
            argv += ["--name", name]
        argv += [str(f) for f in flags]
        n = sum(1 for p in self._procs if isinstance(p, Edge))
        return self._spawn(Edge(argv, _clean_env(env), self.tmp,
                                os.path.join(self.tmp, "edge-%d.log" % n), state_dir, health))

    def _spawn(self, proc):
        # Registered for cleanup before waiting for its start-up event, so a program that
        # never gets ready is still stopped and its stderr printed.
        self._procs.append(proc)
        proc.wait_ready()
        return proc

    def restart_broker(self, broker=None):
        """Stop ``broker`` (default: this test's) and start a new one on the same port and
        configuration, e.g. to test reconnection. Returns the new :class:`Mosquitto` and
        makes it ``self.broker`` when the default was used."""
        old = broker or self.broker
        self.stop(old)
        new = None
        for _ in range(10):  # the port may linger briefly; bounded retry
            new = Mosquitto(old.name, [MOSQUITTO, "-c", old.conf], _clean_env(), self.tmp,
                            os.path.join(self.tmp, "mosquitto.log"))
            new.port, new.conf = old.port, old.conf
            self._procs.append(new)
            if wait_tcp("127.0.0.1", old.port, timeout=5.0, alive=lambda: new.alive):
                break
            new.stop(timeout=2)
            time.sleep(0.1)
        else:
            self.fail("mosquitto could not be restarted on port %d" % old.port)
        if broker is None or broker is self.broker:
            self.broker = new
        return new

    def stop(self, proc, timeout=STOP_TIMEOUT):
        """Stop ``proc`` now (SIGTERM, ≤10 s, then SIGKILL) and fail the test if it did not
        exit with status 0 or reported a sanitizer error."""
        problems = proc.stop(timeout=timeout)
        if problems:
            self.fail("; ".join(problems) + "\n--- stderr of %s ---\n%s" % (proc.name, proc.stderr_text()))

    def restart_central(self, central, *flags, **kw):
        """Stop ``central`` (checked) and start a new one on the same database with the same
        flags unless new ``flags`` are given. Returns the new :class:`Central`."""
        self.stop(central)
        kw.setdefault("db", central.db)
        return self.start_central(*(flags or central.flags), **kw)

    def _failed(self):
        # Inside a cleanup, _Outcome.success reads True even after a failure (each cleanup
        # runs in a fresh test part), so look for this test among the recorded problems.
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None or not hasattr(result, "errors"):
            return True
        for test, _tb in list(result.errors) + list(result.failures):
            if test is self or getattr(test, "test_case", None) is self:
                return True
        return False

    def _cleanup_procs(self):
        problems = []
        for proc in reversed(self._procs):
            problems += proc.stop()
        if problems or self._failed():
            for proc in self._procs:
                sys.stderr.write("\n--- stderr of %s (pid %d, %s) ---\n%s\n" % (
                    proc.name, proc.pid, " ".join(proc.argv), proc.stderr_text()))
            sys.stderr.flush()
        if problems:
            self.fail("; ".join(problems))

    def _cleanup_tmp(self):
        if os.environ.get("ROUNDHOUSE_KEEP_TMP") or self._failed():
            sys.stderr.write("\n(temporary directory kept: %s)\n" % self.tmp)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- assertions

    def assertJsonError(self, resp, status, field=None, error=None, msg=None):
        """Assert an error answer: ``status``, a JSON Content-Type, and a body
        ``{detail: non-empty str, error: non-empty str, field?: str}``; if ``field`` is given
        the body must name it (``"field": field``); if ``error``, the machine code must match.
        ``status`` may be a tuple of acceptable codes. Returns the body."""
        codes = status if isinstance(status, tuple) else (status,)
        self.assertIn(resp.status, codes, msg or resp)
        ctype = resp.header("Content-Type", "")
        self.assertTrue(ctype.startswith("application/json"), "Content-Type %r: %r" % (ctype, resp))
        body = resp.json
        self.assertIsInstance(body, dict, resp)
        self.assertIsInstance(body.get("detail"), str, resp)
        self.assertTrue(body["detail"], resp)
        self.assertIsInstance(body.get("error"), str, resp)
        self.assertTrue(body["error"], resp)
        if "field" in body and body["field"] is not None:
            self.assertIsInstance(body["field"], str, resp)
        if field is not None:
            self.assertEqual(body.get("field"), field, resp)
        if error is not None:
            self.assertEqual(body.get("error"), error, resp)
        return body

    def assertRejectedUnchanged(self, central, send, status, field=None, error=None):
        """Dump the database, call ``send()`` (returning a :class:`Response`), assert a JSON
        error with ``status`` (and ``field``/``error``), and assert the database dump is
        byte-identical afterwards. Returns the response."""
        before = central.dump()
        resp = send()
        self.assertJsonError(resp, status, field=field, error=error)
        after = central.dump()
        if before != after:
            import difflib
            diff = "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=1))
            self.fail("database changed by rejected request %r:\n%s" % (resp, diff[:4000]))
        return resp

    def assertIsoUtc(self, value, msg=None):
        """Assert ``value`` is an ISO-8601 UTC timestamp ending in ``Z``."""
        self.assertIsInstance(value, str, msg)
        self.assertRegex(value, ISO_UTC_RE, msg)

    def assertUuid(self, value, msg=None):
        """Assert ``value`` is a canonical lower-case 8-4-4-4-12 UUID."""
        self.assertIsInstance(value, str, msg)
        self.assertRegex(value, UUID_RE, msg)

    # ---- API shortcuts (central)

    def register(self, central, name, address="127.0.0.1", uuid=None, expect=200, **extra):
        """POST /api/controllers/register; asserts status ``expect`` and returns the JSON."""
        body = {"name": name, "address": address}
        if uuid is not None:
            body["uuid"] = uuid
        body.update(extra)
        r = central.post("/api/controllers/register", body)
        self.assertEqual(r.status, expect, r)
        return r.json

    def get_json(self, central, path, expect=200):
        """GET ``path``; asserts status ``expect`` and returns the JSON body."""
        r = central.get(path)
        self.assertEqual(r.status, expect, r)
        return r.json

    def add_train(self, central, controller, train_id, name=None, expect=201, **extra):
        """POST /api/controllers/{controller}/trains; asserts ``expect``; returns the JSON."""
        body = {"train_id": train_id, "name": name or "Train %s" % train_id,
                "plugin": {"name": "simulator", "config": {}}}
        body.update(extra)
        r = central.post("/api/controllers/%s/trains" % controller, body)
        self.assertEqual(r.status, expect, r)
        return r.json


def main():
    """Run the tests of the calling module (``unittest.main`` with verbosity 2)."""
    unittest.main(module="__main__", verbosity=2)
