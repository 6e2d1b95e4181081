"""roundhouse-edge: command-line usage, an unknown motor plugin (reported, never a silent
fallback), the MQTT last will on a crash, and the local endpoints."""

import os
import signal
import socket
import subprocess

import harness
import edge_support as es


class EdgeMiscTest(harness.RoundhouseTestCase):

    def run_edge(self, *args, env=None):
        return subprocess.run([harness.binary("roundhouse-edge")] + list(args),
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                              env=harness._clean_env(env))

    def test_usage(self):
        r = self.run_edge("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"--state-dir", r.stdout)
        r = self.run_edge("--version")
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith(b"roundhouse-edge "))
        for bad in (["--bogus"], ["--failsafe-timeout", "soon"], ["--health-listen", "x"],
                    ["--log-format", "xml"], ["--config", os.path.join(self.tmp, "missing.yaml")]):
            with self.subTest(args=bad):
                r = self.run_edge(*bad)
                self.assertEqual(r.returncode, 2, r)
                self.assertIn(b"roundhouse-edge:", r.stderr)
        r = self.run_edge(env={"TRAIN_ID": "t1", "MOTOR_PORT": "9"})
        self.assertEqual(r.returncode, 2, r)
        self.assertIn(b"MOTOR_PORT", r.stderr)

    def test_config_file_and_env(self):
        state = os.path.join(self.tmp, "from-file")
        conf = os.path.join(self.tmp, "edge.conf")
        with open(conf, "w") as f:
            f.write("central_api_host: 127.0.0.1\ncentral_api_port: %d\n" % harness.free_port())
            f.write("state_dir: %s\ncontroller_name: from-file\nhealth_listen: 127.0.0.1:0\n" % state)
        edge = self.start_edge(None, "--config", conf, state_dir=None, simulate=False,
                               env={"LOCAL_DEV": "true"})
        ev = edge.wait_event("edge_starting")
        self.assertEqual(ev["name"], "from-file")
        self.assertTrue(ev["simulate"])
        self.assertTrue(ev["central"].startswith("http://127.0.0.1:"))
        # --state-dir from start_edge beats the file (flags > env > file).
        self.assertNotEqual(ev["state_dir"], state)

    def test_unknown_plugin_is_reported(self):
        uuid = harness.new_uuid()
        cfg = es.runtime_config(uuid, self.broker.port, [{
            "train_id": "tw", "name": "Warp", "plugin": {"name": "warp_drive", "config": {}},
            "invert_directions": False}])
        state = os.path.join(self.tmp, "state")
        es.write_state(state, uuid, cfg)
        edge = self.start_edge("http://127.0.0.1:%d" % harness.free_port(), state_dir=state)
        ev = edge.wait_event("train_plugin_error")
        self.assertIn("warp_drive", ev["error"])
        r = edge.health.get("/health")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json["status"], "unhealthy")
        self.assertIn("warp_drive", r.json["reason"])
        self.assertIn("warp_drive", r.json["trains"][0]["error"])
        # Commands for it are rejected, not sent to some other driver.
        edge.wait_event("mqtt_connected")
        es.mosquitto_pub(self.broker.port, "trains/tw/commands", {"speed": 10})
        rej = edge.wait_event("command_rejected")
        self.assertEqual(rej["train_id"], "tw")

    def test_will_on_crash_and_birth(self):
        uuid = harness.new_uuid()
        cfg = es.runtime_config(uuid, self.broker.port, [("tk", {})])
        state = os.path.join(self.tmp, "state")
        es.write_state(state, uuid, cfg)
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("controllers/%s/presence" % uuid)
            edge = self.start_edge("http://127.0.0.1:%d" % harness.free_port(), state_dir=state)
            birth, retained = mq.wait_message("controllers/%s/presence" % uuid,
                                              lambda d: d["state"] == "online")
            self.assertEqual(birth["version"], edge.wait_event("edge_starting")["version"])
            self.assertIsoUtc(birth["timestamp"])
            # A crash (no chance to say goodbye): the broker publishes the will.
            edge.proc.send_signal(signal.SIGKILL)
            edge.proc.wait(timeout=10)
            edge.returncode = edge.proc.returncode  # expected: killed on purpose
            will, _ = mq.wait_message("controllers/%s/presence" % uuid,
                                      lambda d: d["state"] == "offline", timeout=30)
            self.assertIn("session_epoch", will)

    def test_metrics_and_404(self):
        edge = self.start_edge("http://127.0.0.1:%d" % harness.free_port())
        m = edge.health.get("/metrics")
        self.assertEqual(m.status, 200)
        text = m.body.decode()
        for name in ("controller_registration_attempts_total",
                     "controller_registration_failures_total{reason=",
                     "controller_config_cache_hits_total", "controller_config_applies_total",
                     "controller_config_rollbacks_total", "controller_mqtt_connected",
                     "controller_commands_total{action=", "controller_failsafe_stops_total"):
            self.assertIn(name, text)
        self.assertEqual(edge.health.get("/nope").status, 404)
        self.assertEqual(edge.health.post("/health", {}).status, 405)
        h = edge.health.get("/health").json
        self.assertEqual(h["cache_state"], "missing")
        self.assertEqual(h["status"], "degraded")
        self.assertIsNone(h["config_version"])
        self.assertIsInstance(h["uptime_seconds"], int)

    def raw(self, edge, data, timeout=15):
        """Send ``data`` on a new connection to the health port; all the edge answered
        before it closed the connection."""
        with socket.create_connection(("127.0.0.1", edge.health_port), timeout=timeout) as s:
            s.sendall(data)
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out
                out += chunk

    def test_health_server_bounds(self):
        edge = self.start_edge("http://127.0.0.1:%d" % harness.free_port())
        r = edge.health.get("/health?verbose=1")  # the query string is not part of the path
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["Content-Type"], "application/json")
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        head = edge.health.request("HEAD", "/metrics")
        self.assertEqual(head.status, 200)
        self.assertEqual(head.body, b"")
        self.assertGreater(int(head.headers["Content-Length"]), 0)
        self.assertTrue(self.raw(edge, b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400 "))
        big = b"GET /health HTTP/1.1\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n"
        self.assertTrue(self.raw(edge, big).startswith(b"HTTP/1.1 431 "))
        # A request body is read and dropped, within a bound.
        post = b"POST /health HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000
        self.assertTrue(self.raw(edge, post).startswith(b"HTTP/1.1 413 "))
        # Connections that never send a request: at most 16 are held, and each is closed after
        # its 10 s; meanwhile a 17th waits in the backlog and is served after that.
        idle = [socket.create_connection(("127.0.0.1", edge.health_port), timeout=30)
                for _ in range(16)]
        try:
            waiting = socket.create_connection(("127.0.0.1", edge.health_port), timeout=1)
            waiting.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            with self.assertRaises(socket.timeout):
                waiting.recv(1)
            waiting.settimeout(30)
            self.assertEqual(waiting.recv(13), b"HTTP/1.1 200 ")
            waiting.close()
            for s in idle:
                self.assertEqual(s.recv(1), b"")  # closed by the edge
        finally:
            for s in idle:
                s.close()
        self.assertEqual(edge.health.get("/health").status, 200)


if __name__ == "__main__":
    harness.main()
