"""Service endpoints and cross-cutting behaviour of roundhouse-central: ping, health,
metrics, /api/config, /api/plugins, CORS, export/import, YAML bootstrap, rate limit,
registration token, database schema upgrade. (docs/operations.md, "Service".)"""

import os
import signal
import socket
import sqlite3
import threading
import unittest

import harness

DATA = os.path.join(harness.HERE, "data")

BOOTSTRAP_YAML = """\
# Format of the earlier system's config.yaml (docs/migration.md).
plugins:
  - name: stepper_hat
    description: "uGeek Stepper Motor Hat v0.2"
    config:
      required: [port]
      properties:
        i2c_address: {type: string, default: "0x6F"}
        port: {type: integer}
        default_speed: {type: integer, default: 50}
        enabled: {type: boolean, default: true}
edge_controllers:
  - id: "B7E6A2E2-8C3A-4E2A-9C1A-2F8E4B7E6A2E"
    name: "Test Controller"
    description: "Bench controller"
    address: "192.168.2.214"
    enabled: true
    trains:
      - id: "train-1"
        name: "Holiday Express"
        description: "Stepper on port 1"
        model: "Lionel"
        plugin:
          name: stepper_hat
          config: {port: 1}
  - id: "${UUID}"
    name: "Holiday Display"
    address: "192.168.2.215"
    trains:
      - id: "train-2"
        name: "Holiday Local"
        plugin:
          name: stepper_hat
          config:
            port: 2
"""
FIXED_ID = "b7e6a2e2-8c3a-4e2a-9c1a-2f8e4b7e6a2e"


class ServiceEndpointsTest(harness.RoundhouseTestCase):

    def test_ping_health_metrics_ui(self):
        c = self.start_central()
        r = c.get("/api/ping")
        self.assertEqual((r.status, r.json), (200, {"status": "ok"}), r)
        self.assertTrue(r.header("Content-Type", "").startswith("application/json"), r)

        health = harness.wait_until(
            lambda: (lambda h: h if h.get("mqtt_connected") is True else None)(self.get_json(c, "/health")),
            timeout=20, interval=0.1, message="central never reported mqtt_connected")
        for key in ("status", "database", "mqtt_connected", "uptime_seconds", "version"):
            self.assertIn(key, health)
        self.assertEqual(health["status"], "healthy", health)
        self.assertIsInstance(health["uptime_seconds"], (int, float))
        self.assertIsInstance(health["version"], str)

        r = c.get("/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type", "").startswith("text/plain"), r)
        self.assertIn(b"# TYPE ", r.body)

        r = c.get("/")
        self.assertEqual(r.status, 200, r)
        self.assertIn("text/html", r.header("Content-Type", ""))

    def test_128_busy_keepalive_connections_are_all_served(self):
        # libmicrohttpd's own polling thread waited again, with the full connection timeout,
        # whenever epoll returned exactly 128 ready connections, before serving any of them.
        # The central is paused while every connection sends, so that all 128 are ready in
        # one epoll call when it resumes.
        c = self.start_central()
        conns = []

        def ping_all(rnd):
            for s in conns:
                s.sendall(b"GET /api/ping HTTP/1.1\r\nHost: x\r\n\r\n")
            if rnd > 0:
                c.send_signal(signal.SIGCONT)
            for i, s in enumerate(conns):
                data = b""
                while not data.endswith(b'{"status":"ok"}') and len(data) < 8192:
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, f"connection {i} closed in round {rnd}")
                    data += chunk
                self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:80])

        try:
            for _ in range(128):
                conns.append(socket.create_connection(("127.0.0.1", c.port), timeout=20))
            ping_all(0)
            for rnd in (1, 2):
                c.send_signal(signal.SIGSTOP)
                ping_all(rnd)
        finally:
            c.send_signal(signal.SIGCONT)
            for s in conns:
                s.close()

    def test_health_degraded_without_broker(self):
        c = self.start_central()
        harness.wait_until(lambda: self.get_json(c, "/health").get("mqtt_connected") is True,
                           timeout=20, interval=0.1, message="central never connected to the broker")
        self.stop(self.broker)
        health = harness.wait_until(
            lambda: (lambda h: h if h.get("mqtt_connected") is False else None)(c.get("/health").json),
            timeout=30, interval=0.1, message="central never noticed the broker is gone")
        self.assertNotEqual(health["status"], "healthy", health)
        # The API keeps serving.
        self.assertEqual(c.get("/api/ping").status, 200)
        self.register(c, "pi-nobroker", "10.5.0.1")

    def test_config_and_plugins(self):
        c = self.start_central()
        u = self.register(c, "pi-cfg", "10.5.0.2")["uuid"]
        self.add_train(c, u, "t-cfg", plugin={"name": "dc_motor_hat", "config": {"motor_port": 3}})
        full = self.get_json(c, "/api/config")
        self.assertIsInstance(full.get("plugins"), list, full)
        self.assertIsInstance(full.get("edge_controllers"), list, full)
        ctrl = [x for x in full["edge_controllers"] if x["id"] == u]
        self.assertEqual(len(ctrl), 1, full)
        self.assertEqual([t["id"] for t in ctrl[0]["trains"]], ["t-cfg"])
        # The earlier system blanked plugin.config in lists; not any more.
        self.assertEqual(ctrl[0]["trains"][0]["plugin"], {"name": "dc_motor_hat", "config": {"motor_port": 3}})
        plugins = self.get_json(c, "/api/plugins")
        self.assertIsInstance(plugins, list)
        for p in plugins:
            self.assertIsInstance(p.get("name"), str, p)

    def test_timestamps_are_iso_utc(self):
        c = self.start_central()
        u = self.register(c, "pi-time", "10.5.0.3")["uuid"]
        for doc in [self.get_json(c, "/api/controllers/%s" % u)] + self.get_json(c, "/api/controllers"):
            self.assertIsoUtc(doc["first_seen"])
            self.assertIsoUtc(doc["last_seen"])


class CorsTest(harness.RoundhouseTestCase):

    PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}

    def test_default_is_same_origin_only(self):
        # Another origin's page gets no CORS headers by default (docs/security.md).
        c = self.start_central()
        origin = "http://ui.example:3000"
        r = c.options("/api/controllers/register", headers=dict(self.PREFLIGHT, Origin=origin))
        self.assertIsNone(r.header("Access-Control-Allow-Origin"), r.headers)
        r = c.get("/api/controllers", headers={"Origin": origin})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Access-Control-Allow-Origin"), r.headers)

    def test_explicit_star_allows_any_origin(self):
        c = self.start_central("--cors-origins", "*")
        origin = "http://ui.example:3000"
        before = c.dump()
        r = c.options("/api/controllers/register", headers=dict(self.PREFLIGHT, Origin=origin))
        self.assertIn(r.status, (200, 204), r)
        self.assertIn(r.header("Access-Control-Allow-Origin"), ("*", origin), r.headers)
        methods = (r.header("Access-Control-Allow-Methods") or "").upper()
        self.assertTrue("POST" in methods or methods == "*", r.headers)
        allowed = (r.header("Access-Control-Allow-Headers") or "").lower()
        self.assertTrue("content-type" in allowed or allowed == "*", r.headers)
        self.assertEqual(c.dump(), before, "a preflight changed the database")

        r = c.get("/api/controllers", headers={"Origin": origin})
        self.assertEqual(r.status, 200, r)
        self.assertIn(r.header("Access-Control-Allow-Origin"), ("*", origin), r.headers)
        # Error answers carry it too, or the browser hides the error body.
        r = c.get("/api/controllers/%s" % harness.new_uuid(), headers={"Origin": origin})
        self.assertEqual(r.status, 404, r)
        self.assertIn(r.header("Access-Control-Allow-Origin"), ("*", origin), r.headers)

    def test_listed_origins_only(self):
        c = self.start_central("--cors-origins", "http://a.example,http://b.example:3000")
        for origin in ("http://a.example", "http://b.example:3000"):
            r = c.get("/api/controllers", headers={"Origin": origin})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("Access-Control-Allow-Origin"), origin, r.headers)
            r = c.options("/api/trains/t1", headers={"Origin": origin, "Access-Control-Request-Method": "PUT",
                                                     "Access-Control-Request-Headers": "content-type"})
            self.assertIn(r.status, (200, 204), r)
            self.assertEqual(r.header("Access-Control-Allow-Origin"), origin, r.headers)
        r = c.get("/api/controllers", headers={"Origin": "http://evil.example"})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("Access-Control-Allow-Origin"), r.headers)
        r = c.options("/api/controllers/register", headers=dict(self.PREFLIGHT, Origin="http://evil.example"))
        self.assertIsNone(r.header("Access-Control-Allow-Origin"), r.headers)

    def test_cors_origins_environment(self):
        c = self.start_central(env={"ROUNDHOUSE_CORS_ORIGINS": "http://env.example"})
        r = c.get("/api/controllers", headers={"Origin": "http://env.example"})
        self.assertEqual(r.header("Access-Control-Allow-Origin"), "http://env.example", r.headers)
        r = c.get("/api/controllers", headers={"Origin": "http://other.example"})
        self.assertIsNone(r.header("Access-Control-Allow-Origin"), r.headers)


class ExportImportTest(harness.RoundhouseTestCase):

    def test_export_then_import_into_fresh_database_keeps_uuids(self):
        c = self.start_central()
        a = self.register(c, "pi-exp-a", "10.6.0.1", version="1.0.0")["uuid"]
        b = self.register(c, "pi-exp-b", "10.6.0.2")["uuid"]
        self.add_train(c, a, "t-a", name="Alpha", description="first", model="M1",
                       plugin={"name": "dc_motor_hat", "config": {"motor_port": 1}})
        self.add_train(c, b, "t-b", name="Beta")
        self.add_train(c, b, "t-free", name="Free")
        r = c.put("/api/trains/t-free", {"controller_id": None, "invert_directions": True})
        self.assertEqual(r.status, 200, r)
        r = c.patch("/api/controllers/%s" % a, {"description": "exported"})
        self.assertEqual(r.status, 200, r)

        r = c.get("/api/export")
        self.assertEqual(r.status, 200, r)
        exported = r.json
        self.assertIsInstance(exported, dict, r)
        for u in (a, b):
            self.assertIn(u.encode(), r.body)

        c2 = self.start_central(db=os.path.join(self.tmp, "fresh.db"))
        self.assertEqual(self.get_json(c2, "/api/controllers"), [])
        r = c2.post("/api/import", exported)
        self.assertIn(r.status, (200, 201, 204), r)

        def summary(central):
            ctrls = {x["id"]: (x["name"], x["address"], x["description"])
                     for x in self.get_json(central, "/api/controllers")}
            trains = {t["id"]: (t["name"], t["description"], t["model"], t["plugin"], t["invert_directions"],
                                t["controller_id"]) for t in self.get_json(central, "/api/trains")}
            return ctrls, trains

        self.assertEqual(summary(c2), summary(c))
        self.assertEqual(set(summary(c2)[0]), {a, b})
        # The imported registry works: the old controller re-registers as itself.
        ans = self.register(c2, "pi-exp-a", "10.6.0.1", uuid=a)
        self.assertEqual((ans["uuid"], ans["status"]), (a, "reactivated"))
        cfg = self.get_json(c2, "/api/controllers/%s/config" % a)
        self.assertEqual(cfg["train_id"], "t-a")

    def test_import_rejects_garbage_without_writing(self):
        c = self.start_central()
        self.register(c, "pi-imp", "10.6.0.3")
        self.assertRejectedUnchanged(c, lambda: c.post("/api/import", raw=b'"not a registry"'), 422)
        self.assertRejectedUnchanged(c, lambda: c.post("/api/import", raw=b"{"), 400)


@harness.sqlite_only("the SQLite file's lock and its copy; on PostgreSQL the route answers 409 "
                     "(test_central_postgres) and pg_dump backs the database up")
class LiveBackupTest(harness.RoundhouseTestCase):
    """The running central holds its SQLite file: GET /api/backup copies it, and no second
    process opens it meanwhile (docs/operations.md, "Backups")."""

    def test_backup_is_a_whole_database_taken_while_writes_go_on(self):
        c = self.start_central("--register-rate", "100000")
        a = self.register(c, "pi-bak-a", "10.6.1.1")["uuid"]
        self.add_train(c, a, "t-bak", name="Backed")
        # Registrations keep the writer busy while the copy is made.
        stop = threading.Event()
        done = []

        def write():
            client = harness.HttpClient("127.0.0.1", c.port)
            for i in range(2000):
                if stop.is_set():
                    break
                r = client.post("/api/controllers/register", {"name": "pi-bak-w%d" % i,
                                                              "address": "10.6.1.2"})
                done.append(r.status)
        t = threading.Thread(target=write)
        t.start()
        try:
            harness.wait_until(lambda: len(done) >= 20, timeout=30, message="no registrations")
            r = c.get("/api/backup")
            at_copy = len(done)
        finally:
            stop.set()
            t.join(timeout=60)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/vnd.sqlite3")
        self.assertTrue(r.body.startswith(b"SQLite format 3\x00"), r.body[:32])
        self.assertEqual(set(done), {200}, "a registration failed during the copy")
        copy = os.path.join(self.tmp, "copy.db")
        with open(copy, "wb") as f:
            f.write(r.body)
        db = sqlite3.connect(copy)
        try:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            names = {n for (n,) in db.execute("SELECT name FROM controllers")}
            trains = db.execute("SELECT id, desired_controller_id FROM trains").fetchall()
        finally:
            db.close()
        self.assertIn("pi-bak-a", names)
        self.assertEqual(trains, [("t-bak", a)])
        written = len([n for n in names if n.startswith("pi-bak-w")])
        self.assertGreaterEqual(written, 20 - 1)
        self.assertLessEqual(written, at_copy + 1)
        # Nothing is left beside the database.
        self.assertEqual([f for f in os.listdir(os.path.dirname(c.db)) if ".backup-" in f], [])
        # The copy is a database the central starts on: restoring it works.
        self.stop(c)
        c2 = self.start_central(db=copy)
        self.assertEqual(self.get_json(c2, "/api/trains/t-bak")["controller_id"], a)

    def test_a_second_process_is_refused_the_database(self):
        c = self.start_central()
        a = self.register(c, "pi-lock", "10.6.1.3")["uuid"]
        proc = harness.run_program("roundhouse-central", "--listen", "127.0.0.1:0",
                                   "--db", c.db, "--mqtt", "127.0.0.1:%d" % self.broker.port,
                                   timeout=60)
        self.assertNotEqual(proc.returncode, 0, proc)
        self.assertIn("in use by another process", proc.stderr)
        self.assertIn(c.db, proc.stderr)
        # Nor does a sqlite3 shell read it behind the central's back.
        with self.assertRaises(sqlite3.OperationalError):
            harness.db_execute(c.db, "SELECT COUNT(*) FROM controllers")
        # The first central is untouched and goes on.
        self.assertEqual(self.register(c, "pi-lock", "10.6.1.3", uuid=a)["status"], "reactivated")
        # Once it stops, the file is free again.
        self.stop(c)
        self.assertEqual(harness.db_execute(c.db, "SELECT name FROM controllers"), [("pi-lock",)])

    def test_backup_is_an_administrators_under_auth(self):
        c = self.start_central("--auth", env={"ROUNDHOUSE_ADMIN_PASSWORD": "admin-pass-1"})
        self.assertJsonError(c.get("/api/backup"), 401)
        r = c.post("/api/login", {"username": "admin", "password": "admin-pass-1"})
        self.assertEqual(r.status, 200, r)
        cookie = {"Cookie": r.header("Set-Cookie").split(";")[0]}
        r = c.post("/api/users", {"username": "vera", "role": "viewer", "password": "vera-pass-1"},
                   headers=cookie)
        self.assertIn(r.status, (200, 201), r)
        r = c.post("/api/login", {"username": "vera", "password": "vera-pass-1"})
        viewer = {"Cookie": r.header("Set-Cookie").split(";")[0]}
        self.assertJsonError(c.get("/api/backup", headers=viewer), 403)
        r = c.get("/api/backup", headers=cookie)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.body.startswith(b"SQLite format 3\x00"))


class BootstrapTest(harness.RoundhouseTestCase):

    def write_yaml(self):
        path = os.path.join(self.tmp, "config.yaml")
        with open(path, "w") as f:
            f.write(BOOTSTRAP_YAML)
        return path

    def snapshot(self, c):
        ctrls = sorted((x["id"], x["name"]) for x in self.get_json(c, "/api/controllers"))
        trains = sorted((t["id"], t["controller_id"]) for t in self.get_json(c, "/api/trains"))
        plugins = sorted(p["name"] for p in self.get_json(c, "/api/plugins"))
        return ctrls, trains, plugins

    def test_bootstrap_twice_creates_nothing_new(self):
        path = self.write_yaml()
        c = self.start_central("--bootstrap", path)
        ctrls, trains, plugins = self.snapshot(c)
        self.assertEqual(len(ctrls), 2, ctrls)
        by_name = {name: cid for cid, name in ctrls}
        self.assertEqual(by_name.get("Test Controller"), FIXED_ID)
        self.assertUuid(by_name.get("Holiday Display"))
        self.assertEqual(trains, sorted([("train-1", FIXED_ID), ("train-2", by_name["Holiday Display"])]))
        self.assertIn("stepper_hat", plugins)
        t1 = self.get_json(c, "/api/trains/train-1")
        self.assertEqual(t1["name"], "Holiday Express")
        self.assertEqual(t1["plugin"], {"name": "stepper_hat", "config": {"port": 1}})
        ctrl = self.get_json(c, "/api/controllers/%s" % FIXED_ID)
        self.assertEqual(ctrl["address"], "192.168.2.214")
        cfg = self.get_json(c, "/api/controllers/%s/config" % FIXED_ID)
        self.assertEqual(cfg["train_id"], "train-1")

        c2 = self.restart_central(c)
        self.assertEqual(self.snapshot(c2), (ctrls, trains, plugins))
        c3 = self.start_central_after(c2, path)
        self.assertEqual(self.snapshot(c3), (ctrls, trains, plugins))

    def start_central_after(self, prev, path):
        """Third start, through the environment variable instead of the flag."""
        self.stop(prev)
        return self.start_central(db=prev.db, env={"CENTRAL_API_CONFIG_YAML": path})

    def test_bootstrap_from_environment_variable(self):
        path = self.write_yaml()
        c = self.start_central(env={"CENTRAL_API_CONFIG_YAML": path})
        ctrls, trains, _plugins = self.snapshot(c)
        self.assertIn((FIXED_ID, "Test Controller"), ctrls)
        self.assertIn(("train-1", FIXED_ID), trains)

    def test_bad_bootstrap_file_is_a_startup_error(self):
        path = os.path.join(self.tmp, "broken.yaml")
        with open(path, "w") as f:
            f.write("plugins: [\nedge_controllers: 7\n")
        proc = harness.run_program("roundhouse-central", "--listen", "127.0.0.1:0",
                                   "--db", os.path.join(self.tmp, "rh.db"),
                                   "--mqtt", "127.0.0.1:%d" % self.broker.port, "--bootstrap", path, timeout=30)
        self.assertNotEqual(proc.returncode, 0, proc)
        self.assertTrue(proc.stderr.strip(), "no message on stderr")


class RateLimitAndTokenTest(harness.RoundhouseTestCase):

    def test_register_rate_limit_429(self):
        c = self.start_central("--register-rate", "2")
        self.register(c, "pi-r1", "10.7.0.1")
        self.register(c, "pi-r2", "10.7.0.2")
        r = self.assertRejectedUnchanged(c, lambda: c.post("/api/controllers/register",
                                                           {"name": "pi-r3", "address": "10.7.0.3"}), 429)
        retry = r.header("Retry-After")
        self.assertIsNotNone(retry, r.headers)
        self.assertTrue(retry.isdigit() and int(retry) >= 1, retry)
        # Other endpoints are not limited.
        self.assertEqual(c.get("/api/controllers").status, 200)

    def test_registration_token(self):
        c = self.start_central("--registration-token", "s3cret")
        body = {"name": "pi-tok", "address": "10.7.0.4"}
        self.assertRejectedUnchanged(c, lambda: c.post("/api/controllers/register", body), (401, 403))
        self.assertRejectedUnchanged(
            c, lambda: c.post("/api/controllers/register", body, headers={"X-Registration-Token": "wrong"}),
            (401, 403))
        r = c.post("/api/controllers/register", body, headers={"X-Registration-Token": "s3cret"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "registered")


class SchemaUpgradeTest(harness.RoundhouseTestCase):

    SCHEMA_V1 = os.path.join(DATA, "schema_v1.sql")

    @unittest.skipUnless(os.path.exists(os.path.join(DATA, "schema_v1.sql")),
                         "TODO: tests/integration/data/schema_v1.sql (an old-schema database) not provided yet")
    def test_old_schema_database_is_upgraded(self):
        db = os.path.join(self.tmp, "old.db")
        conn = sqlite3.connect(db)
        try:
            with open(self.SCHEMA_V1) as f:
                conn.executescript(f.read())
            conn.commit()
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            old_ids = set()
            for table in ("controllers", "edge_controllers"):
                if table in tables:
                    old_ids |= {r[0] for r in conn.execute("SELECT id FROM %s" % table)}
        finally:
            conn.close()

        c = self.start_central(db=db)
        listed = {x["id"] for x in self.get_json(c, "/api/controllers")}
        self.assertEqual(listed, old_ids)
        for u in old_ids:
            ans = self.register(c, "pi-upgraded", "10.8.0.1", uuid=u)
            self.assertEqual((ans["uuid"], ans["status"]), (u, "reactivated"))
        new = self.register(c, "pi-after-upgrade", "10.8.0.2")
        self.add_train(c, new["uuid"], "t-upgraded")
        # A second start on the upgraded database is a no-op upgrade.
        c2 = self.restart_central(c)
        self.assertEqual({x["id"] for x in self.get_json(c2, "/api/controllers")}, old_ids | {new["uuid"]})


class DocumentedLimitsTest(unittest.TestCase):
    """docs/api.md's table of the limits shared with the edge states the values of
    src/common/protocol.h, and the central enforces the documented ones."""

    ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

    def defines(self):
        import re
        with open(os.path.join(self.ROOT, "src", "common", "protocol.h")) as f:
            text = f.read()
        return {m.group(1): m.group(2) for m in
                re.finditer(r"#define (PROTO_\w+) \(?([0-9][0-9 *]*)\)?\n", text)}

    def test_api_doc_states_the_shared_limits(self):
        d = self.defines()
        with open(os.path.join(self.ROOT, "docs", "api.md")) as f:
            doc = f.read()
        table = doc[doc.index("## Limits shared with the edge"):]
        table = table[:table.index("\n## ") if "\n## " in table else len(table)]
        rows = {
            "train id": "1-%s characters" % d["PROTO_TRAIN_ID_MAX"],
            "controller and train `name`": "1-%s characters" % d["PROTO_NAME_MAX"],
            "`description`": "≤ %s characters" % d["PROTO_DESCRIPTION_MAX"],
            "train `model`": "≤ %s characters" % d["PROTO_MODEL_MAX"],
            "controller `address`": "≤ %s characters" % d["PROTO_ADDRESS_MAX"],
            "plugin `name`": "1-%s characters" % d["PROTO_PLUGIN_NAME_MAX"],
            "trains per controller": "| %s |" % d["PROTO_CONTROLLER_TRAINS_MAX"],
        }
        for what, value in rows.items():
            line = [l for l in table.splitlines() if l.startswith("| %s |" % what)]
            self.assertEqual(len(line), 1, what)
            self.assertIn(value, line[0], what)
        self.assertEqual(eval(d["PROTO_RUNTIME_CONFIG_MAX"]), 1024 * 1024)
        self.assertIn("| runtime config | 1 MiB", table)


if __name__ == "__main__":
    harness.main()
