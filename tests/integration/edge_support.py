"""Helpers for the edge integration tests: writing state directories in the format of
docs/edge-state.md (identity.json, config.json, config.prev.json), building runtime configs
with a correct checksum, and reading the simulator's state file."""

import datetime
import json
import os

import harness


def iso_utc(dt=None):
    dt = dt or datetime.datetime.now(datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        "%03dZ" % (dt.microsecond // 1000)


def runtime_config(uuid, broker_port, trains=(), version=1, name="pi-test", broker_host="127.0.0.1"):
    """A runtime config as the central would send it (docs/api.md), checksum included.
    ``trains`` is a list of (train_id, plugin_config) or of full train dicts."""
    entries = []
    for t in trains:
        if isinstance(t, dict):
            entries.append(t)
            continue
        train_id, plugin_config = t
        entries.append({
            "train_id": train_id, "name": "Train %s" % train_id,
            "plugin": {"name": "simulator", "config": plugin_config},
            "invert_directions": False,
            "commands_topic": "trains/%s/commands" % train_id,
            "status_topic": "trains/%s/status" % train_id,
        })
    first = entries[0]["train_id"] if entries else None
    doc = {
        "uuid": uuid, "name": name, "version": version,
        "train_id": first,
        "status_topic": "trains/%s/status" % first if first else None,
        "commands_topic": "trains/%s/commands" % first if first else None,
        "mqtt_broker": {"host": broker_host, "port": broker_port},
        "heartbeat_interval": 10,
        "trains": entries,
    }
    doc["checksum"] = harness.config_checksum(doc)
    return doc


def envelope(config, cached_at=None):
    """The cache file content (docs/edge-state.md) for ``config``."""
    env = {"format": 1, "cached_at": cached_at or iso_utc(), "config": config}
    env["checksum"] = harness.config_checksum(env)
    return env


def identity(uuid):
    doc = {"format": 1, "uuid": uuid, "created_at": iso_utc()}
    doc["checksum"] = harness.config_checksum(doc)
    return doc


def write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)


def write_state(state_dir, uuid, config=None, previous=None, cached_at=None, prev_cached_at=None,
                with_identity=True):
    """Create a state directory for ``uuid`` with the given current/previous configs."""
    os.makedirs(state_dir, exist_ok=True)
    if with_identity:
        write_json(os.path.join(state_dir, "identity.json"), identity(uuid))
    if config is not None:
        write_json(os.path.join(state_dir, "config.json"), envelope(config, cached_at))
    if previous is not None:
        write_json(os.path.join(state_dir, "config.prev.json"), envelope(previous, prev_cached_at))


def read_identity(state_dir):
    with open(os.path.join(state_dir, "identity.json")) as f:
        return json.load(f)["uuid"]


def secret_headers(state_dir):
    """The X-Controller-Secret header of the edge whose state directory this is (its
    credential.json), for reading its runtime config as the edge does; {} without one."""
    try:
        with open(os.path.join(state_dir, "credential.json")) as f:
            return {"X-Controller-Secret": json.load(f)["secret"]}
    except (OSError, ValueError, KeyError):
        return {}


def read_sim(path):
    """The simulator plugin's state file ({"speed", "direction"}), or None if absent."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def start_central_at(tc, port, db=None, *flags):
    """Start ``roundhouse-central`` on a given loopback port (one the kernel picked earlier,
    e.g. for a central that "comes back" where the edge expects it). ``tc`` is the
    :class:`harness.RoundhouseTestCase`. Bounded retry while the port is still in TIME_WAIT."""
    db = db or tc.default_db()
    mqtt = "127.0.0.1:%d" % tc.broker.port
    last = None
    for attempt in range(5):
        argv = [harness.binary("roundhouse-central"), "--listen", "127.0.0.1:%d" % port, "--db", db,
                "--mqtt", mqtt, "--log-level", "debug", "--withrottle-listen", "127.0.0.1:0"] + [str(f) for f in flags]
        try:
            return tc._spawn(harness.Central(argv, harness._clean_env(), tc.tmp,
                                             os.path.join(tc.tmp, "central-at-%d.log" % attempt),
                                             db, flags))
        except AssertionError as exc:  # did not come up (port busy): try again shortly
            last = exc
            import time
            time.sleep(0.5)
    raise AssertionError("central did not start on port %d: %s" % (port, last))


def mosquitto_pub(port, topic, payload, qos=1):
    """Publish with the real ``mosquitto_pub`` client (bounded by a timeout)."""
    import shutil
    import subprocess
    exe = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
    if not isinstance(payload, str):
        payload = json.dumps(payload)
    subprocess.run([exe, "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos), "-m", payload],
                   check=True, timeout=15, stdin=subprocess.DEVNULL)


def health(edge):
    r = edge.health.get("/health")
    return r.json


def train_health(edge, train_id):
    for t in health(edge).get("trains", []):
        if t.get("train_id") == train_id:
            return t
    return None


def command_until(mq, train_id, command, where, attempts=4, each=5.0, publish=None):
    """Publish ``command`` on the train's command topic and wait for a status matching
    ``where``; resend (bounded: ``attempts`` × ``each`` s) in case the edge's subscription was
    still on its way to the broker. ``publish(topic, payload)`` overrides the publisher.
    Commands used this way must be idempotent (setSpeed, stop...)."""
    topic = "trains/%s/commands" % train_id
    last = None
    for _ in range(attempts):
        if publish is not None:
            publish(topic, command)
        else:
            mq.publish(topic, command)
        try:
            return mq.wait_message("trains/%s/status" % train_id, where, timeout=each)
        except AssertionError as exc:
            last = exc
    raise last


# --------------------------------------------------------------------------- live tests

def controller(central, uuid):
    """GET /api/controllers/{uuid} (JSON), asserting 200."""
    r = central.get("/api/controllers/%s" % uuid)
    assert r.status == 200, r
    return r.json


def train(central, train_id):
    """GET /api/trains/{id} (JSON), asserting 200."""
    r = central.get("/api/trains/%s" % train_id)
    assert r.status == 200, r
    return r.json


def command(central, train_id, body):
    """POST /api/trains/{id}/command, asserting 202 (the central relays it over MQTT)."""
    r = central.post("/api/trains/%s/command" % train_id, body)
    assert r.status == 202, r
    return r.json


def motor_speed(edge, train_id):
    """The simulated motor's output of ``train_id`` as the edge's /health shows it (None when
    the edge does not run that train or it has no motor)."""
    t = train_health(edge, train_id)
    if t is None or "motor" not in t:
        return None
    return t["motor"].get("speed")


def train_ids(edge):
    return [t["train_id"] for t in health(edge).get("trains", [])]


class TcpProxy:
    """A TCP relay from a kernel-picked loopback port to ``127.0.0.1:upstream_port``. The test
    can :meth:`cut` it (every relayed connection closed, new ones accepted and closed at once)
    and :meth:`resume` it: one client loses the broker while the broker and every other
    client stay up. Threads end at :meth:`close` (registered as a cleanup by the caller) or
    after ``lifetime`` seconds at the latest."""

    def __init__(self, upstream_port, lifetime=600.0):
        import socket
        import threading
        import time
        self._socket_mod = socket
        self.upstream = upstream_port
        self._deadline = time.monotonic() + lifetime
        self._lock = threading.Lock()
        self._conns = []
        self._open = True
        self._closed = False
        self._threads = []
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(16)
        self._lsock.settimeout(0.2)
        self.port = self._lsock.getsockname()[1]
        self._spawn(self._accept_loop)

    def _alive(self):
        import time
        return not self._closed and time.monotonic() < self._deadline

    def _spawn(self, target, *args):
        import threading
        t = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept_loop(self):
        socket = self._socket_mod
        while self._alive():
            try:
                client, _addr = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            if not self._open:
                self._kill(client)
                continue
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:
                self._kill(client)
                continue
            with self._lock:
                self._conns.append((client, up))
            self._spawn(self._pump, client, up)
            self._spawn(self._pump, up, client)

    def _pump(self, src, dst):
        socket = self._socket_mod
        src.settimeout(0.5)
        while self._alive():
            try:
                data = src.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            try:
                dst.sendall(data)
            except OSError:
                break
        self._kill(src)
        self._kill(dst)

    def _kill(self, s):
        try:
            s.shutdown(self._socket_mod.SHUT_RDWR)
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass

    def cut(self):
        """Close every relayed connection and refuse new ones until :meth:`resume`."""
        with self._lock:
            self._open = False
            conns, self._conns = self._conns, []
        for c, u in conns:
            self._kill(c)
            self._kill(u)

    def resume(self):
        self._open = True

    def close(self):
        self.cut()
        self._closed = True
        try:
            self._lsock.close()
        except OSError:
            pass
        for t in self._threads:
            t.join(timeout=2)


def start_edge_under(tc, prefix, central=None, *flags, state_dir=None, name=None, env=None,
                     simulate=True, log_level="debug", timeout=120):
    """Like :meth:`harness.RoundhouseTestCase.start_edge` (same arguments, health on), but
    run under ``prefix`` (e.g. ``["valgrind", ...]``) and waiting up to ``timeout`` s for the
    ``health_listening`` event: a program under valgrind starts many times slower. The
    process is stopped with the test's other programs; stop it yourself with a longer
    timeout (``edge.stop(timeout=...)`` returns the problems) when it needs one."""
    state_dir = state_dir or os.path.join(tc.tmp, "edge-state")
    os.makedirs(state_dir, exist_ok=True)
    argv = list(prefix) + [harness.binary("roundhouse-edge")]
    if central is not None:
        argv += ["--central", central.url if isinstance(central, harness.Central) else str(central)]
    argv += ["--state-dir", state_dir, "--health-listen", "127.0.0.1:0", "--log-level", log_level]
    if simulate:
        argv.append("--simulate")
    if name is not None:
        argv += ["--name", name]
    argv += [str(f) for f in flags]
    edge = harness.Edge(argv, harness._clean_env(env), tc.tmp,
                        os.path.join(tc.tmp, "edge-under-%d.log" % len(tc._procs)), state_dir, True)
    tc._procs.append(edge)  # stopped (and its stderr printed) with the others, even if it never gets ready
    edge.wait_ready(timeout=timeout)
    return edge


def kill9(edge):
    """SIGKILL on purpose (a crash): reaped here, so the harness does not count it as a
    failure."""
    import signal
    edge.proc.send_signal(signal.SIGKILL)
    edge.proc.wait(timeout=10)
    edge.returncode = edge.proc.returncode


def metrics(edge):
    """The edge's /metrics as {"name{labels}": value} (float), asserting 200."""
    r = edge.health.get("/metrics")
    assert r.status == 200, r
    out = {}
    for line in r.body.decode().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out
