#!/usr/bin/env python3
"""Operating the central: systemd notification, crash safety under kill -9, and a run under
valgrind memcheck."""
import os
import shutil
import signal
import socket
import threading
import unittest

import harness

SANITIZED = os.environ.get("ROUNDHOUSE_SANITIZED") == "1"


class SystemdNotifyTest(harness.RoundhouseTestCase):

    def test_ready_and_watchdog_are_sent(self):
        path = os.path.join(self.tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(0.5)
        self.addCleanup(sock.close)
        c = self.start_central(env={"NOTIFY_SOCKET": path})
        seen = []

        def got(what):
            for _ in range(4):
                try:
                    seen.append(sock.recv(4096).decode())
                except socket.timeout:
                    break
            return any(what in m for m in seen)

        harness.wait_until(lambda: got("READY=1"), timeout=10, interval=0.05, message="no READY=1")
        harness.wait_until(lambda: got("WATCHDOG=1"), timeout=10, interval=0.05, message="no WATCHDOG=1")
        self.stop(c)
        harness.wait_until(lambda: got("STOPPING=1"), timeout=5, interval=0.05, message="no STOPPING=1")


@unittest.skipUnless(shutil.which("promtool"), "promtool (Debian package prometheus) not installed")
class MetricsFormatTest(harness.RoundhouseTestCase):

    def test_metrics_pass_promtool(self):
        c = self.start_central()
        u = self.register(c, "prom-a", "10.3.0.1")["uuid"]
        self.add_train(c, u, "t-prom")
        c.get("/api/nope")
        c.post("/api/controllers/register", raw=b"x" * 70000, content_type="application/json")
        c.options("/api/trains")
        body = c.get("/metrics").body
        import subprocess
        p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        text = body.decode()
        for needle in ('roundhouse_http_requests_total{method="POST",route="/api/controllers/register",code="200"} 1',
                       'roundhouse_http_requests_total{method="POST",route="unmatched",code="413"} 1',
                       'roundhouse_http_requests_total{method="OPTIONS",route="unmatched",code="204"} 1',
                       'roundhouse_http_requests_total{method="GET",route="unmatched",code="404"} 1',
                       'roundhouse_registrations_total{status="registered"} 1',
                       'roundhouse_controllers{state="online"} 1',
                       'roundhouse_http_request_duration_seconds_count{method="POST",route="/api/controllers/*/trains"} 1'):
            self.assertIn(needle, text)


class CrashSafetyTest(harness.RoundhouseTestCase):

    def test_kill_9_during_registration_burst_keeps_every_acknowledged_registration(self):
        c = self.start_central("--register-rate", "1000000")
        acknowledged = []
        lock = threading.Lock()
        stop = threading.Event()

        def worker(n):
            client = harness.HttpClient("127.0.0.1", c.port, timeout=5)
            for i in range(400):  # bounded; the kill ends it sooner
                if stop.is_set():
                    return
                try:
                    r = client.post("/api/controllers/register",
                                    {"name": "burst-%d-%d" % (n, i), "address": "10.1.0.1"})
                except OSError:
                    return
                if r.status == 200:
                    with lock:
                        acknowledged.append(r.json["uuid"])

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        harness.wait_until(lambda: len(acknowledged) >= 100, timeout=30, interval=0.01,
                           message="the burst never got going")
        c.send_signal(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        c.stop()  # reaps it; a SIGKILL is the point here, not a failure
        with lock:
            expected = set(acknowledged)
        c2 = self.start_central("--register-rate", "1000000", db=c.db)
        present = {x["id"] for x in self.get_json(c2, "/api/controllers")}
        missing = expected - present
        self.assertFalse(missing, "%d acknowledged registrations lost after kill -9" % len(missing))


@harness.sqlite_only("SQLite's WAL and its checkpoints; PostgreSQL checkpoints by itself")
class CheckpointTest(harness.RoundhouseTestCase):

    def test_wal_is_copied_into_the_database_in_the_background(self):
        # The connection that commits requests no longer checkpoints (it did so in the
        # middle of a request, with a sync); the sweeper's connection does, a few times a
        # second. Without either, these 150 registrations would stay in the WAL (SQLite's
        # own threshold is 1,000 pages) and the database file would not grow.
        c = self.start_central("--register-rate", "1000000/min", log_level="info")
        db = c.db
        size_before = os.path.getsize(db)
        for i in range(150):
            r = c.post("/api/controllers/register",
                       {"name": "ckpt-%03d" % i, "uuid": harness.new_uuid(),
                        "address": "10.0.0.%d" % i, "version": "x" * 60, "platform": "y" * 60})
            self.assertEqual(r.status, 200, r)
        harness.wait_until(lambda: os.path.getsize(db) > size_before + 16 * 1024, timeout=10,
                           message="the database file never received the registrations")
        # And the data read back through the file is complete.
        self.assertEqual(len(self.get_json(c, "/api/controllers")), 150)


@unittest.skipIf(SANITIZED, "valgrind does not run sanitizer builds")
@unittest.skipUnless(shutil.which("valgrind"), "valgrind not installed")
class ValgrindTest(harness.RoundhouseTestCase):

    def test_integration_scenario_is_clean_under_memcheck(self):
        log = os.path.join(self.tmp, "valgrind.log")
        c = self.start_central(prefix=["valgrind", "--tool=memcheck", "--leak-check=full",
                                       "--show-leak-kinds=definite,indirect", "--errors-for-leak-kinds=definite,indirect",
                                       "--error-exitcode=99", "--log-file=" + log])
        a = self.register(c, "vg-a", "10.2.0.1")
        b = self.register(c, "vg-b", "10.2.0.2")
        self.add_train(c, a["uuid"], "t-vg")
        self.assertEqual(c.post("/api/controllers/%s/heartbeat" % a["uuid"],
                                {"trains": [{"train_id": "t-vg", "speed": 5, "direction": "FORWARD"}]}).status, 200)
        r = c.get("/api/controllers/%s/config" % a["uuid"])
        self.assertEqual(r.status, 200)
        self.assertEqual(c.get("/api/controllers/%s/config" % a["uuid"],
                               headers={"If-None-Match": r.header("ETag")}).status, 304)
        self.assertEqual(c.put("/api/trains/t-vg", {"controller_id": b["uuid"], "description": None}).status, 200)
        self.assertEqual(c.get("/api/controllers/%s/config?wait=1&version=999" % b["uuid"]).status, 304)
        self.assertEqual(c.post("/api/trains/t-vg/command", {"action": "stop"}).status, 202)
        doc = self.get_json(c, "/api/export")
        self.assertEqual(c.post("/api/import", doc).status, 200)
        self.assertEqual(c.post("/api/controllers/register", raw=b"{bad", content_type="application/json").status, 400)
        self.assertEqual(c.get("/metrics").status, 200)
        self.assertEqual(c.delete("/api/trains/t-vg").status, 204)
        problems = c.stop(timeout=60)
        with open(log) as f:
            report = f.read()
        self.assertEqual(problems, [], report[-4000:])
        self.assertIn("ERROR SUMMARY: 0 errors", report, report[-4000:])


if __name__ == "__main__":
    harness.main()
