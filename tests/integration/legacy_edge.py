"""An emulation of the earlier system's edge controller, written from what that system's
reference says its edge does, to try roundhouse-central with a mixed fleet:

- boot: ``GET /api/ping``; with a cached UUID, ``GET /api/controllers/{uuid}/ping`` and the
  config download, nothing else (no registration, no train registration); without one,
  ``POST /api/controllers/register`` with ``{name, address}`` only, then the train
  self-registration (``TRAIN_ID``/``TRAIN_NAME``/``MOTOR_PORT``), then the download;
- the runtime config is read once, at boot: only its compat keys (``train_id``,
  ``commands_topic``, ``status_topic``, ``mqtt_broker``) count, so only the first train is
  driven, and a config change while running is never noticed;
- MQTT: QoS 0, clean session, random client id, no will; it subscribes to the first train's
  command topic only (not ``roundhouse/emergency-stop``, not ``controllers/...``);
- commands: ``setSpeed`` (or a bare ``speed``), ``setDirection``, ``start``, ``stop``,
  ``emergencyStop``; anything else is ignored; status ``{train_id, speed, direction,
  timestamp}`` (no ``controller_id``) after each command;
- heartbeats ``{version: "unknown", platform, python_version, memory_mb}`` every interval,
  without ``trains``; a 404 does not make it register again.

Ramps are left out (speed changes at once): what matters here is who obeys the topic."""

import datetime
import json
import threading

import paho.mqtt.client as mqtt

import harness


class LegacyEdge:

    def __init__(self, central, broker_port, name, address, train_id=None, train_name=None,
                 motor_port=1, cached_uuid=None, heartbeat_interval=1.0):
        self.central = central
        self.broker_port = broker_port
        self.name = name
        self.address = address
        self.train_id_env = train_id
        self.train_name = train_name or train_id
        self.motor_port = motor_port
        self.uuid = cached_uuid
        self.heartbeat_interval = heartbeat_interval
        self.config = None
        self.train_id = None
        self.speed = 0
        self.direction = "FORWARD"
        self.commands = []          # every command payload it acted on
        self.registration = None    # the register answer, when it registered
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._client = None
        self._thread = None

    # ------------------------------------------------------------------ boot

    def boot(self):
        """The earlier edge's boot (its ConfigManager.initialize); raises on the failures that
        make it exit."""
        c = self.central
        if c.get("/api/ping").status != 200:
            raise RuntimeError("central not reachable")
        known = False
        if self.uuid is not None:
            known = c.get("/api/controllers/%s/ping" % self.uuid).status == 200
        if not known:
            r = c.post("/api/controllers/register", {"name": self.name, "address": self.address})
            if r.status // 100 != 2 or "uuid" not in (r.json or {}):
                raise RuntimeError("registration failed: %r" % (r,))
            self.registration = r.json
            self.uuid = r.json["uuid"]
            if self.train_id_env:
                body = {"train_id": self.train_id_env, "name": self.train_name,
                        "plugin": {"name": "adafruit_dcmotor_hat",
                                   "config": {"motor_port": int(self.motor_port)}},
                        "description": "Train on motor port M%d" % int(self.motor_port),
                        "model": "DC Motor"}
                c.post("/api/controllers/%s/trains" % self.uuid, body)
        r = c.get("/api/controllers/%s/config" % self.uuid)
        if r.status == 200 and isinstance(r.json, dict):
            self.config = dict(r.json, uuid=self.uuid)
        if not self.config or not self.config.get("train_id"):
            # "No train assigned": no MQTT, no heartbeats, idle for good.
            return self
        self.train_id = self.config["train_id"]
        self._client = mqtt.Client(client_id="", clean_session=True)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._subscribed = threading.Event()
        self._client.connect("127.0.0.1", self.broker_port, keepalive=60)
        self._client.loop_start()
        # Not something the earlier edge waits for: the test's commands must find it listening.
        if not self._subscribed.wait(10):
            raise RuntimeError("no SUBACK from the broker")
        self._thread = threading.Thread(target=self._heartbeats, daemon=True)
        self._thread.start()
        return self

    def _on_connect(self, client, userdata, flags, rc, *rest):
        client.subscribe(self.config.get("commands_topic") or "trains/%s/commands" % self.train_id,
                         qos=0)

    # ------------------------------------------------------------------ commands

    def _on_message(self, client, userdata, msg):
        try:
            cmd = json.loads(msg.payload.decode("utf-8"))
        except ValueError:
            return
        if not isinstance(cmd, dict):
            return
        action = cmd.get("action")
        if action is None and "speed" in cmd:
            action = "setSpeed"
        with self._lock:
            if action == "setSpeed":
                if "direction" in cmd:
                    self.direction = self._direction(cmd["direction"])
                self.speed = int(cmd.get("speed", 50))
            elif action == "setDirection":
                self.direction = self._direction(cmd.get("direction"))
            elif action == "start":
                self.direction = self._direction(cmd.get("direction"))
                self.speed = int(cmd.get("speed", 50))
            elif action in ("stop", "emergencyStop"):
                self.speed = 0
            else:
                return  # "Unknown action"
            self.commands.append(cmd)
        self._publish_status()

    @staticmethod
    def _direction(d):
        return "FORWARD" if d is None or (isinstance(d, str) and d.upper() == "FORWARD") \
            else "BACKWARD"

    def _publish_status(self):
        doc = {"train_id": self.train_id, "speed": self.speed, "direction": self.direction,
               "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        topic = self.config.get("status_topic") or "trains/%s/status" % self.train_id
        self._client.publish(topic, json.dumps(doc), qos=0, retain=False)

    # ------------------------------------------------------------------ heartbeats

    def heartbeat(self):
        body = {"version": "unknown", "platform": "Linux-6.1.0-rpi-arm64",
                "python_version": "3.11.2", "memory_mb": 3794}
        return self.central.post("/api/controllers/%s/heartbeat" % self.uuid, body)

    def _heartbeats(self):
        while not self._stop.is_set():
            try:
                self.heartbeat()
            except OSError:
                pass
            self._stop.wait(self.heartbeat_interval)

    # ------------------------------------------------------------------ life cycle

    def kill(self):
        """docker stop: SIGTERM is not handled, so nothing is cleaned up; no will is set,
        so the broker announces nothing either."""
        self._stop.set()
        if self._client is not None:
            self._client.loop_stop()
            self._client.disconnect()
            self._client = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def reboot(self):
        """The same device again, its cached UUID kept: reads its config anew."""
        self.kill()
        self._stop = threading.Event()
        self.config = None
        self.train_id = None
        self.speed = 0
        return self.boot()


def wait_speed(edge, speed, timeout=10.0):
    harness.wait_until(lambda: edge.speed == speed, timeout=timeout,
                       message="legacy edge at speed %d (is %d)" % (speed, edge.speed))
