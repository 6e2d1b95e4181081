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
