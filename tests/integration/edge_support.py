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
    """A runtime config as the central would send it (CONTRACT §2), checksum included.
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
    db = db or os.path.join(tc.tmp, "roundhouse.db")
    mqtt = "127.0.0.1:%d" % tc.broker.port
    last = None
    for attempt in range(5):
        argv = [harness.binary("roundhouse-central"), "--listen", "127.0.0.1:%d" % port, "--db", db,
                "--mqtt", mqtt, "--log-level", "debug"] + [str(f) for f in flags]
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
