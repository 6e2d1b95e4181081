"""Trains and runtime configs of roundhouse-central over real HTTP: registration
201/200/409/reassign, config_version bumps and MQTT notifications on a move, runtime config
document, checksum and ETag, PUT/DELETE semantics, GET aliases, commands and status.
(docs/api.md "Runtime config", "Trains"; docs/mqtt.md.)"""

import json
import os
import struct
import time
import unittest
import zlib

import harness


class TrainRegistrationTest(harness.RoundhouseTestCase):

    def setUp(self):
        super().setUp()
        self.c = self.start_central()
        self.a = self.register(self.c, "pi-a", "10.1.0.1")["uuid"]
        self.b = self.register(self.c, "pi-b", "10.1.0.2")["uuid"]

    def version(self, u):
        return self.get_json(self.c, "/api/controllers/%s" % u)["config_version"]

    def assertTrainShape(self, doc):
        missing = harness.TRAIN_KEYS - set(doc)
        self.assertFalse(missing, "train lacks keys %s: %r" % (sorted(missing), doc))
        self.assertIsInstance(doc["plugin"], dict, doc)
        self.assertIsInstance(doc["plugin"].get("name"), str, doc)
        self.assertIsInstance(doc["plugin"].get("config"), dict, doc)
        self.assertIsInstance(doc["invert_directions"], bool, doc)
        self.assertEqual(doc["controller_id"], doc["desired_controller_id"], doc)
        if doc["controller_id"] is not None:
            self.assertIn(doc["reassignment_status"], harness.REASSIGNMENT_STATES, doc)

    def test_register_201_200_409_and_reassign(self):
        c, a, b = self.c, self.a, self.b
        body = {"train_id": "t1", "name": "Express", "description": "Blue coaches", "model": "BR 101",
                "plugin": {"name": "dc_motor_hat", "config": {"motor_port": 1}}}
        va0, vb0 = self.version(a), self.version(b)
        r = c.post("/api/controllers/%s/trains" % a, body)
        self.assertEqual(r.status, 201, r)
        self.assertTrainShape(r.json)
        self.assertEqual(r.json["id"], "t1")
        self.assertEqual(r.json["name"], "Express")
        self.assertEqual(r.json["description"], "Blue coaches")
        self.assertEqual(r.json["model"], "BR 101")
        self.assertEqual(r.json["plugin"], {"name": "dc_motor_hat", "config": {"motor_port": 1}})
        self.assertEqual(r.json["controller_id"], a)
        va1 = self.version(a)
        self.assertGreater(va1, va0)
        self.assertEqual(self.version(b), vb0)

        # Same train, same controller: idempotent.
        r = c.post("/api/controllers/%s/trains" % a, body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["id"], "t1")
        self.assertEqual(r.json["controller_id"], a)
        self.assertEqual(self.version(a), va1)

        # Another controller claims it without reassign: 409 naming the owner, nothing written.
        resp = self.assertRejectedUnchanged(
            c, lambda: c.post("/api/controllers/%s/trains" % b, {"train_id": "t1", "name": "Express"}),
            409, error="train_assigned_elsewhere")
        self.assertEqual(resp.json.get("owner"), a, resp)
        self.assertEqual(self.get_json(c, "/api/trains/t1")["controller_id"], a)

        # With reassign: moved, 200, both controllers' configs change.
        vb1 = self.version(b)
        r = c.post("/api/controllers/%s/trains" % b, dict(body, reassign=True))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["controller_id"], b, r)
        va2, vb2 = self.version(a), self.version(b)
        self.assertGreater(va2, va1)
        self.assertGreater(vb2, vb1)

        train = self.get_json(c, "/api/trains/t1")
        self.assertTrainShape(train)
        self.assertEqual(train["controller_id"], b)
        self.assertEqual(train["desired_controller_id"], b)
        ctrl_a = self.get_json(c, "/api/controllers/%s" % a)
        ctrl_b = self.get_json(c, "/api/controllers/%s" % b)
        self.assertEqual([t["id"] for t in ctrl_a["trains"]], [])
        self.assertEqual([t["id"] for t in ctrl_b["trains"]], ["t1"])
        cfg_a = self.get_json(c, "/api/controllers/%s/config" % a)
        cfg_b = self.get_json(c, "/api/controllers/%s/config" % b)
        self.assertIsNone(cfg_a["train_id"])
        self.assertEqual(cfg_a["trains"], [])
        self.assertEqual(cfg_a["version"], va2)
        self.assertEqual(cfg_b["train_id"], "t1")
        self.assertEqual(cfg_b["version"], vb2)

        # Heartbeats carry the desired versions.
        for u, v in ((a, va2), (b, vb2)):
            r = c.post("/api/controllers/%s/heartbeat" % u, {})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["config_version"], v)

    @unittest.skipUnless(harness.HAVE_PAHO, "python3-paho-mqtt not installed")
    def test_move_publishes_config_update_to_both_controllers(self):
        c, a, b = self.c, self.a, self.b
        self.add_train(c, a, "t-move")
        r = c.put("/api/trains/t-move", {"controller_id": b})
        self.assertEqual(r.status, 200, r)
        cfg_a = self.get_json(c, "/api/controllers/%s/config" % a)
        cfg_b = self.get_json(c, "/api/controllers/%s/config" % b)
        # The notifications are retained, so subscribing after the move still sees them.
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("controllers/+/config/update")
            for u, cfg in ((a, cfg_a), (b, cfg_b)):
                doc, _retained = mq.wait_message(
                    "controllers/%s/config/update" % u, where=lambda d, v=cfg["version"]: d.get("version") == v,
                    timeout=15)
                self.assertEqual(doc["checksum"], cfg["checksum"], doc)

    def test_aliases_take_controller_uuid_in_body(self):
        c, a, b = self.c, self.a, self.b
        plugin = {"name": "simulator", "config": {}}
        r = c.post("/api/trains", {"controller_uuid": a, "train_id": "t-alias1", "name": "One", "plugin": plugin})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["controller_id"], a)
        r = c.post("/api/config/trains", {"controller_uuid": b, "train_id": "t-alias2", "name": "Two",
                                          "plugin": plugin})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["controller_id"], b)
        # Already there: unchanged (the earlier system wrongly took the reassign path here).
        r = c.post("/api/trains", {"controller_uuid": a, "train_id": "t-alias1", "name": "One", "plugin": plugin})
        self.assertEqual(r.status, 200, r)
        resp = self.assertRejectedUnchanged(
            c, lambda: c.post("/api/config/trains", {"controller_uuid": b, "train_id": "t-alias1", "name": "One",
                                                     "plugin": plugin}),
            409, error="train_assigned_elsewhere")
        self.assertEqual(resp.json.get("owner"), a)
        self.assertEqual(self.get_json(c, "/api/trains/t-alias1")["controller_id"], a)
        r = c.post("/api/trains", {"controller_uuid": b, "train_id": "t-alias1", "name": "One", "plugin": plugin,
                                   "reassign": True})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get_json(c, "/api/trains/t-alias1")["controller_id"], b)

        self.assertRejectedUnchanged(
            c, lambda: c.post("/api/trains", {"train_id": "t-x", "name": "X", "plugin": plugin}),
            422, field="controller_uuid")
        self.assertRejectedUnchanged(
            c, lambda: c.post("/api/trains", {"controller_uuid": "not-a-uuid", "train_id": "t-x", "name": "X",
                                              "plugin": plugin}),
            422, field="controller_uuid")
        self.assertRejectedUnchanged(
            c, lambda: c.post("/api/trains", {"controller_uuid": harness.new_uuid(), "train_id": "t-x",
                                              "name": "X", "plugin": plugin}),
            404)
        self.assertRejectedUnchanged(
            c, lambda: c.post("/api/controllers/%s/trains" % harness.new_uuid(), {"train_id": "t-x", "name": "X"}),
            404)

    def test_get_aliases(self):
        c, a, b = self.c, self.a, self.b
        self.add_train(c, a, "t-get", name="Getter")
        for path in ("/api/trains", "/api/config/trains", "/api/controllers/%s/trains" % a,
                     "/api/edge-controllers/%s/trains" % a):
            listed = self.get_json(c, path)
            self.assertEqual([t["id"] for t in listed], ["t-get"], path)
            self.assertEqual(listed[0]["name"], "Getter", path)
        self.assertIn("status", self.get_json(c, "/api/trains")[0])
        for path in ("/api/trains/t-get", "/api/config/trains/t-get", "/api/controllers/%s/trains/t-get" % a):
            doc = self.get_json(c, path)
            self.assertEqual(doc["id"], "t-get", path)
            self.assertEqual(doc["controller_id"], a, path)
        self.assertTrainShape(self.get_json(c, "/api/trains/t-get"))
        self.assertEqual(self.get_json(c, "/api/controllers/%s/trains" % b), [])
        for path in ("/api/trains/nope", "/api/config/trains/nope", "/api/controllers/%s/trains/t-get" % b,
                     "/api/controllers/%s/trains" % harness.new_uuid(),
                     "/api/controllers/%s/trains/t-get" % harness.new_uuid()):
            self.assertJsonError(c.get(path), 404)

    def test_put_train_semantics(self):
        c, a, b = self.c, self.a, self.b
        self.add_train(c, a, "t-put", name="Original", description="First")
        before = self.get_json(c, "/api/trains/t-put")
        va = self.version(a)

        r = c.put("/api/trains/t-put", {})
        self.assertEqual(r.status, 200, r)
        after = self.get_json(c, "/api/trains/t-put")
        for key in ("name", "description", "model", "plugin", "invert_directions", "controller_id"):
            self.assertEqual(after[key], before[key], key)
        self.assertEqual(self.version(a), va)

        r = c.put("/api/trains/t-put", {"description": None})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(self.get_json(c, "/api/trains/t-put")["description"])
        self.assertEqual(self.get_json(c, "/api/trains/t-put")["name"], "Original")

        r = c.put("/api/trains/t-put", {"name": "N" * 100, "description": "d" * 500})
        self.assertEqual(r.status, 200, r)
        doc = self.get_json(c, "/api/trains/t-put")
        self.assertEqual((doc["name"], doc["description"]), ("N" * 100, "d" * 500))
        # Lengths are characters, not bytes.
        r = c.put("/api/trains/t-put", {"name": "é" * 100})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get_json(c, "/api/trains/t-put")["name"], "é" * 100)

        r = c.put("/api/trains/t-put", {"invert_directions": True})
        self.assertEqual(r.status, 200, r)
        self.assertIs(self.get_json(c, "/api/trains/t-put")["invert_directions"], True)
        cfg = self.get_json(c, "/api/controllers/%s/config" % a)
        self.assertIs(cfg["trains"][0]["invert_directions"], True)

        for bad, field in (({"name": ""}, "name"), ({"name": "x" * 101}, "name"), ({"name": 7}, "name"),
                           ({"description": "d" * 501}, "description"),
                           ({"invert_directions": "true"}, "invert_directions"),
                           ({"controller_id": "not-a-uuid"}, "controller_id"),
                           ({"controller_id": 12}, "controller_id")):
            with self.subTest(body=bad):
                self.assertRejectedUnchanged(c, lambda: c.put("/api/trains/t-put", bad), 422, field=field)
        self.assertRejectedUnchanged(
            c, lambda: c.put("/api/trains/t-put", {"controller_id": harness.new_uuid()}), (404, 422))
        self.assertRejectedUnchanged(c, lambda: c.put("/api/trains/nope", {"name": "x"}), 404)

        # controller_id moves ...
        va, vb = self.version(a), self.version(b)
        r = c.put("/api/trains/t-put", {"controller_id": b})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get_json(c, "/api/trains/t-put")["controller_id"], b)
        self.assertGreater(self.version(a), va)
        self.assertGreater(self.version(b), vb)
        self.assertEqual(self.get_json(c, "/api/controllers/%s/config" % b)["train_id"], "t-put")
        # ... and null unassigns.
        vb = self.version(b)
        r = c.put("/api/trains/t-put", {"controller_id": None})
        self.assertEqual(r.status, 200, r)
        doc = self.get_json(c, "/api/trains/t-put")
        self.assertIsNone(doc["controller_id"])
        self.assertIsNone(doc["desired_controller_id"])
        self.assertGreater(self.version(b), vb)
        cfg = self.get_json(c, "/api/controllers/%s/config" % b)
        self.assertIsNone(cfg["train_id"])
        self.assertEqual(cfg["trains"], [])
        self.assertIn("t-put", [t["id"] for t in self.get_json(c, "/api/trains")])

    def test_delete_train(self):
        c, a = self.c, self.a
        self.add_train(c, a, "t-del")
        va = self.version(a)
        r = c.delete("/api/trains/t-del")
        self.assertIn(r.status, (200, 204), r)
        self.assertJsonError(c.get("/api/trains/t-del"), 404)
        self.assertGreater(self.version(a), va)
        cfg = self.get_json(c, "/api/controllers/%s/config" % a)
        self.assertEqual((cfg["train_id"], cfg["trains"]), (None, []))
        self.assertEqual(self.get_json(c, "/api/controllers/%s" % a)["trains"], [])
        self.assertRejectedUnchanged(c, lambda: c.delete("/api/trains/t-del"), 404)


def tiny_png():
    """A valid 1x1 PNG, built here so the test needs no image file."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


# The start of a JPEG file (SOI and an APP0/JFIF segment): what the type check reads.
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


class TrainPhotoTest(harness.RoundhouseTestCase):
    """docs/api.md "Train photos": PNG or JPEG, type checked from the bytes, at most 512 KiB,
    served with its own type and nosniff, gone with its train."""

    def setUp(self):
        super().setUp()
        self.c = self.start_central()
        self.a = self.register(self.c, "pi-a", "10.1.0.1")["uuid"]
        self.add_train(self.c, self.a, "t1")

    def put_photo(self, tid, data, content_type):
        return self.c.put("/api/trains/%s/photo" % tid, raw=data, content_type=content_type)

    def test_png_and_jpeg_are_stored_and_served_with_nosniff(self):
        c, png = self.c, tiny_png()
        self.assertIsNone(self.get_json(c, "/api/trains/t1")["photo_url"])
        self.assertJsonError(c.get("/api/trains/t1/photo"), 404)
        version = self.get_json(c, "/api/controllers/%s" % self.a)["config_version"]
        r = self.put_photo("t1", png, "image/png")
        self.assertEqual(r.status, 200, r)
        url = r.json["photo_url"]
        self.assertRegex(url or "", r"^/api/trains/t1/photo\?v=\d+$", r)
        self.assertEqual(self.get_json(c, "/api/trains/t1")["photo_url"], url)
        got = c.get(url)
        self.assertEqual((got.status, got.body), (200, png), got)
        self.assertEqual(got.header("Content-Type"), "image/png")
        self.assertEqual(got.header("X-Content-Type-Options"), "nosniff")
        # A photo is not part of what the controller runs: its config does not change.
        self.assertEqual(self.get_json(c, "/api/controllers/%s" % self.a)["config_version"], version)

        jpeg = JPEG_HEAD + bytes(range(256)) * 4 + b"\xff\xd9"
        r = self.put_photo("t1", jpeg, "image/jpeg; charset=binary")
        self.assertEqual(r.status, 200, r)
        got = c.get("/api/trains/t1/photo")
        self.assertEqual((got.status, got.header("Content-Type"), got.body), (200, "image/jpeg", jpeg))

    def test_wrong_type_too_large_and_unknown_train_change_nothing(self):
        c, png = self.c, tiny_png()
        self.assertEqual(self.put_photo("t1", png, "image/png").status, 200)
        before = c.get("/api/trains/t1/photo").body
        cases = [
            (lambda: self.put_photo("t1", png, "image/jpeg"), 415, "photo"),
            (lambda: self.put_photo("t1", b"<svg onload=alert(1)>", "image/png"), 415, "photo"),
            (lambda: self.put_photo("t1", png, "image/svg+xml"), 415, "Content-Type"),
            (lambda: self.put_photo("t1", png, None), 415, "Content-Type"),
            (lambda: self.put_photo("t1", b"", "image/png"), 415, "photo"),
            (lambda: self.put_photo("t1", png + b"\0" * (512 * 1024), "image/png"), 413, None),
        ]
        for send, status, field in cases:
            r = send()
            self.assertJsonError(r, status)
            if field is not None:
                self.assertEqual(r.json.get("field"), field, r)
            got = c.get("/api/trains/t1/photo")
            self.assertEqual((got.status, got.body), (200, before), "changed by %r" % r)
        r = self.put_photo("nope", png, "image/png")
        self.assertJsonError(r, 404)
        self.assertEqual(r.json["error"], "train_not_found", r)
        r = c.get("/api/trains/nope/photo")
        self.assertEqual((r.status, r.json["error"]), (404, "train_not_found"), r)

    def test_delete_photo_and_train(self):
        c, png = self.c, tiny_png()
        self.assertEqual(self.put_photo("t1", png, "image/png").status, 200)
        r = c.delete("/api/trains/t1/photo")
        self.assertEqual(r.status, 204, r)
        self.assertIsNone(self.get_json(c, "/api/trains/t1")["photo_url"])
        r = c.get("/api/trains/t1/photo")
        self.assertEqual((r.status, r.json["error"]), (404, "not_found"), r)
        self.assertJsonError(c.delete("/api/trains/t1/photo"), 404)

        # A deleted train takes its photo along: a new train of the same id has none.
        self.assertEqual(self.put_photo("t1", png, "image/png").status, 200)
        self.assertIn(c.delete("/api/trains/t1").status, (200, 204))
        self.add_train(c, self.a, "t1")
        self.assertIsNone(self.get_json(c, "/api/trains/t1")["photo_url"])
        self.assertJsonError(c.get("/api/trains/t1/photo"), 404)

    def test_photo_survives_a_restart(self):
        c, png = self.c, tiny_png()
        self.assertEqual(self.put_photo("t1", png, "image/png").status, 200)
        c = self.restart_central(c)
        got = c.get("/api/trains/t1/photo")
        self.assertEqual((got.status, got.body), (200, png), got)


class RuntimeConfigTest(harness.RoundhouseTestCase):

    def assertRuntimeConfig(self, cfg, u):
        missing = harness.RUNTIME_CONFIG_KEYS - set(cfg)
        self.assertFalse(missing, "runtime config lacks %s: %r" % (sorted(missing), cfg))
        self.assertEqual(cfg["uuid"], u)
        self.assertIsInstance(cfg["version"], int)
        self.assertRegex(cfg["checksum"], harness.CHECKSUM_RE)
        self.assertEqual(cfg["checksum"], harness.config_checksum(cfg),
                         "checksum is not sha256 of the canonical JSON: %r" % (cfg,))
        self.assertIsInstance(cfg["mqtt_broker"], dict)
        self.assertIsInstance(cfg["mqtt_broker"].get("host"), str)
        self.assertIsInstance(cfg["mqtt_broker"].get("port"), int)
        self.assertIsInstance(cfg["trains"], list)
        for t in cfg["trains"]:
            self.assertFalse(harness.RUNTIME_TRAIN_KEYS - set(t), t)

    def test_unassigned_controller_config(self):
        c = self.start_central("--heartbeat-interval", "9")
        u = self.register(c, "pi-idle", "10.2.0.1")["uuid"]
        r = c.get("/api/controllers/%s/config" % u)
        self.assertEqual(r.status, 200, r)
        cfg = r.json
        self.assertRuntimeConfig(cfg, u)
        self.assertEqual(cfg["name"], "pi-idle")
        self.assertIsNone(cfg["train_id"])
        self.assertIsNone(cfg["status_topic"])
        self.assertIsNone(cfg["commands_topic"])
        self.assertEqual(cfg["trains"], [])
        self.assertEqual(cfg["heartbeat_interval"], 9)
        self.assertEqual(cfg["version"], self.get_json(c, "/api/controllers/%s" % u)["config_version"])
        # No credentials unless configured.
        self.assertIsNone(cfg["mqtt_broker"].get("username"))
        self.assertIsNone(cfg["mqtt_broker"].get("password"))
        self.assertJsonError(c.get("/api/controllers/%s/config" % harness.new_uuid()), 404)

    def test_assigned_controller_config_and_checksum(self):
        c = self.start_central()
        u = self.register(c, "pi-busy", "10.2.0.2")["uuid"]
        # Non-ASCII text exercises ensure_ascii=False in the canonical form.
        self.add_train(c, u, "t1", name="Zürich Express ☃",
                       plugin={"name": "dc_motor_hat", "config": {"motor_port": 2, "i2c_address": 111}})
        cfg = self.get_json(c, "/api/controllers/%s/config" % u)
        self.assertRuntimeConfig(cfg, u)
        self.assertEqual(cfg["train_id"], "t1")
        self.assertEqual(cfg["status_topic"], "trains/t1/status")
        self.assertEqual(cfg["commands_topic"], "trains/t1/commands")
        self.assertEqual(len(cfg["trains"]), 1)
        t = cfg["trains"][0]
        self.assertEqual(t["train_id"], "t1")
        self.assertEqual(t["name"], "Zürich Express ☃")
        self.assertEqual(t["plugin"], {"name": "dc_motor_hat", "config": {"motor_port": 2, "i2c_address": 111}})
        self.assertIs(t["invert_directions"], False)
        self.assertEqual(t["commands_topic"], "trains/t1/commands")
        self.assertEqual(t["status_topic"], "trains/t1/status")

    def test_etag_and_if_none_match(self):
        c = self.start_central()
        u = self.register(c, "pi-etag", "10.2.0.3")["uuid"]
        path = "/api/controllers/%s/config" % u
        r = c.get(path)
        self.assertEqual(r.status, 200, r)
        etag = r.header("ETag")
        self.assertTrue(etag, "no ETag header: %r" % r)
        self.assertEqual(etag.strip().removeprefix("W/").strip('"'), r.json["checksum"])

        r304 = c.get(path, headers={"If-None-Match": etag})
        self.assertEqual(r304.status, 304, r304)
        self.assertEqual(r304.body, b"")
        r200 = c.get(path, headers={"If-None-Match": '"sha256:%s"' % ("0" * 64)})
        self.assertEqual(r200.status, 200, r200)

        self.add_train(c, u, "t-etag")
        r = c.get(path, headers={"If-None-Match": etag})
        self.assertEqual(r.status, 200, r)
        self.assertNotEqual(r.header("ETag"), etag)
        self.assertEqual(r.header("ETag").strip().removeprefix("W/").strip('"'), r.json["checksum"])
        self.assertEqual(c.get(path, headers={"If-None-Match": r.header("ETag")}).status, 304)

    def test_mqtt_credentials_handed_out_only_when_set(self):
        c = self.start_central("--mqtt-username", "edge", "--mqtt-password", "s3cret")
        u = self.register(c, "pi-cred", "10.2.0.4")["uuid"]
        cfg = self.get_json(c, "/api/controllers/%s/config" % u)
        self.assertEqual(cfg["mqtt_broker"].get("username"), "edge")
        self.assertEqual(cfg["mqtt_broker"].get("password"), "s3cret")
        self.assertEqual(cfg["checksum"], harness.config_checksum(cfg))

    def test_mqtt_broker_follows_host_header_by_default(self):
        c = self.start_central()  # --mqtt 127.0.0.1:PORT, a loopback address
        u = self.register(c, "pi-host", "10.2.0.5")["uuid"]
        path = "/api/controllers/%s/config" % u
        cfg = self.get_json(c, path)
        self.assertEqual(cfg["mqtt_broker"]["host"], "127.0.0.1")
        self.assertEqual(cfg["mqtt_broker"]["port"], self.broker.port)
        # A controller that reached the API under another name gets the broker under that
        # name (we still connect over loopback; only the Host header differs).
        r = c.get(path, headers={"Host": "192.0.2.10:8000"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["mqtt_broker"], {"host": "192.0.2.10", "port": self.broker.port})
        self.assertEqual(r.json["checksum"], harness.config_checksum(r.json))
        r = c.get(path, headers={"Host": "trains.example.org"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["mqtt_broker"]["host"], "trains.example.org")

    def test_mqtt_advertise_overrides(self):
        c = self.start_central("--mqtt-advertise", "mqtt.example.net:18830")
        u = self.register(c, "pi-adv", "10.2.0.6")["uuid"]
        path = "/api/controllers/%s/config" % u
        for headers in ({}, {"Host": "192.0.2.10:8000"}):
            r = c.get(path, headers=headers)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["mqtt_broker"], {"host": "mqtt.example.net", "port": 18830})

    def test_mqtt_advertise_environment(self):
        c = self.start_central(env={"MQTT_ADVERTISE": "env-broker.example:1999"})
        u = self.register(c, "pi-adv-env", "10.2.0.7")["uuid"]
        cfg = self.get_json(c, "/api/controllers/%s/config" % u)
        self.assertEqual(cfg["mqtt_broker"], {"host": "env-broker.example", "port": 1999})


@unittest.skipUnless(harness.HAVE_PAHO, "python3-paho-mqtt not installed")
class CommandAndStatusTest(harness.RoundhouseTestCase):

    def setUp(self):
        super().setUp()
        self.c = self.start_central()
        self.u = self.register(self.c, "pi-cmd", "10.3.0.1")["uuid"]
        self.add_train(self.c, self.u, "t-cmd")
        harness.wait_until(lambda: self.get_json(self.c, "/health").get("mqtt_connected") is True,
                           timeout=20, interval=0.1, message="central never connected to the broker")

    def test_command_is_published(self):
        c = self.c
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t-cmd/commands")
            r = c.post("/api/trains/t-cmd/command", {"action": "setSpeed", "speed": 50})
            self.assertEqual(r.status, 202, r)
            self.assertEqual(r.json.get("train_id"), "t-cmd")
            self.assertIsInstance(r.json.get("message"), str)
            doc, _ = mq.wait_message("trains/t-cmd/commands", where=lambda d: d.get("action") == "setSpeed")
            self.assertEqual(doc.get("speed"), 50)
            r = c.post("/api/trains/t-cmd/command", {"action": "setDirection", "direction": "REVERSE"})
            self.assertEqual(r.status, 202, r)
            doc, _ = mq.wait_message("trains/t-cmd/commands", where=lambda d: d.get("action") == "setDirection")
            self.assertEqual(doc.get("direction"), "REVERSE")
            for action in ("start", "stop", "emergencyStop"):
                r = c.post("/api/trains/t-cmd/command", {"action": action})
                self.assertEqual(r.status, 202, r)
                mq.wait_message("trains/t-cmd/commands", where=lambda d, a=action: d.get("action") == a)

    def test_bad_commands(self):
        c = self.c
        for bad, field in (({"action": "fly"}, "action"), ({}, "action"), ({"action": 3}, "action"),
                           ({"action": "setSpeed", "speed": 101}, "speed"),
                           ({"action": "setSpeed", "speed": -1}, "speed"),
                           ({"action": "setSpeed", "speed": "fast"}, "speed"),
                           ({"action": "setDirection", "direction": "UP"}, "direction")):
            with self.subTest(body=bad):
                self.assertRejectedUnchanged(c, lambda: c.post("/api/trains/t-cmd/command", bad), 422, field=field)
        self.assertRejectedUnchanged(
            c, lambda: c.post("/api/trains/nope/command", {"action": "stop"}), 404)

    def test_earlier_command_bodies_are_relayed_canonically(self):
        """The bodies the earlier system's clients send, which the MQTT side already takes:
        {"speed": N} and {"command": A}, relayed in the canonical {action, ...} form."""
        c = self.c
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t-cmd/commands")
            for body, relayed in (({"speed": 35}, {"action": "setSpeed", "speed": 35}),
                                  ({"command": "stop"}, {"action": "stop"}),
                                  ({"command": "START"}, {"action": "start"}),
                                  ({"action": "stop", "command": "Stop"}, {"action": "stop"}),
                                  ({"speed": 20, "direction": "reverse"},
                                   {"action": "setSpeed", "speed": 20, "direction": "REVERSE"})):
                with self.subTest(body=body):
                    r = c.post("/api/trains/t-cmd/command", body)
                    self.assertEqual(r.status, 202, r)
                    mq.wait_message("trains/t-cmd/commands", where=lambda d, want=relayed: d == want)
        for bad, field in (({"command": "fly"}, "command"), ({"action": "stop", "command": "start"}, "command"),
                           ({"command": 3}, "command"), ({}, "action"), ({"speed": 101}, "speed")):
            with self.subTest(bad=bad):
                self.assertRejectedUnchanged(c, lambda: c.post("/api/trains/t-cmd/command", bad), 422,
                                             field=field)

    def test_central_clears_a_retained_emergency_stop(self):
        with harness.MqttClient(self.broker.port) as mq:
            mq.publish("roundhouse/emergency-stop", {"reason": "left over"}, retain=True)
        c2 = self.start_central(db=os.path.join(self.tmp, "second.db"))
        harness.wait_until(lambda: self.get_json(c2, "/health").get("mqtt_connected") is True,
                           timeout=20, interval=0.1, message="second central never connected")
        # A new subscriber gets a retained message at once, if there is one.
        deadline = time.monotonic() + 10
        while True:
            with harness.MqttClient(self.broker.port) as mq:
                mq.subscribe("roundhouse/emergency-stop")
                time.sleep(0.5)
                retained = [m for m in mq.messages if m[2]]
            if not retained or time.monotonic() > deadline:
                break
        self.assertEqual(retained, [], "the retained emergency stop is still there")

    def test_emergency_stop_broadcast(self):
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("roundhouse/emergency-stop")
            r = self.c.post("/api/emergency-stop", {})
            self.assertIn(r.status, (200, 202), r)
            doc, _ = mq.wait_message("roundhouse/emergency-stop")
            self.assertIn("reason", doc)
            self.assertIsoUtc(doc.get("timestamp"))

    def test_emergency_stop_reaches_every_train_topic(self):
        """Edges of the earlier system listen only on their train's command topic: the
        layout-wide stop is also sent there, for every train (an unassigned one may still run
        on an earlier edge that never re-read its config), and the answer counts them."""
        c, a = self.c, self.u
        b = self.register(c, "pi-cmd-2", "10.3.0.2")["uuid"]
        for tid, owner in (("te-a", a), ("te-b", b), ("te-free", a)):
            self.assertEqual(c.post("/api/controllers/%s/trains" % owner,
                                    {"train_id": tid, "name": tid}).status, 201)
        self.assertEqual(c.put("/api/trains/te-free", {"controller_id": None}).status, 200)
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/+/commands")
            r = c.post("/api/emergency-stop", {"reason": "derailment"})
            self.assertEqual(r.status, 202, r)
            self.assertEqual(r.json.get("trains"), 4, r)  # with setUp's t-cmd
            self.assertEqual(r.json.get("controllers"), 2, r)
            self.assertEqual(r.json.get("trains_failed"), 0, r)
            for tid in ("t-cmd", "te-a", "te-b", "te-free"):
                mq.wait_message("trains/%s/commands" % tid,
                                where=lambda d: d == {"action": "emergencyStop"})

    def test_command_answer_says_whether_anyone_listens(self):
        c = self.c
        r = c.post("/api/trains/t-cmd/command", {"action": "stop"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual((r.json["controller_id"], r.json["controller_status"], r.json["delivered"]),
                         (self.u, "online", True))
        self.assertEqual(c.put("/api/trains/t-cmd", {"controller_id": None}).status, 200)
        r = c.post("/api/trains/t-cmd/command", {"action": "stop"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual((r.json["controller_id"], r.json["delivered"]), (None, False))
        self.assertIn("not delivered", r.json["message"])
        out = harness.run_program("roundhouse", "--central", c.url, "stop", "t-cmd")
        self.assertEqual(out.returncode, 1, out)
        self.assertIn("not delivered", out.stderr)

    def test_command_with_broker_down_is_503_and_recovers(self):
        c = self.c
        self.stop(self.broker)
        harness.wait_until(lambda: self.get_json(c, "/health").get("mqtt_connected") is False,
                           timeout=30, interval=0.1, message="central never noticed the broker is gone")
        self.assertEqual(c.get("/api/ping").status, 200)
        self.assertJsonError(c.post("/api/trains/t-cmd/command", {"action": "stop"}), 503)
        self.restart_broker()
        harness.wait_until(lambda: self.get_json(c, "/health").get("mqtt_connected") is True,
                           timeout=60, interval=0.2, message="central never reconnected to the broker")
        r = c.post("/api/trains/t-cmd/command", {"action": "stop"})
        self.assertEqual(r.status, 202, r)

    def test_status_via_mqtt_and_http(self):
        c = self.c
        # Before any report: the zero status, as the earlier system had from registration on
        # (its UI disabled every control of a train whose status was 404).
        zero = self.get_json(c, "/api/trains/t-cmd/status")
        self.assertEqual((zero["train_id"], zero["speed"], zero["target_speed"], zero["voltage"],
                          zero["current"], zero["position"]), ("t-cmd", 0, 0, 0.0, 0.0, "unknown"), zero)
        self.assertEqual(zero["direction"], "FORWARD")
        self.assertIsoUtc(zero["timestamp"])
        self.assertEqual(self.get_json(c, "/api/trains/t-cmd")["status"]["speed"], 0)
        listed = {t["id"]: t for t in self.get_json(c, "/api/trains")}
        self.assertEqual(listed["t-cmd"]["status"]["position"], "unknown")
        self.assertJsonError(c.get("/api/trains/no-such-train/status"), 404)
        with harness.MqttClient(self.broker.port) as mq:
            mq.publish("trains/t-cmd/status",
                       {"train_id": "t-cmd", "speed": 40, "direction": "BACKWARD", "target_speed": 60,
                        "state": "ramping", "controller_id": self.u, "timestamp": "2026-11-27T10:15:00Z"},
                       qos=0, retain=True)
        st = harness.wait_until(
            lambda: (lambda r: r.json if r.status == 200 and r.json.get("speed") == 40 else None)(
                c.get("/api/trains/t-cmd/status")),
            timeout=15, interval=0.1, message="status from MQTT never showed up")
        for key in ("train_id", "speed", "direction", "target_speed", "state", "voltage", "current", "position",
                    "timestamp", "controller_id"):
            self.assertIn(key, st)
        self.assertEqual(st["train_id"], "t-cmd")
        self.assertEqual(st["direction"], "BACKWARD")
        self.assertEqual(st["target_speed"], 60)
        self.assertEqual(st["state"], "ramping")
        self.assertIsoUtc(st["timestamp"])
        listed = {t["id"]: t for t in self.get_json(c, "/api/trains")}
        self.assertEqual(listed["t-cmd"]["status"]["speed"], 40)

        r = c.post("/api/status/update", {"train_id": "t-cmd", "speed": 10, "direction": "FORWARD",
                                          "timestamp": "2026-11-27T10:16:00Z"})
        self.assertIn(r.status, (200, 202, 204), r)
        st = self.get_json(c, "/api/trains/t-cmd/status")
        self.assertEqual(st["speed"], 10)
        self.assertEqual(st["direction"], "FORWARD")


class ConfigLimitsTest(harness.RoundhouseTestCase):
    """The limits an edge holds its runtime config to (plugin name 64 characters, 64 trains,
    1 MiB) are the central's: a change past them is refused with 422 naming the field, and
    nothing is written. Before, the central took them and the edge refused the whole config,
    for good, while it kept driving the old one."""

    def setUp(self):
        super().setUp()
        self.c = self.start_central()
        self.a = self.register(self.c, "pi-lim-a", "10.7.0.1")["uuid"]
        self.b = self.register(self.c, "pi-lim-b", "10.7.0.2")["uuid"]

    def version(self, u):
        return self.get_json(self.c, "/api/controllers/%s" % u)["config_version"]

    def test_plugin_name_over_64_characters_is_422(self):
        c, a = self.c, self.a
        r = c.post("/api/controllers/%s/trains" % a,
                   {"train_id": "t-p", "name": "P", "plugin": {"name": "p" * 65, "config": {}}})
        self.assertJsonError(r, 422, field="plugin.name")
        self.assertEqual(c.get("/api/trains/t-p").status, 404)
        r = c.post("/api/controllers/%s/trains" % a,
                   {"train_id": "t-p", "name": "P", "plugin": {"name": "p" * 64, "config": {}}})
        self.assertEqual(r.status, 201, r)
        v = self.version(a)
        r = c.put("/api/trains/t-p", {"plugin": {"name": "q" * 65, "config": {}}})
        self.assertJsonError(r, 422, field="plugin.name")
        self.assertEqual(self.get_json(c, "/api/trains/t-p")["plugin"]["name"], "p" * 64)
        self.assertEqual(self.version(a), v)

    def test_65th_train_of_a_controller_is_422(self):
        c, a, b = self.c, self.a, self.b
        for i in range(64):
            r = c.post("/api/controllers/%s/trains" % a, {"train_id": "t%02d" % i, "name": "T"})
            self.assertEqual(r.status, 201, r)
        v = self.version(a)
        r = c.post("/api/controllers/%s/trains" % a, {"train_id": "t-65", "name": "T"})
        self.assertJsonError(r, 422, error="too_many_trains")
        self.assertEqual(c.get("/api/trains/t-65").status, 404)
        # Nor by moving one there, by either path.
        self.assertEqual(c.post("/api/controllers/%s/trains" % b,
                                {"train_id": "t-b", "name": "B"}).status, 201)
        self.assertJsonError(c.put("/api/trains/t-b", {"controller_id": a}), 422,
                             field="controller_id")
        self.assertJsonError(c.post("/api/controllers/%s/trains" % a,
                                    {"train_id": "t-b", "name": "B", "reassign": True}), 422,
                             error="too_many_trains")
        self.assertEqual(self.get_json(c, "/api/trains/t-b")["controller_id"], b)
        self.assertEqual(self.version(a), v)
        self.assertEqual(len(self.get_json(c, "/api/controllers/%s/config" % a)["trains"]), 64)

    def test_runtime_config_over_1_mib_is_422(self):
        c, a = self.c, self.a
        blob = {"calibration": "x" * 62000}   # a body under 64 KiB
        for i in range(17):
            r = c.post("/api/controllers/%s/trains" % a,
                       {"train_id": "big%d" % i, "name": "Big",
                        "plugin": {"name": "simulator", "config": blob}})
            if r.status != 201:
                break
        self.assertJsonError(r, 422, error="config_too_large")
        self.assertEqual(i, 16, "refused at the 17th train of 62 kB")
        doc = c.get("/api/controllers/%s/config" % a)
        self.assertEqual(doc.status, 200)
        self.assertLessEqual(len(doc.body), 1024 * 1024)
        self.assertEqual(c.get("/api/trains/big16").status, 404)

    def test_import_past_the_limits_is_422_and_changes_nothing(self):
        c, a = self.c, self.a
        doc = {"format": "roundhouse-registry", "format_version": 1, "plugins": [],
               "controllers": [],
               "trains": [{"id": "imp%d" % i, "name": "I", "controller_id": a}
                          for i in range(65)]}
        r = c.post("/api/import", doc)
        self.assertJsonError(r, 422, field="trains[0].controller_id")
        self.assertIn("64", r.json["detail"])
        self.assertEqual(self.get_json(c, "/api/trains"), [])


class StopBeforeLeavingTest(harness.RoundhouseTestCase):
    """A train deleted or moved away gets a stop on its command topic first, whatever its
    controller does with its config: a controller that refused its new config, or cannot
    reach the central, or runs the earlier system, would otherwise drive a train that no
    command can reach any more (its command answers 404 once deleted)."""

    STOP = {"action": "stop"}

    def setUp(self):
        super().setUp()
        self.c = self.start_central()
        self.a = self.register(self.c, "pi-sbl-a", "10.8.0.1")["uuid"]
        self.b = self.register(self.c, "pi-sbl-b", "10.8.0.2")["uuid"]
        for tid in ("t-del", "t-move", "t-free", "t-ctl", "t-re"):
            self.assertEqual(self.c.post("/api/controllers/%s/trains" % self.a,
                                         {"train_id": tid, "name": tid}).status, 201)

    def test_delete_move_unassign_and_controller_delete_stop_the_train_first(self):
        c, a, b = self.c, self.a, self.b
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/+/commands")
            self.assertEqual(c.delete("/api/trains/t-del").status, 204)
            mq.wait_message("trains/t-del/commands", where=lambda d: d == self.STOP)
            self.assertEqual(c.put("/api/trains/t-move", {"controller_id": b}).status, 200)
            mq.wait_message("trains/t-move/commands", where=lambda d: d == self.STOP)
            self.assertEqual(c.put("/api/trains/t-free", {"controller_id": None}).status, 200)
            mq.wait_message("trains/t-free/commands", where=lambda d: d == self.STOP)
            r = c.post("/api/controllers/%s/trains" % b,
                       {"train_id": "t-re", "name": "t-re", "reassign": True})
            self.assertEqual(r.status, 200, r)
            mq.wait_message("trains/t-re/commands", where=lambda d: d == self.STOP)
            self.assertEqual(c.delete("/api/controllers/%s" % a).status, 204)
            mq.wait_message("trains/t-ctl/commands", where=lambda d: d == self.STOP)
            # A rename leaves the train where it is: no stop (the central publishes in order,
            # so the speed command below arrives after any stop the rename sent).
            n = len(mq.messages)
            self.assertEqual(c.put("/api/trains/t-move", {"name": "renamed"}).status, 200)
            self.assertEqual(c.post("/api/trains/t-move/command",
                                    {"action": "setSpeed", "speed": 5}).status, 202)
            mq.wait_message("trains/t-move/commands", where=lambda d: d.get("speed") == 5)
            later = [json.loads(p) for t, p, _r, _q in mq.messages[n:]
                     if t == "trains/t-move/commands"]
            self.assertNotIn(self.STOP, later)

    def test_without_the_broker_nothing_leaves_and_the_answer_is_503(self):
        c, a, b = self.c, self.a, self.b
        self.stop(self.broker)
        harness.wait_until(lambda: self.get_json(c, "/health").get("mqtt_connected") is False,
                           timeout=30, interval=0.1, message="central never noticed the broker")
        self.assertJsonError(c.delete("/api/trains/t-del"), 503)
        self.assertJsonError(c.put("/api/trains/t-move", {"controller_id": b}), 503)
        self.assertJsonError(c.delete("/api/controllers/%s" % a), 503)
        self.assertEqual(self.get_json(c, "/api/trains/t-del")["controller_id"], a)
        self.assertEqual(self.get_json(c, "/api/trains/t-move")["controller_id"], a)
        self.assertEqual(c.get("/api/controllers/%s" % a).status, 200)
        # Renaming needs no stop, so it works without the broker.
        self.assertEqual(c.put("/api/trains/t-move", {"name": "renamed"}).status, 200)


if __name__ == "__main__":
    harness.main()
