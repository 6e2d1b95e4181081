"""Security of the central's front door (docs/security.md): requests from pages of other
origins, per-controller secrets (issue, storage as a hash, no takeover by UUID or by name,
database reset survived), no secrets in lists, exports or the event stream, and the
registration token on import. Against the real programs."""

import hashlib
import json
import os
import re
import stat
import time

import harness
import edge_support as es

SECRET_RE = r"^[0-9a-f]{64}$"
EVIL = "http://evil.example:8666"


def secret_header(secret):
    return {"X-Controller-Secret": secret}


class OriginTest(harness.RoundhouseTestCase):
    """State-changing requests carrying a foreign Origin are refused and change nothing."""

    def setup_train(self, central):
        uuid = self.register(central, "pi-origin")["uuid"]
        self.add_train(central, uuid, "t-o")
        return uuid

    def test_foreign_origin_refused_and_nothing_changes(self):
        c = self.start_central()
        uuid = self.setup_train(c)
        before = c.dump()
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t-o/commands")
            r = c.post("/api/trains/t-o/command", {"action": "setSpeed", "speed": 100},
                       headers={"Origin": EVIL})
            self.assertJsonError(r, 403, error="origin_not_allowed", field="Origin")
            self.assertIsNone(r.header("Access-Control-Allow-Origin"), r.headers)
            # A "simple" request: no body at all, as a no-cors fetch or a form would send it.
            r = c.post("/api/emergency-stop", headers={"Origin": EVIL})
            self.assertJsonError(r, 403, error="origin_not_allowed", field="Origin")
            r = c.delete("/api/controllers/%s" % uuid, headers={"Origin": EVIL})
            self.assertJsonError(r, 403, error="origin_not_allowed", field="Origin")
            # The opaque origin of a sandboxed page or a file is no better.
            r = c.post("/api/trains/t-o/command", {"action": "setSpeed", "speed": 99},
                       headers={"Origin": "null"})
            self.assertJsonError(r, 403, error="origin_not_allowed", field="Origin")
            # A browser that sends only fetch metadata is refused too.
            r = c.post("/api/trains/t-o/command", {"action": "setSpeed", "speed": 98},
                       headers={"Sec-Fetch-Site": "cross-site"})
            self.assertJsonError(r, 403, error="origin_not_allowed", field="Origin")
            self.assertEqual(c.dump(), before, "a refused request changed the database")
            # The central's own origin (the built-in UI) and requests without Origin (the
            # CLI, curl) go through; the first command on the topic is this one.
            r = c.post("/api/trains/t-o/command", {"action": "setSpeed", "speed": 7},
                       headers={"Origin": c.url})
            self.assertEqual(r.status, 202, r)
            doc, _ = mq.wait_message("trains/t-o/commands")
            self.assertEqual(doc.get("speed"), 7, "a refused command reached the broker")
        r = c.post("/api/trains/t-o/command", {"action": "stop"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(c.get("/api/controllers/%s" % uuid).status, 200)
        c.wait_event("origin_refused", timeout=10)
        # Reads from another origin are answered, but without CORS headers the browser
        # hides them from the page.
        r = c.get("/api/controllers", headers={"Origin": EVIL})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Access-Control-Allow-Origin"), r.headers)

    def test_same_origin_by_host_name_and_https(self):
        c = self.start_central()
        self.setup_train(c)
        for origin, host in (("http://localhost:%d" % c.port, "localhost:%d" % c.port),
                             ("https://roundhouse.lan", "roundhouse.lan"),
                             ("http://roundhouse.lan", "roundhouse.lan:80")):
            r = c.post("/api/trains/t-o/command", {"action": "stop"},
                       headers={"Origin": origin, "Host": host})
            self.assertEqual(r.status, 202, (origin, host, r))
        # Same host name, another port: another origin.
        r = c.post("/api/trains/t-o/command", {"action": "stop"},
                   headers={"Origin": "http://127.0.0.1:1", "Host": "127.0.0.1:%d" % c.port})
        self.assertJsonError(r, 403, error="origin_not_allowed", field="Origin")

    def test_listed_origin_may_change(self):
        c = self.start_central("--cors-origins", "http://ui.example:3000")
        uuid = self.setup_train(c)
        r = c.post("/api/trains/t-o/command", {"action": "stop"},
                   headers={"Origin": "http://ui.example:3000"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "http://ui.example:3000")
        r = c.delete("/api/controllers/%s" % uuid, headers={"Origin": EVIL})
        self.assertJsonError(r, 403, error="origin_not_allowed", field="Origin")
        self.assertFalse(c.find_events("cors_any_origin"))

    def test_star_must_be_explicit_and_is_logged(self):
        c = self.start_central("--cors-origins", "*")
        ev = c.wait_event("cors_any_origin")
        self.assertEqual(ev["level"], "warning")
        self.setup_train(c)
        r = c.post("/api/trains/t-o/command", {"action": "stop"}, headers={"Origin": EVIL})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "*")


class CredentialTest(harness.RoundhouseTestCase):
    """The central's side of per-controller secrets, driven over HTTP."""

    def secured(self, c, name, address="10.9.0.1", **extra):
        doc = self.register(c, name, address, issue_secret=True, **extra)
        self.assertRegex(doc.get("controller_secret", ""), SECRET_RE, doc)
        self.assertTrue(doc["secured"])
        return doc["uuid"], doc["controller_secret"]

    def test_issued_only_when_asked_and_only_once(self):
        c = self.start_central()
        legacy = self.register(c, "pi-legacy")
        self.assertNotIn("controller_secret", legacy)
        self.assertFalse(legacy["secured"])
        uuid, secret = self.secured(c, "pi-new")
        again = c.post("/api/controllers/register", {"name": "pi-new", "uuid": uuid,
                                                     "issue_secret": True},
                       headers=secret_header(secret))
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json["status"], "reactivated")
        self.assertNotIn("controller_secret", again.json)  # never shown twice
        self.assertTrue(c.get("/api/controllers/%s" % uuid).json["secured"])
        ev = c.wait_event("controller_registered", where=lambda e: e["uuid"] == uuid)
        self.assertEqual(ev["secret"], "issued")
        # Stored as its SHA-256, never as itself.
        dump = c.dump()
        self.assertIn(hashlib.sha256(secret.encode()).hexdigest(), dump)
        self.assertNotIn(secret, dump)

    def test_runtime_config_only_for_its_controller(self):
        c = self.start_central("--mqtt-username", "edge", "--mqtt-password", "broker-pass-1")
        a, sa = self.secured(c, "pi-a", "10.9.0.1")
        b, sb = self.secured(c, "pi-b", "10.9.0.2")
        r = c.get("/api/controllers/%s/config" % a)
        self.assertJsonError(r, 401, error="controller_secret_required", field="X-Controller-Secret")
        self.assertNotIn("broker-pass-1", r.body.decode("utf-8", "replace"))
        r = c.get("/api/controllers/%s/config" % a, headers=secret_header(sb))
        self.assertJsonError(r, 403, error="controller_secret_invalid", field="X-Controller-Secret")
        self.assertNotIn("broker-pass-1", r.body.decode("utf-8", "replace"))
        r = c.get("/api/controllers/%s/config" % a, headers={"X-Controller-Secret": "nope"})
        self.assertJsonError(r, 422, error="invalid_header", field="X-Controller-Secret")
        r = c.get("/api/controllers/%s/config" % a, headers=secret_header(sa))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["mqtt_broker"]["password"], "broker-pass-1")
        harness.wait_until(lambda: len(c.find_events("controller_auth_failed")) >= 2, timeout=10,
                           message="both refusals logged")
        failed = c.find_events("controller_auth_failed")
        self.assertEqual(len(failed), 2, failed)
        self.assertEqual({e["reason"] for e in failed}, {"secret_missing", "secret_wrong"})
        # Heartbeat and ping: the same rule, and a refused heartbeat changes nothing.
        before = c.dump()
        r = c.post("/api/controllers/%s/heartbeat" % a, {"version": "evil"})
        self.assertJsonError(r, 401, error="controller_secret_required", field="X-Controller-Secret")
        r = c.post("/api/controllers/%s/heartbeat" % a, {"version": "evil"},
                   headers=secret_header(sb))
        self.assertJsonError(r, 403, error="controller_secret_invalid", field="X-Controller-Secret")
        r = c.get("/api/controllers/%s/ping" % a)
        self.assertJsonError(r, 401, error="controller_secret_required", field="X-Controller-Secret")
        self.assertEqual(c.dump(), before)
        r = c.post("/api/controllers/%s/heartbeat" % a, {"version": "2.0"},
                   headers=secret_header(sa))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(c.get("/api/controllers/%s/ping" % a, headers=secret_header(sa)).status,
                         200)
        metrics = c.get("/metrics").body.decode("utf-8", "replace")
        self.assertRegex(metrics, r"roundhouse_controller_auth_failures_total [1-9]")

    def test_no_takeover_by_uuid(self):
        c = self.start_central()
        uuid, secret = self.secured(c, "pi-owned")
        before = c.dump()
        for headers, code, status in (({}, "controller_secret_required", 401),
                                      (secret_header("0" * 64), "controller_secret_invalid", 403)):
            r = c.post("/api/controllers/register",
                       {"name": "intruder", "address": "10.66.0.1", "uuid": uuid,
                        "issue_secret": True}, headers=headers)
            self.assertJsonError(r, status, error=code, field="X-Controller-Secret")
            self.assertNotIn("controller_secret", r.json)
        self.assertEqual(c.dump(), before, "a refused registration changed the record")
        self.assertEqual(c.get("/api/controllers/%s" % uuid).json["name"], "pi-owned")

    def test_no_takeover_by_name(self):
        c = self.start_central()
        uuid, _ = self.secured(c, "pi-named", "10.9.0.5")
        # Rule 3 would adopt a record of that name from the same address; not a secured one.
        other = self.register(c, "pi-named", "10.9.0.5")
        self.assertNotEqual(other["uuid"], uuid)
        self.assertEqual(other["status"], "registered")
        # An unsecured controller (an earlier edge) is still adopted by name as before.
        legacy = self.register(c, "pi-old", "10.9.0.6")["uuid"]
        again = self.register(c, "pi-old", "10.9.0.6")
        self.assertEqual((again["uuid"], again["status"]), (legacy, "existing"))

    def test_database_reset_adopts_presented_secret(self):
        c = self.start_central()
        uuid = harness.new_uuid()
        secret = hashlib.sha256(b"kept by the edge").hexdigest()
        r = c.post("/api/controllers/register",
                   {"name": "pi-restored", "uuid": uuid, "issue_secret": True,
                    "applied_config_version": 4}, headers=secret_header(secret))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "restored")
        self.assertTrue(r.json["secured"])
        self.assertNotIn("controller_secret", r.json)  # it keeps the one it has
        r = c.post("/api/controllers/%s/heartbeat" % uuid, {})
        self.assertEqual(r.status, 401, r)
        r = c.post("/api/controllers/%s/heartbeat" % uuid, {}, headers=secret_header(secret))
        self.assertEqual(r.status, 200, r)

    def test_secrets_never_in_lists_exports_or_events(self):
        c = self.start_central("--mqtt-username", "edge", "--mqtt-password", "broker-pass-2")
        events = harness.HttpClient("127.0.0.1", c.port)
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
        conn.request("GET", "/api/events")
        stream = conn.getresponse()
        self.assertEqual(stream.status, 200)
        uuid, secret = self.secured(c, "pi-quiet")
        r = c.post("/api/controllers/%s/heartbeat" % uuid, {"errors": ["x"]},
                   headers=secret_header(secret))
        self.assertEqual(r.status, 200, r)
        hashed = hashlib.sha256(secret.encode()).hexdigest()
        texts = [c.get(p).body.decode("utf-8", "replace") for p in ("/api/controllers", "/api/edge-controllers",
                                         "/api/controllers/%s" % uuid, "/api/export",
                                         "/api/config", "/health", "/metrics")]
        # The event stream: read what it sent for the registration and the heartbeat.
        got = b""
        deadline = time.monotonic() + 10
        while got.count(b"pi-quiet") < 2 and time.monotonic() < deadline:
            got += stream.fp.read1(65536)
        conn.close()
        self.assertIn(b"pi-quiet", got)
        texts.append(got.decode("utf-8", "replace"))
        for t in texts:
            self.assertNotIn(secret, t)
            self.assertNotIn(hashed, t)
            self.assertNotIn("secret_hash", t)
            self.assertNotIn("broker-pass-2", t)
        self.assertTrue(c.get("/api/controllers/%s" % uuid).json["secured"])
        del events

    def test_import_needs_registration_token_and_plants_no_secret(self):
        c = self.start_central("--registration-token", "tok-1")
        uuid, secret = self.secured_with_token(c)
        doc = c.get("/api/export").json
        planted = harness.new_uuid()
        doc["controllers"].append({"id": planted, "name": "pi-planted",
                                   "secret_hash": hashlib.sha256(b"x" * 64).hexdigest()})
        for ctl in doc["controllers"]:
            ctl["secret_hash"] = hashlib.sha256(b"y" * 64).hexdigest()
        before = c.dump()
        r = c.post("/api/import", doc)
        self.assertJsonError(r, 401, error="registration_token_invalid", field="X-Registration-Token")
        r = c.post("/api/import", doc, headers={"X-Registration-Token": "wrong"})
        self.assertJsonError(r, 401, error="registration_token_invalid", field="X-Registration-Token")
        self.assertEqual(c.dump(), before, "a refused import changed the database")
        r = c.post("/api/import", doc, headers={"X-Registration-Token": "tok-1"})
        self.assertEqual(r.status, 200, r)
        # The imported controller holds no secret; the existing one keeps its own.
        self.assertFalse(c.get("/api/controllers/%s" % planted).json["secured"])
        r = c.post("/api/controllers/%s/heartbeat" % uuid, {}, headers=secret_header(secret))
        self.assertEqual(r.status, 200, r)

    def secured_with_token(self, c):
        r = c.post("/api/controllers/register", {"name": "pi-tok", "issue_secret": True},
                   headers={"X-Registration-Token": "tok-1"})
        self.assertEqual(r.status, 200, r)
        return r.json["uuid"], r.json["controller_secret"]


class EdgeCredentialTest(harness.RoundhouseTestCase):
    """The edge keeps its secret, presents it, and survives a database reset with it."""

    def test_edge_secret_kept_presented_and_database_reset_survived(self):
        port = harness.free_port()
        central = es.start_central_at(self, port, os.path.join(self.tmp, "before.db"),
                                      "--heartbeat-interval", "1")
        state = os.path.join(self.tmp, "state")
        edge = self.start_edge(central, state_dir=state, name="pi-sec")
        uuid = edge.wait_event("controller_registered")["uuid"]
        edge.wait_event("controller_secret_stored")
        path = os.path.join(state, "credential.json")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            secret = json.load(f)["secret"]
        self.assertRegex(secret, SECRET_RE)
        self.assertNotIn(secret, "\n".join(edge.lines))  # never logged
        self.assertTrue(es.controller(central, uuid)["secured"])
        self.assertEqual(es.health(edge)["credential"], "loaded")
        # Config download and heartbeats carry it (the central would refuse them otherwise).
        harness.wait_until(lambda: es.health(edge)["registered"], timeout=20)
        self.add_train(central, uuid, "t-sec")
        edge.wait_event("config_applied", timeout=30, where=lambda e: e["trains"] == ["t-sec"])
        self.assertFalse(central.find_events("controller_auth_failed"))

        # Restart: reactivated with the same secret.
        self.stop(edge)
        edge = self.start_edge(central, state_dir=state, name="pi-sec")
        ev = edge.wait_event("controller_registered")
        self.assertEqual((ev["uuid"], ev["status"]), (uuid, "reactivated"))
        self.assertFalse(edge.find_events("controller_secret_stored"))
        edge.wait_event("mqtt_connected")

        # Database reset: a fresh central on the same address adopts UUID and secret.
        self.stop(central)
        central2 = es.start_central_at(self, port, os.path.join(self.tmp, "after.db"),
                                       "--heartbeat-interval", "1")
        ev = edge.wait_event("controller_registered", timeout=60,
                             where=lambda e: e["status"] == "restored")
        self.assertEqual(ev["uuid"], uuid)
        self.assertTrue(es.controller(central2, uuid)["secured"])
        r = central2.get("/api/controllers/%s/config" % uuid)
        self.assertEqual(r.status, 401, r)  # adopted: required from now on
        central2.wait_event("controller_auth_failed")  # the probe's line has been read
        probes = len(central2.find_events("controller_auth_failed"))
        # It keeps driving, with what the new central assigns.
        self.add_train(central2, uuid, "t-after")
        edge.wait_event("config_applied", timeout=30, where=lambda e: e["trains"] == ["t-after"])
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t-after/status")
            es.command_until(mq, "t-after", {"action": "setSpeed", "speed": 20},
                             lambda d: d["speed"] == 20)
        harness.wait_until(
            lambda: es.controller(central2, uuid)["applied_config_version"] is not None,
            timeout=30, message="heartbeats accepted by the new central")
        self.assertEqual(len(central2.find_events("controller_auth_failed")), probes,
                         "the edge's own calls were refused")

    def test_corrupt_secret_file_keeps_driving_and_is_reported(self):
        central = self.start_central("--heartbeat-interval", "1")
        state = os.path.join(self.tmp, "state")
        edge = self.start_edge(central, state_dir=state, name="pi-corrupt")
        uuid = edge.wait_event("controller_registered")["uuid"]
        edge.wait_event("controller_secret_stored")
        self.add_train(central, uuid, "t-c")
        edge.wait_event("config_applied", timeout=30, where=lambda e: e["trains"] == ["t-c"])
        self.stop(edge)
        with open(os.path.join(state, "credential.json"), "w") as f:
            f.write("{garbage")
        edge = self.start_edge(central, state_dir=state, name="pi-corrupt")
        edge.wait_event("credential_unreadable")
        edge.wait_event("mqtt_connected")
        # Driving from the cache goes on.
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t-c/status")
            es.command_until(mq, "t-c", {"action": "setSpeed", "speed": 11},
                             lambda d: d["speed"] == 11)
        # The central refuses the UUID without its secret; /health says why.
        edge.wait_event("controller_secret_refused", timeout=30)
        h = es.health(edge)
        self.assertEqual(h["credential"], "invalid")
        self.assertEqual(h["status"], "degraded")
        self.assertIn("credential", h["reason"])
        self.assertTrue(h["credential_error"])
        central.wait_event("controller_auth_failed", timeout=10)


if __name__ == "__main__":
    harness.main()
