"""Controller registry of roundhouse-central over real HTTP: UUID-first identity across
container rebuilds and database resets, hostname fallback that never merges live
controllers, concurrency, heartbeat, ping, PATCH/DELETE and the GET aliases.
(docs/api.md "Controllers"; docs/architecture.md.)"""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import harness


class ControllerRegistrationTest(harness.RoundhouseTestCase):

    def assertControllerShape(self, doc):
        self.assertIsInstance(doc, dict)
        missing = harness.CONTROLLER_KEYS - set(doc)
        self.assertFalse(missing, "controller lacks keys %s: %r" % (sorted(missing), doc))
        self.assertUuid(doc["id"])
        self.assertIn(doc["status"], harness.PRESENCE_STATES, doc)
        self.assertIsInstance(doc["trains"], list, doc)
        self.assertIsInstance(doc["enabled"], bool, doc)
        self.assertIsInstance(doc["config_version"], int, doc)
        for key in ("first_seen", "last_seen"):
            if doc[key] is not None:
                self.assertIsoUtc(doc[key], "%s of %r" % (key, doc))

    def test_register_new_controller(self):
        c = self.start_central("--heartbeat-interval", "7")
        ans = self.register(c, "pi-new", "10.0.0.1")
        self.assertFalse(harness.REGISTER_KEYS - set(ans), ans)
        self.assertUuid(ans["uuid"])
        self.assertEqual(ans["status"], "registered")
        self.assertEqual(ans["name"], "pi-new")
        self.assertEqual(ans["address"], "10.0.0.1")
        self.assertEqual(ans["heartbeat_interval"], 7)
        self.assertIsInstance(ans["config_version"], int)

        doc = self.get_json(c, "/api/controllers/%s" % ans["uuid"])
        self.assertControllerShape(doc)
        self.assertEqual(doc["id"], ans["uuid"])
        self.assertEqual(doc["name"], "pi-new")
        self.assertEqual(doc["address"], "10.0.0.1")
        self.assertEqual(doc["status"], "online")
        self.assertEqual(doc["trains"], [])
        self.assertEqual(doc["config_version"], ans["config_version"])
        self.assertIsoUtc(doc["first_seen"])
        self.assertIsoUtc(doc["last_seen"])

    def test_container_rebuild_keeps_uuid(self):
        c = self.start_central()
        first = self.register(c, "3f2a9c1d0e4b", "172.17.0.2")
        self.assertEqual(first["status"], "registered")
        u = first["uuid"]
        before = self.get_json(c, "/api/controllers/%s" % u)

        # The rebuilt container has a new hostname and address but the same state volume.
        again = self.register(c, "9b8c7d6e5f4a", "172.17.0.3", uuid=u, version="1.2.3",
                              platform="debian-12-aarch64", hardware_id="pi4-0001")
        self.assertEqual(again["uuid"], u)
        self.assertEqual(again["status"], "reactivated")
        self.assertEqual(again["name"], "9b8c7d6e5f4a")
        self.assertEqual(again["address"], "172.17.0.3")

        listed = self.get_json(c, "/api/controllers")
        self.assertEqual([x["id"] for x in listed], [u], listed)
        doc = listed[0]
        self.assertControllerShape(doc)
        self.assertEqual(doc["name"], "9b8c7d6e5f4a")
        self.assertEqual(doc["address"], "172.17.0.3")
        self.assertEqual(doc["version"], "1.2.3")
        self.assertEqual(doc["platform"], "debian-12-aarch64")
        self.assertEqual(doc["first_seen"], before["first_seen"])
        self.assertGreaterEqual(doc["last_seen"], before["last_seen"])

    def test_database_reset_restores_uuid(self):
        c = self.start_central()
        u = self.register(c, "pi-reset", "10.0.0.5")["uuid"]
        self.add_train(c, u, "t-reset")
        cfg = self.get_json(c, "/api/controllers/%s/config" % u)
        applied = cfg["version"]
        r = c.post("/api/controllers/%s/heartbeat" % u, {"config_version": applied})
        self.assertEqual(r.status, 200, r)
        self.stop(c)

        harness.reset_database(c.db)

        c2 = self.start_central()
        self.assertEqual(self.get_json(c2, "/api/controllers"), [])
        # The edge presents its cached UUID and the config version it runs (well above what a
        # fresh database would start at, so the seeding rule is really exercised).
        reported = applied + 10
        ans = self.register(c2, "pi-reset", "10.0.0.5", uuid=u, applied_config_version=reported)
        self.assertEqual(ans["uuid"], u)
        self.assertEqual(ans["status"], "restored")
        self.assertGreater(ans["config_version"], reported)

        listed = self.get_json(c2, "/api/controllers")
        self.assertEqual([x["id"] for x in listed], [u])
        doc = self.get_json(c2, "/api/controllers/%s" % u)
        self.assertControllerShape(doc)
        self.assertGreater(doc["config_version"], reported)
        self.assertEqual(doc["applied_config_version"], reported)
        cfg2 = self.get_json(c2, "/api/controllers/%s/config" % u)
        self.assertGreater(cfg2["version"], reported)
        ping = self.get_json(c2, "/api/controllers/%s/ping" % u)
        self.assertEqual(ping, {"status": "ok", "uuid": u})

    def test_live_controllers_with_one_hostname_get_different_uuids(self):
        c = self.start_central()
        a = self.register(c, "raspberrypi", "10.0.0.11")
        b = self.register(c, "raspberrypi", "10.0.0.12")
        self.assertEqual(a["status"], "registered")
        self.assertEqual(b["status"], "registered")
        self.assertNotEqual(a["uuid"], b["uuid"])
        ids = sorted(x["id"] for x in self.get_json(c, "/api/controllers"))
        self.assertEqual(ids, sorted([a["uuid"], b["uuid"]]))

    def test_quick_restart_from_same_address_is_the_same_controller(self):
        # An earlier edge whose container lost its cache registers again, without a UUID,
        # seconds after its first registration: same name and same address is the same device.
        c = self.start_central()
        first = self.register(c, "pi-quick", "10.0.0.41")
        self.add_train(c, first["uuid"], "t-quick")
        again = self.register(c, "pi-quick", "10.0.0.41")
        self.assertEqual((again["uuid"], again["status"]), (first["uuid"], "existing"))
        self.assertEqual([x["id"] for x in self.get_json(c, "/api/controllers")], [first["uuid"]])
        self.assertEqual(self.get_json(c, "/api/trains/t-quick")["controller_id"], first["uuid"])
        # The earlier edge's placeholder address names no device.
        u1 = self.register(c, "pi-nowhere", "unknown")["uuid"]
        u2 = self.register(c, "pi-nowhere", "unknown")["uuid"]
        self.assertNotEqual(u1, u2)

    def test_offline_controller_with_same_name_is_adopted(self):
        c = self.start_central("--stale-after", "1", "--offline-after", "2")
        first = self.register(c, "pi-sleepy", "10.0.0.21")
        u = first["uuid"]
        harness.wait_until(
            lambda: self.get_json(c, "/api/controllers/%s" % u)["status"] == "offline",
            timeout=20, interval=0.2, message="controller never became offline")
        again = self.register(c, "pi-sleepy", "10.0.0.22")
        self.assertEqual(again["uuid"], u)
        self.assertEqual(again["status"], "existing")
        listed = self.get_json(c, "/api/controllers")
        self.assertEqual([x["id"] for x in listed], [u])
        self.assertEqual(listed[0]["address"], "10.0.0.22")
        self.assertEqual(listed[0]["status"], "online")

    def test_stale_controller_with_same_name_is_adopted(self):
        # "not online" includes stale.
        c = self.start_central("--stale-after", "1", "--offline-after", "600")
        u = self.register(c, "pi-stale", "10.0.0.31")["uuid"]
        harness.wait_until(
            lambda: self.get_json(c, "/api/controllers/%s" % u)["status"] == "stale",
            timeout=20, interval=0.2, message="controller never became stale")
        again = self.register(c, "pi-stale", "10.0.0.31")
        self.assertEqual((again["uuid"], again["status"]), (u, "existing"))
        self.assertEqual(len(self.get_json(c, "/api/controllers")), 1)

    def test_parallel_registrations_with_one_new_uuid_make_one_controller(self):
        c = self.start_central("--register-rate", "1000")
        u = harness.new_uuid()
        n = 50
        barrier = threading.Barrier(n, timeout=30)

        def one(i):
            barrier.wait()
            return c.post("/api/controllers/register",
                          {"name": "pi-storm", "address": "10.9.0.%d" % (i + 1), "uuid": u},
                          timeout=60)

        with ThreadPoolExecutor(max_workers=n) as pool:
            answers = list(pool.map(one, range(n), timeout=120))
        for r in answers:
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["uuid"], u, r)
        statuses = sorted(r.json["status"] for r in answers)
        self.assertEqual(statuses.count("restored"), 1, statuses)
        self.assertEqual(statuses.count("reactivated"), n - 1, statuses)
        listed = self.get_json(c, "/api/controllers")
        self.assertEqual([x["id"] for x in listed], [u], listed)

    def test_parallel_registrations_without_uuid_never_share(self):
        # Every one is live the moment it exists, so no two registrations may get one UUID.
        c = self.start_central("--register-rate", "1000")
        n = 20
        barrier = threading.Barrier(n, timeout=30)

        def one(i):
            barrier.wait()
            return c.post("/api/controllers/register", {"name": "twin", "address": "10.8.0.%d" % (i + 1)},
                          timeout=60)

        with ThreadPoolExecutor(max_workers=n) as pool:
            answers = list(pool.map(one, range(n), timeout=120))
        for r in answers:
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["status"], "registered", r)
        uuids = {r.json["uuid"] for r in answers}
        self.assertEqual(len(uuids), n)
        self.assertEqual(len(self.get_json(c, "/api/controllers")), n)


class HeartbeatAndPingTest(harness.RoundhouseTestCase):

    def test_heartbeat_stores_telemetry_and_answers_desired_version(self):
        c = self.start_central("--heartbeat-interval", "7")
        reg = self.register(c, "pi-hb", "10.0.1.1")
        u = reg["uuid"]
        before = self.get_json(c, "/api/controllers/%s" % u)
        cfg = self.get_json(c, "/api/controllers/%s/config" % u)
        self.assertEqual(cfg["heartbeat_interval"], 7)

        time.sleep(1.1)  # timestamps have one-second resolution at least
        body = {"config_hash": "sha256:" + "ab" * 32, "config_version": cfg["version"],
                "version": "2.0.0", "platform": "debian-12-aarch64", "memory_mb": 512, "cpu_count": 4,
                "session_epoch": reg["session_epoch"],
                "trains": []}
        r = c.post("/api/controllers/%s/heartbeat" % u, body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "ok")
        self.assertEqual(r.json["heartbeat_interval"], 7)
        self.assertEqual(r.json["config_version"], cfg["version"])

        doc = self.get_json(c, "/api/controllers/%s" % u)
        self.assertEqual(doc["version"], "2.0.0")
        self.assertEqual(doc["platform"], "debian-12-aarch64")
        self.assertEqual(doc["memory_mb"], 512)
        self.assertEqual(doc["cpu_count"], 4)
        self.assertEqual(doc["config_hash"], body["config_hash"])
        self.assertEqual(doc["applied_config_version"], cfg["version"])
        self.assertEqual(doc["first_seen"], before["first_seen"])
        self.assertGreater(doc["last_seen"], before["last_seen"])
        self.assertEqual(doc["status"], "online")

        # A change of the desired config (a train assigned) shows in the next answer.
        self.add_train(c, u, "t-hb")
        desired = self.get_json(c, "/api/controllers/%s" % u)["config_version"]
        self.assertGreater(desired, cfg["version"])
        r = c.post("/api/controllers/%s/heartbeat" % u, {})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["config_version"], desired)
        # Partial heartbeat keeps earlier telemetry.
        doc = self.get_json(c, "/api/controllers/%s" % u)
        self.assertEqual(doc["version"], "2.0.0")
        self.assertEqual(doc["memory_mb"], 512)

    def test_heartbeat_unknown_controller_is_404(self):
        c = self.start_central()
        self.register(c, "pi-known", "10.0.1.2")
        self.assertRejectedUnchanged(
            c, lambda: c.post("/api/controllers/%s/heartbeat" % harness.new_uuid(), {"version": "1"}), 404)

    def test_ping_endpoints(self):
        c = self.start_central()
        r = c.get("/api/ping")
        self.assertEqual((r.status, r.json), (200, {"status": "ok"}), r)
        u = self.register(c, "pi-ping", "10.0.1.3")["uuid"]
        r = c.get("/api/controllers/%s/ping" % u)
        self.assertEqual((r.status, r.json), (200, {"status": "ok", "uuid": u}), r)
        self.assertJsonError(c.get("/api/controllers/%s/ping" % harness.new_uuid()), 404)


class ControllerAdminTest(harness.RoundhouseTestCase):

    def test_get_aliases(self):
        c = self.start_central()
        a = self.register(c, "pi-a", "10.0.2.1")["uuid"]
        b = self.register(c, "pi-b", "10.0.2.2")["uuid"]
        main = self.get_json(c, "/api/controllers")
        alias = self.get_json(c, "/api/edge-controllers")
        self.assertEqual(sorted(x["id"] for x in main), sorted([a, b]))
        self.assertEqual(sorted(x["id"] for x in alias), sorted([a, b]))
        for doc in main + alias:
            self.assertControllerShapeLite(doc)
        for path in ("/api/controllers/%s", "/api/edge-controllers/%s", "/api/config/edge-controllers/%s"):
            doc = self.get_json(c, path % a)
            self.assertEqual(doc["id"], a, path)
            self.assertEqual(doc["name"], "pi-a", path)
            self.assertControllerShapeLite(doc)
            self.assertJsonError(c.get(path % harness.new_uuid()), 404)

    def assertControllerShapeLite(self, doc):
        missing = harness.CONTROLLER_KEYS - set(doc)
        self.assertFalse(missing, "controller lacks keys %s: %r" % (sorted(missing), doc))

    def test_patch_controller(self):
        c = self.start_central()
        u = self.register(c, "pi-patch", "10.0.3.1")["uuid"]
        v0 = self.get_json(c, "/api/controllers/%s" % u)["config_version"]

        r = c.patch("/api/controllers/%s" % u, {"description": "Yard shunter", "enabled": False})
        self.assertEqual(r.status, 200, r)
        doc = self.get_json(c, "/api/controllers/%s" % u)
        self.assertEqual(doc["description"], "Yard shunter")
        self.assertIs(doc["enabled"], False)
        self.assertEqual(doc["name"], "pi-patch")

        # The name is part of the runtime config, so renaming bumps config_version.
        r = c.patch("/api/controllers/%s" % u, {"name": "yard-pi"})
        self.assertEqual(r.status, 200, r)
        doc = self.get_json(c, "/api/controllers/%s" % u)
        self.assertEqual(doc["name"], "yard-pi")
        self.assertEqual(doc["description"], "Yard shunter")
        self.assertGreater(doc["config_version"], v0)
        cfg = self.get_json(c, "/api/controllers/%s/config" % u)
        self.assertEqual(cfg["name"], "yard-pi")
        self.assertEqual(cfg["version"], doc["config_version"])

        r = c.patch("/api/controllers/%s" % u, {})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get_json(c, "/api/controllers/%s" % u)["name"], "yard-pi")

        self.assertRejectedUnchanged(c, lambda: c.patch("/api/controllers/%s" % u, {"enabled": "no"}),
                                     422, field="enabled")
        self.assertRejectedUnchanged(c, lambda: c.patch("/api/controllers/%s" % u, {"name": 42}),
                                     422, field="name")
        self.assertRejectedUnchanged(c, lambda: c.patch("/api/controllers/%s" % u, {"name": ""}),
                                     422, field="name")
        self.assertRejectedUnchanged(
            c, lambda: c.patch("/api/controllers/%s" % harness.new_uuid(), {"name": "x"}), 404)

    def test_delete_controller_unassigns_its_trains(self):
        c = self.start_central()
        a = self.register(c, "pi-doomed", "10.0.4.1")["uuid"]
        b = self.register(c, "pi-keeper", "10.0.4.2")["uuid"]
        self.add_train(c, a, "t-orphan")
        self.add_train(c, b, "t-kept")

        r = c.delete("/api/controllers/%s" % a)
        self.assertIn(r.status, (200, 204), r)
        self.assertJsonError(c.get("/api/controllers/%s" % a), 404)
        self.assertEqual([x["id"] for x in self.get_json(c, "/api/controllers")], [b])
        orphan = self.get_json(c, "/api/trains/t-orphan")
        self.assertIsNone(orphan["controller_id"], orphan)
        self.assertIsNone(orphan["desired_controller_id"], orphan)
        self.assertEqual(self.get_json(c, "/api/trains/t-kept")["controller_id"], b)
        self.assertRejectedUnchanged(c, lambda: c.delete("/api/controllers/%s" % a), 404)


if __name__ == "__main__":
    harness.main()
