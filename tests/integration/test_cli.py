"""The `roundhouse` command-line client against a real roundhouse-central and mosquitto:
every command in human and --json form, exit codes 0/1/2, the server's error detail on
stderr, local-time display, export/import round trip, and the MQTT commands that speed,
stop and estop cause. (docs/operations.md "roundhouse (CLI)", docs/api.md, docs/mqtt.md.)"""

import datetime
import json
import os
import re
import socket
import sqlite3
import threading

import harness

#: Presence computed at read time must not change between the CLI's request and ours.
STABLE_PRESENCE = ("--stale-after", "3600", "--offline-after", "7200")


def table(text):
    """Rows of a human table as lists of cells (columns are separated by 2+ spaces)."""
    return [re.split(r" {2,}", line.strip()) for line in text.splitlines() if line.strip()]


def details(text):
    """A "key: value" details view as a dict."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def local_time(iso, hours):
    """``iso`` (API UTC time) as "YYYY-MM-DD HH:MM:SS" in a zone ``hours`` east of UTC."""
    t = datetime.datetime.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S") + datetime.timedelta(hours=hours)
    return t.strftime("%Y-%m-%d %H:%M:%S")


class FakeServer:
    """A misbehaving HTTP server on a kernel-picked loopback port, answering each request
    with ``head`` and then ``body_chunks`` (an iterable of bytes) until the client hangs up."""

    def __init__(self, head, body_chunks=()):
        self.head = head
        self.body_chunks = body_chunks
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    data = b""
                    while b"\r\n\r\n" not in data and len(data) < 65536:
                        part = conn.recv(4096)
                        if not part:
                            break
                        data += part
                    conn.sendall(self.head)
                    for chunk in self.body_chunks:
                        conn.sendall(chunk)
                except OSError:
                    pass  # the client gave up: that is what these tests provoke

    def close(self):
        self._stop.set()
        self._thread.join(10)
        self.sock.close()


class CliTestBase(harness.RoundhouseTestCase):

    def setUp(self):
        super().setUp()
        self.c = self.start_central(*STABLE_PRESENCE)
        self.a = self.register(self.c, "pi-a", "10.1.0.1")["uuid"]
        self.b = self.register(self.c, "pi-b", "10.1.0.2")["uuid"]
        self.add_train(self.c, self.a, "t1", name="Express")
        self.add_train(self.c, self.a, "t2", name="Zürich Local")

    def rh(self, *args, central=None, env=None, input=None, tz="UTC0"):
        """Runs ``roundhouse --central URL ARGS`` (central=False: no --central)."""
        # Loopback only: a proxy from the developer's environment must not get in between.
        full_env = {"TZ": tz, "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}
        full_env.update(env or {})
        argv = [] if central is False else ["--central", central or self.c.url]
        return harness.run_program("roundhouse", *(argv + list(args)), env=full_env, input=input)

    def assertExit(self, proc, code):
        self.assertEqual(proc.returncode, code,
                         "exit %d, expected %d\nstdout: %s\nstderr: %s"
                         % (proc.returncode, code, proc.stdout, proc.stderr))
        if code == 0:
            self.assertEqual(proc.stderr, "", proc.stderr)
        else:
            self.assertTrue(proc.stderr.startswith("roundhouse: "), proc.stderr)
        if code == 2:
            self.assertEqual(proc.stdout, "", "nothing is printed on a usage error")

    def assertJsonOutput(self, proc, path):
        """--json stdout is the central's document for ``path`` as received, newline-ended."""
        self.assertExit(proc, 0)
        body = self.c.get(path).body.decode("utf-8")
        self.assertEqual(proc.stdout, body if body.endswith("\n") else body + "\n")
        return json.loads(proc.stdout)

    def wait_broker(self, central=None):
        central = central or self.c
        harness.wait_until(lambda: central.get("/health").json.get("mqtt_connected") is True,
                           timeout=20, message="central never connected to the broker")


class UsageTest(CliTestBase):
    """Exit codes and messages that need no server (START_BROKER stays on: setUp uses it)."""

    def test_help_lists_commands_and_exit_codes(self):
        p = self.rh("--help", central=False)
        self.assertExit(p, 0)
        for cmd in ("controllers", "controller ", "trains", "train ", "status", "assign",
                    "rename-train", "speed", "stop", "estop", "export", "import", "health"):
            self.assertIn("  " + cmd, p.stdout)
        self.assertIn("Exit status", p.stdout)
        for code in ("0  ", "1  ", "2  "):
            self.assertIn(code, p.stdout)
        self.assertIn("ROUNDHOUSE_CENTRAL", p.stdout)
        p = self.rh("--version", central=False)
        self.assertExit(p, 0)
        self.assertRegex(p.stdout, r"^roundhouse \d+\.\d+\.\d+\n$")

    def test_bad_usage_is_2(self):
        cases = [
            (),                                   # no command
            ("frobnicate",),                      # unknown command
            ("--frobnicate", "trains"),           # unknown option
            ("trains", "extra"),                  # too many arguments
            ("train",),                           # too few
            ("assign", "t1"),
            ("speed", "t1"),
            ("speed", "t1", "101"),
            ("speed", "t1", "-1"),
            ("speed", "t1", "abc"),
            ("speed", "t1", "5.0"),
            ("speed", "t1", "+5"),
            ("speed", "t1", ""),
            ("speed", "t1", "50", "--direction", "sideways"),
            ("stop", "t1", "--direction", "forward"),  # --direction belongs to speed
            ("--timeout", "0", "trains"),
            ("--timeout", "soon", "trains"),
            ("--central", "ftp://x", "trains"),
            ("train", ""),
            ("--central",),
        ]
        for args in cases:
            with self.subTest(args=args):
                self.assertExit(self.rh(*args), 2)
        p = self.rh("speed", "t1", "101")
        self.assertIn("101", p.stderr)
        self.assertIn("0-100", p.stderr)

    def test_bad_arguments_send_nothing(self):
        self.wait_broker()
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t1/commands")
            for args in (("speed", "t1", "101"), ("speed", "t1", "50", "--direction", "up"),
                         ("stop", "t1", "x")):
                self.assertExit(self.rh(*args), 2)
            self.assertExit(self.rh("stop", "t1"), 0)
            mq.wait_message("trains/t1/commands", where=lambda d: d.get("action") == "stop")
            # QoS 1 on one topic keeps order: anything sent before the stop would be first.
            sent = [json.loads(p) for t, p, _r, _q in mq.messages if t == "trains/t1/commands"]
            self.assertEqual(sent, [{"action": "stop"}])


class ReadCommandsTest(CliTestBase):

    def test_controllers_table_and_json(self):
        p = self.rh("controllers")
        self.assertExit(p, 0)
        rows = table(p.stdout)
        self.assertEqual(rows[0], ["NAME", "ID", "STATUS", "ADDRESS", "LAST SEEN", "CONFIG", "TRAINS"])
        api = {c["id"]: c for c in self.get_json(self.c, "/api/controllers")}
        self.assertEqual(len(rows), 1 + len(api))
        by_id = {r[1]: r for r in rows[1:]}
        ra = by_id[self.a]
        ca = api[self.a]
        self.assertEqual(ra[0], "pi-a")
        self.assertEqual(ra[2], "online")
        self.assertEqual(ra[3], "10.1.0.1")
        self.assertEqual(ra[4], local_time(ca["last_seen"], 0))
        applied = ca["applied_config_version"]
        self.assertEqual(ra[5], "%d/%s" % (ca["config_version"], "-" if applied is None else applied))
        self.assertEqual(ra[6], "t1, t2")
        self.assertEqual(by_id[self.b][6], "-")
        doc = self.assertJsonOutput(self.rh("--json", "controllers"), "/api/controllers")
        self.assertEqual({c["id"] for c in doc}, {self.a, self.b})
        # Global options are accepted after the command too.
        self.assertJsonOutput(self.rh("controllers", "--json"), "/api/controllers")

    def test_last_seen_in_local_time_zone(self):
        ca = self.get_json(self.c, "/api/controllers/%s" % self.a)
        # POSIX TZ "XYZ-3": three hours east of UTC, no tz database needed.
        rows = table(self.rh("controllers", tz="XYZ-3").stdout)
        row = [r for r in rows if r[1] == self.a][0]
        self.assertEqual(row[4], local_time(ca["last_seen"], 3))
        d = details(self.rh("controller", self.a, tz="XYZ-3").stdout)
        self.assertEqual(d["last seen"], local_time(ca["last_seen"], 3) + " XYZ")
        self.assertEqual(d["first seen"], local_time(ca["first_seen"], 3) + " XYZ")
        # --json keeps the API's UTC value.
        doc = json.loads(self.rh("--json", "controller", self.a, tz="XYZ-3").stdout)
        self.assertEqual(doc["last_seen"], ca["last_seen"])

    def test_never_seen_controller(self):
        doc = {"format": "roundhouse-registry", "format_version": 1,
               "controllers": [{"id": harness.new_uuid(), "name": "pi-ghost", "address": "10.9.9.9"}],
               "trains": []}
        self.assertExit(self.rh("import", "-", input=json.dumps(doc)), 0)
        ctl = self.get_json(self.c, "/api/controllers/%s" % doc["controllers"][0]["id"])
        if ctl["last_seen"] is not None:
            self.skipTest("the central gives imported controllers a last_seen")
        row = [r for r in table(self.rh("controllers").stdout) if r[0] == "pi-ghost"][0]
        self.assertEqual(row[4], "never")
        self.assertEqual(details(self.rh("controller", "pi-ghost").stdout)["last seen"], "never")

    def test_controller_by_uuid_and_by_name(self):
        by_uuid = self.rh("controller", self.a)
        self.assertExit(by_uuid, 0)
        d = details(by_uuid.stdout)
        self.assertEqual(d["name"], "pi-a")
        self.assertEqual(d["id"], self.a)
        self.assertEqual(d["address"], "10.1.0.1")
        self.assertEqual(d["status"], "online")
        self.assertEqual(d["enabled"], "yes")
        self.assertEqual(d["trains"], "t1 (Express), t2 (Zürich Local)")
        by_name = self.rh("controller", "pi-a")
        self.assertExit(by_name, 0)
        self.assertEqual(by_name.stdout, by_uuid.stdout)
        self.assertJsonOutput(self.rh("--json", "controller", "pi-b"), "/api/controllers/%s" % self.b)
        self.assertJsonOutput(self.rh("--json", "controller", self.b.upper()), "/api/controllers/%s" % self.b)

    def test_controller_errors(self):
        missing = harness.new_uuid()
        p = self.rh("controller", missing)
        self.assertExit(p, 1)
        detail = self.c.get("/api/controllers/%s" % missing).json["detail"]
        self.assertIn(detail, p.stderr)
        p = self.rh("controller", "pi-nowhere")
        self.assertExit(p, 1)
        self.assertIn("pi-nowhere", p.stderr)
        # A live controller's name is never shared, so a second "dup" is a second record:
        # the name is ambiguous and the CLI refuses to guess.
        u1 = self.register(self.c, "dup", "10.2.0.1")["uuid"]
        u2 = self.register(self.c, "dup", "10.2.0.2")["uuid"]
        self.assertNotEqual(u1, u2)
        p = self.rh("controller", "dup")
        self.assertExit(p, 1)
        self.assertIn(u1, p.stderr)
        self.assertIn(u2, p.stderr)

    def test_trains_table_json_and_status(self):
        self.wait_broker()
        with harness.MqttClient(self.broker.port) as mq:
            mq.publish("trains/t1/status", {"train_id": "t1", "speed": 30, "target_speed": 50,
                                            "direction": "FORWARD", "state": "ramping",
                                            "controller_id": self.a,
                                            "timestamp": "2026-11-27T10:15:00Z"})
        harness.wait_until(lambda: self.c.get("/api/trains/t1/status").json.get("speed") == 30,
                           timeout=10, message="status of t1 never stored")
        p = self.rh("trains")
        self.assertExit(p, 0)
        rows = table(p.stdout)
        self.assertEqual(rows[0], ["ID", "NAME", "CONTROLLER", "PLACEMENT", "SPEED", "DIRECTION", "STATE"])
        by_id = {r[0]: r for r in rows[1:]}
        self.assertEqual(set(by_id), {"t1", "t2"})
        api = {t["id"]: t for t in self.get_json(self.c, "/api/trains")}
        self.assertEqual(by_id["t1"], ["t1", "Express", "pi-a", api["t1"]["reassignment_status"],
                                       "30 -> 50", "FORWARD", "ramping"])
        # t2 never reported: its zero status.
        self.assertEqual(by_id["t2"], ["t2", "Zürich Local", "pi-a", api["t2"]["reassignment_status"],
                                       "0", "FORWARD", "stopped"])
        # Columns stay aligned with a non-ASCII name (widths are counted in characters).
        lines = p.stdout.splitlines()
        col = lines[0].index("CONTROLLER")
        for line in lines[1:]:
            self.assertEqual(line[col:col + 4], "pi-a", p.stdout)
        self.assertJsonOutput(self.rh("--json", "trains"), "/api/trains")

        d = details(self.rh("train", "t1").stdout)
        self.assertEqual(d["id"], "t1")
        self.assertEqual(d["name"], "Express")
        self.assertEqual(d["plugin"], "simulator")
        self.assertEqual(d["controller"], "pi-a (%s)" % self.a)
        self.assertEqual(d["speed"], "30 -> 50")
        self.assertEqual(d["state"], "ramping")
        self.assertEqual(d["status reported"], "2026-11-27 10:15:00 UTC")
        self.assertJsonOutput(self.rh("--json", "train", "t1"), "/api/trains/t1")

        d = details(self.rh("status", "t1", tz="XYZ-1").stdout)
        self.assertEqual(d["train"], "t1")
        self.assertEqual(d["speed"], "30")
        self.assertEqual(d["target speed"], "50")
        self.assertEqual(d["direction"], "FORWARD")
        self.assertEqual(d["state"], "ramping")
        self.assertEqual(d["controller"], "pi-a (%s)" % self.a)
        self.assertEqual(d["reported"], "2026-11-27 11:15:00 XYZ")
        self.assertJsonOutput(self.rh("--json", "status", "t1"), "/api/trains/t1/status")
        # Never reported: its zero status; a train that does not exist: the server's 404 detail.
        d = details(self.rh("status", "t2").stdout)
        self.assertEqual((d["speed"], d["state"]), ("0", "stopped"))
        p = self.rh("status", "t-none")
        self.assertExit(p, 1)
        self.assertIn(self.c.get("/api/trains/t-none/status").json["detail"], p.stderr)

    def test_unknown_train_is_1_with_server_detail(self):
        detail = self.c.get("/api/trains/nope").json["detail"]
        for args in (("train", "nope"), ("speed", "nope", "10"), ("stop", "nope"),
                     ("estop", "nope"), ("rename-train", "nope", "X"), ("assign", "nope", "none")):
            with self.subTest(args=args):
                p = self.rh(*args)
                self.assertExit(p, 1)
                self.assertIn(detail, p.stderr)
                self.assertEqual(p.stdout, "")
        # --json does not change where errors go.
        p = self.rh("--json", "train", "nope")
        self.assertExit(p, 1)
        self.assertEqual(p.stdout, "")
        self.assertIn(detail, p.stderr)

    def test_odd_train_ids_are_one_path_segment(self):
        for tid in ("t?x", "t%41", "zug-ä"):
            with self.subTest(tid=tid):
                self.add_train(self.c, self.b, tid, name="Odd")
                p = self.rh("--json", "train", tid)
                self.assertExit(p, 0)
                self.assertEqual(json.loads(p.stdout)["id"], tid)

    def test_control_characters_are_not_sent_to_the_terminal(self):
        self.add_train(self.c, self.b, "t9", name="Evil\x1b[2J")
        p = self.rh("trains")
        self.assertExit(p, 0)
        self.assertNotIn("\x1b", p.stdout)
        self.assertIn("Evil?[2J", p.stdout)
        p = self.rh("--json", "train", "t9")  # scripts get the data unchanged
        self.assertEqual(json.loads(p.stdout)["name"], "Evil\x1b[2J")

    def test_empty_registry(self):
        c2 = self.start_central(*STABLE_PRESENCE, db=os.path.join(self.tmp, "empty.db"))
        for cmd in ("controllers", "trains"):
            p = self.rh(cmd, central=c2.url)
            self.assertExit(p, 0)
            self.assertIn("no %s" % cmd, p.stdout)
            self.assertEqual(json.loads(self.rh("--json", cmd, central=c2.url).stdout), [])


class WriteCommandsTest(CliTestBase):

    def train(self, tid="t1"):
        return self.get_json(self.c, "/api/trains/%s" % tid)

    def test_assign_by_name_uuid_and_none(self):
        p = self.rh("assign", "t1", "pi-b")
        self.assertExit(p, 0)
        self.assertEqual(self.train()["controller_id"], self.b)
        self.assertIn("pi-b", p.stdout)
        self.assertIn(self.b, p.stdout)
        p = self.rh("--json", "assign", "t1", self.a)
        self.assertExit(p, 0)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["controller_id"], self.a)
        self.assertEqual(doc, self.train())
        p = self.rh("assign", "t1", "none")
        self.assertExit(p, 0)
        self.assertIsNone(self.train()["controller_id"])
        rows = {r[0]: r for r in table(self.rh("trains").stdout)[1:]}
        self.assertEqual(rows["t1"][2:4], ["-", "-"])

    def test_assign_errors(self):
        p = self.rh("assign", "t1", "pi-nowhere")
        self.assertExit(p, 1)
        self.assertIn("pi-nowhere", p.stderr)
        self.assertEqual(self.train()["controller_id"], self.a)
        missing = harness.new_uuid()
        expected = self.c.put("/api/trains/t1", {"controller_id": missing})
        self.assertJsonError(expected, 422, field="controller_id")
        p = self.rh("assign", "t1", missing)
        self.assertExit(p, 1)
        self.assertIn(expected.json["detail"], p.stderr)
        self.assertIn("controller_id", p.stderr)
        self.assertEqual(self.train()["controller_id"], self.a)

    def test_rename_train(self):
        p = self.rh("rename-train", "t1", "Night Express")
        self.assertExit(p, 0)
        self.assertIn("Night Express", p.stdout)
        self.assertEqual(self.train()["name"], "Night Express")
        p = self.rh("rename-train", "t1", "")
        self.assertExit(p, 1)
        self.assertIn("field 'name'", p.stderr)
        self.assertEqual(self.train()["name"], "Night Express")

    def test_add_train_with_options_and_set_address(self):
        p = self.rh("add-train", "pi-b", "t-opt", "Goods", "2", "invert=yes", "address=42",
                    "model=BR 50", "description=with tender", 'config={"i2c_address": "0x60"}')
        self.assertExit(p, 0)
        self.assertIn("train t-opt added to pi-b", p.stdout)
        self.assertIn("address 42", p.stdout)
        t = self.train("t-opt")
        self.assertEqual((t["controller_id"], t["invert_directions"], t["address"], t["model"],
                          t["description"]), (self.b, True, 42, "BR 50", "with tender"))
        self.assertEqual(t["plugin"], {"name": "dc_motor_hat",
                                       "config": {"motor_port": 2, "i2c_address": "0x60"}})
        p = self.rh("add-train", "pi-b", "t-sim", "Sim", "plugin=simulator")
        self.assertExit(p, 0)
        self.assertEqual(self.train("t-sim")["plugin"], {"name": "simulator", "config": {}})
        # Bad options are usage errors, and nothing is created.
        for bad in (["9"], ["invert=maybe"], ["address=0"], ["address=10000"], ["colour=red"],
                    ["config=[1]"], ["2", "3"]):
            p = self.rh("add-train", "pi-b", "t-bad", "Bad", *bad)
            self.assertExit(p, 2)
        self.assertEqual(self.c.get("/api/trains/t-bad").status, 404)
        # The address a throttle knows the train by.
        p = self.rh("set-address", "t-opt", "77")
        self.assertExit(p, 0)
        self.assertIn("train t-opt has address 77", p.stdout)
        self.assertEqual(self.train("t-opt")["address"], 77)
        p = self.rh("set-address", "t-sim", "77")  # taken: the central's answer, nothing changes
        self.assertExit(p, 1)
        self.assertIn("address", p.stderr)
        self.assertNotEqual(self.train("t-sim")["address"], 77)
        for bad in ("0", "10000", "x7"):
            self.assertExit(self.rh("set-address", "t-opt", bad), 2)
        self.assertEqual(self.train("t-opt")["address"], 77)

    def test_speed_stop_estop_on_mqtt(self):
        self.wait_broker()
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t1/commands")
            mq.subscribe("roundhouse/emergency-stop")
            p = self.rh("speed", "t1", "40", "--direction", "reverse")
            self.assertExit(p, 0)
            self.assertIn("t1", p.stdout)
            mq.wait_message("trains/t1/commands",
                            where=lambda d: d == {"action": "setSpeed", "speed": 40, "direction": "REVERSE"})
            p = self.rh("--json", "--direction", "FORWARD", "speed", "t1", "100")
            self.assertExit(p, 0)
            doc = json.loads(p.stdout)
            self.assertEqual(doc.get("train_id"), "t1")
            mq.wait_message("trains/t1/commands",
                            where=lambda d: d == {"action": "setSpeed", "speed": 100, "direction": "FORWARD"})
            self.assertExit(self.rh("speed", "t1", "0"), 0)
            mq.wait_message("trains/t1/commands", where=lambda d: d == {"action": "setSpeed", "speed": 0})
            self.assertExit(self.rh("stop", "t1"), 0)
            mq.wait_message("trains/t1/commands", where=lambda d: d == {"action": "stop"})
            self.assertExit(self.rh("estop", "t1"), 0)
            mq.wait_message("trains/t1/commands", where=lambda d: d == {"action": "emergencyStop"})
            p = self.rh("estop")
            self.assertExit(p, 0)
            self.assertIn("every controller", p.stdout)
            self.assertRegex(p.stdout, r"sent to [1-9][0-9]* train\(s\) on 1 controller\(s\)")
            msg, _ = mq.wait_message("roundhouse/emergency-stop")
            self.assertIn("reason", msg)
            p = self.rh("--json", "estop")
            self.assertExit(p, 0)
            self.assertIn("message", json.loads(p.stdout))

    def test_commands_without_broker_are_1(self):
        # Bound but never listening: the central's broker connection is refused.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            c2 = self.start_central(*STABLE_PRESENCE, db=os.path.join(self.tmp, "nobroker.db"),
                                    mqtt="127.0.0.1:%d" % s.getsockname()[1])
            u = self.register(c2, "pi-x")["uuid"]
            self.add_train(c2, u, "t1")
            expected = c2.post("/api/trains/t1/command", {"action": "stop"})
            self.assertJsonError(expected, 503)
            for args in (("stop", "t1"), ("estop",)):
                p = self.rh(*args, central=c2.url)
                self.assertExit(p, 1)
                self.assertIn("503", p.stderr)
            self.assertIn(expected.json["detail"], self.rh("stop", "t1", central=c2.url).stderr)
            p = self.rh("health", central=c2.url)
            self.assertExit(p, 1)
            self.assertEqual(details(p.stdout)["status"], "degraded")
            self.assertIn("degraded", p.stderr)


class ExportImportTest(CliTestBase):

    def test_round_trip(self):
        outdir = os.path.join(self.tmp, "backup")
        os.makedirs(outdir)
        path = os.path.join(outdir, "registry.json")
        p = self.rh("export", path)
        self.assertExit(p, 0)
        self.assertIn("2 controllers", p.stdout)
        self.assertIn("2 trains", p.stdout)
        self.assertEqual(os.listdir(outdir), ["registry.json"], "no temporary file is left behind")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertTrue(text.endswith("\n"))
        exported = json.loads(text)
        api = self.get_json(self.c, "/api/export")
        exported.pop("exported_at", None)
        api.pop("exported_at", None)
        self.assertEqual(exported, api)
        self.assertEqual({c["id"] for c in exported["controllers"]}, {self.a, self.b})

        # "-" is standard output, in both modes.
        for args in (("export", "-"), ("--json", "export", "-")):
            p = self.rh(*args)
            self.assertExit(p, 0)
            doc = json.loads(p.stdout)
            doc.pop("exported_at", None)
            self.assertEqual(doc, api)
        # --json export to a file prints nothing: the document is in the file.
        p = self.rh("--json", "export", path)
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, "")

        # Into an empty central: same UUIDs, same assignments.
        c2 = self.start_central(*STABLE_PRESENCE, db=os.path.join(self.tmp, "second.db"))
        p = self.rh("import", path, central=c2.url)
        self.assertExit(p, 0)
        self.assertIn("2 controllers", p.stdout)
        ctl2 = self.get_json(c2, "/api/controllers")
        self.assertEqual({c["id"]: c["name"] for c in ctl2}, {self.a: "pi-a", self.b: "pi-b"})
        trains2 = {t["id"]: t["controller_id"] for t in self.get_json(c2, "/api/trains")}
        self.assertEqual(trains2, {"t1": self.a, "t2": self.a})

        # From standard input, with --json: the central's summary as received.
        with open(path, encoding="utf-8") as f:
            p = self.rh("--json", "import", "-", central=c2.url, input=f.read())
        self.assertExit(p, 0)
        summary = json.loads(p.stdout)
        self.assertEqual(summary.get("status"), "ok")
        self.assertEqual(summary.get("controllers"), 2)
        self.assertEqual(summary.get("trains"), 2)

    def test_import_errors(self):
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w", encoding="utf-8") as f:
            f.write('{"format": "roundhouse-registry",\n  "controllers": [ }\n')
        before = self.c.dump()
        p = self.rh("import", bad)
        self.assertExit(p, 1)
        self.assertIn("line 2", p.stderr)
        p = self.rh("import", os.path.join(self.tmp, "missing.json"))
        self.assertExit(p, 1)
        self.assertIn("missing.json", p.stderr)
        p = self.rh("import", "-", input="[1, 2]")
        self.assertExit(p, 1)
        # Rejected by the central: its detail and field.
        doc = {"format": "something-else", "controllers": []}
        expected = self.c.post("/api/import", doc)
        self.assertJsonError(expected, 422, field="format")
        p = self.rh("import", "-", input=json.dumps(doc))
        self.assertExit(p, 1)
        self.assertIn(expected.json["detail"], p.stderr)
        self.assertIn("field 'format'", p.stderr)
        self.assertEqual(self.c.dump(), before)

    def test_export_write_failure(self):
        p = self.rh("export", os.path.join(self.tmp, "no-such-dir", "x.json"))
        self.assertExit(p, 1)
        self.assertIn("no-such-dir", p.stderr)


class LegacyImportTest(CliTestBase):
    """roundhouse import-legacy: the earlier system's SQLite database, with its schema as the
    earlier central created it (data/earlier_schema.sql)."""

    U1 = "B7E6A2E2-8C3A-4E2A-9C1A-2F8E4B7E6A2E"  # upper case: the earlier system kept any case
    U2 = "0f4e2d6c-1a2b-4c3d-8e9f-a0b1c2d3e4f5"

    def legacy_db(self, name="central_api_config.db", telemetry=True):
        path = os.path.join(self.tmp, name)
        with open(os.path.join(os.path.dirname(__file__), "data", "earlier_schema.sql"),
                  encoding="utf-8") as f:
            schema = f.read()
        if not telemetry:  # made before the telemetry migration, which never applied
            schema = re.sub(r"\n    (first_seen|last_seen|config_hash|version|platform|"
                            r"python_version|memory_mb|cpu_count|status) [^\n]*", "", schema)
            schema = schema.replace("enabled BOOLEAN NOT NULL,\n);", "enabled BOOLEAN NOT NULL\n);")
        db = sqlite3.connect(path)
        db.executescript(schema)
        db.execute("INSERT INTO plugins VALUES ('dc_motor_hat', 'Waveshare DC motor HAT', ?)",
                   (json.dumps({"required": ["motor_port"]}),))
        if telemetry:
            db.execute("INSERT INTO edge_controllers (id, name, description, address, enabled,"
                       " first_seen, last_seen, version, platform, python_version, memory_mb,"
                       " cpu_count, status) VALUES (?, 'Holiday Display', 'window', "
                       "'192.168.2.214', 1, '2025-12-01 08:00:00', '2025-12-24 17:30:05',"
                       " '1.4.2', 'Linux-6.1-armv7l', '3.11.2', 926, 4, 'online')", (self.U1,))
        else:
            db.execute("INSERT INTO edge_controllers (id, name, description, address, enabled)"
                       " VALUES (?, 'Holiday Display', 'window', '192.168.2.214', 1)", (self.U1,))
        db.execute("INSERT INTO edge_controllers (id, name, address, enabled) VALUES "
                   "(?, 'shed', '192.168.2.40', 0)", (self.U2,))
        db.executemany("INSERT INTO trains VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
            ("polar-express", "Polar Express", "Christmas", "Lionel 6-31960", "dc_motor_hat",
             json.dumps({"motor_port": 1}), self.U1, 0),
            ("shed-shunter", "Shunter", None, None, "dc_motor_hat", json.dumps({"motor_port": 2}),
             self.U2, 1),
            # The earlier schema never enforced its foreign key.
            ("orphan", "Orphan", None, None, "simulator", None, "no-such-controller", 0),
        ])
        db.execute("INSERT INTO train_status (train_id, speed) VALUES ('polar-express', 30)")
        db.commit()
        db.close()
        return path

    def check_imported(self):
        ctl = {c["id"]: c for c in self.get_json(self.c, "/api/controllers")}
        u1 = self.U1.lower()
        self.assertIn(u1, ctl)
        self.assertIn(self.U2, ctl)
        self.assertEqual(ctl[u1]["name"], "Holiday Display")
        self.assertEqual(ctl[u1]["address"], "192.168.2.214")
        self.assertTrue(ctl[u1]["enabled"])
        self.assertFalse(ctl[self.U2]["enabled"])
        trains = {t["id"]: t for t in self.get_json(self.c, "/api/trains")}
        self.assertEqual(trains["polar-express"]["controller_id"], u1)
        self.assertEqual(trains["polar-express"]["model"], "Lionel 6-31960")
        self.assertEqual(trains["polar-express"]["plugin"],
                         {"name": "dc_motor_hat", "config": {"motor_port": 1}})
        self.assertEqual(trains["shed-shunter"]["controller_id"], self.U2)
        self.assertTrue(trains["shed-shunter"]["invert_directions"])
        self.assertIsNone(trains["orphan"]["controller_id"])
        self.assertIn("dc_motor_hat", [p["name"] for p in self.get_json(self.c, "/api/plugins")])
        return ctl, trains

    def test_import_keeps_uuids_and_assignments(self):
        path = self.legacy_db()
        with open(path, "rb") as f:
            original = f.read()
        p = self.rh("import-legacy", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("imported 2 controllers, 3 trains, 1 plugins", p.stdout)
        self.assertIn("orphan", p.stderr)  # the note on the train without a controller
        ctl, _ = self.check_imported()
        self.assertEqual(ctl[self.U1.lower()]["first_seen"], "2025-12-01T08:00:00Z")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), original, "the earlier database is not changed")
        # Idempotent: a second run updates the same records, creates nothing.
        before = len(self.get_json(self.c, "/api/controllers"))
        self.assertEqual(self.rh("import-legacy", path).returncode, 0)
        self.assertEqual(len(self.get_json(self.c, "/api/controllers")), before)
        self.check_imported()
        # An earlier edge with its cached UUID is recognised at once.
        r = self.c.post("/api/controllers/register",
                        {"uuid": self.U1.lower(), "name": "Holiday Display", "address": "192.168.2.214"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "reactivated", r)

    def test_database_from_before_the_telemetry_migration(self):
        p = self.rh("import-legacy", self.legacy_db(telemetry=False))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.check_imported()

    def test_wrong_files_are_refused_and_change_nothing(self):
        before = self.c.dump()
        text = os.path.join(self.tmp, "notes.txt")
        with open(text, "w", encoding="utf-8") as f:
            f.write("not a database at all\n" * 100)
        other = os.path.join(self.tmp, "other.db")
        db = sqlite3.connect(other)
        db.execute("CREATE TABLE things (id TEXT)")
        db.commit()
        db.close()
        no_plugin_col = os.path.join(self.tmp, "half.db")
        db = sqlite3.connect(no_plugin_col)
        db.execute("CREATE TABLE edge_controllers (id TEXT, name TEXT)")
        db.execute("CREATE TABLE trains (id TEXT, name TEXT)")
        db.commit()
        db.close()
        bad_uuid = self.legacy_db("bad-uuid.db")
        db = sqlite3.connect(bad_uuid)
        db.execute("INSERT INTO edge_controllers (id, name, enabled) VALUES ('pi-7', 'x', 1)")
        db.commit()
        db.close()
        for path, says in ((text, "not an SQLite file"), (other, "no table edge_controllers"),
                           (no_plugin_col, "has no column plugin_name"),
                           (bad_uuid, "id 'pi-7' is not a UUID"),
                           (os.path.join(self.tmp, "missing.db"), "missing.db")):
            with self.subTest(path=os.path.basename(path)):
                p = self.rh("import-legacy", path)
                self.assertExit(p, 1)
                self.assertIn(says, p.stderr)
        self.assertEqual(self.c.dump(), before)
        self.assertExit(self.rh("import-legacy"), 2)


class ConnectionTest(CliTestBase):

    def test_env_sets_central_and_flag_wins(self):
        p = self.rh("--json", "trains", central=False, env={"ROUNDHOUSE_CENTRAL": self.c.url})
        self.assertJsonOutput(p, "/api/trains")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            dead = "http://127.0.0.1:%d" % s.getsockname()[1]
            p = self.rh("--json", "trains", env={"ROUNDHOUSE_CENTRAL": dead})
            self.assertJsonOutput(p, "/api/trains")
            p = self.rh("trains", central=False, env={"ROUNDHOUSE_CENTRAL": dead})
            self.assertExit(p, 1)
            self.assertIn(dead, p.stderr)

    def test_unreachable_central_is_1(self):
        # Bound, not listening: connections are refused, and no other process can take it.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            url = "http://127.0.0.1:%d" % s.getsockname()[1]
            for args in (("trains",), ("estop",), ("export", os.path.join(self.tmp, "x.json"))):
                p = self.rh(*args, central=url)
                self.assertExit(p, 1)
                self.assertIn("cannot reach the central at %s" % url, p.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "x.json")))

    def test_silent_central_times_out(self):
        # Listening but never accepting: the connection completes, no answer ever comes.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            url = "http://127.0.0.1:%d" % s.getsockname()[1]
            p = self.rh("--timeout", "0.5", "controllers", central=url)
            self.assertExit(p, 1)
            self.assertIn("no answer", p.stderr)

    def test_health(self):
        self.wait_broker()
        p = self.rh("health")
        self.assertExit(p, 0)
        d = details(p.stdout)
        self.assertEqual(d["status"], "healthy")
        self.assertEqual(d["database"], "ok")
        self.assertEqual(d["mqtt connected"], "yes")
        p = self.rh("--json", "health")
        self.assertExit(p, 0)
        doc = json.loads(p.stdout)
        self.assertEqual(set(doc), set(self.get_json(self.c, "/health")))
        self.assertEqual(doc["status"], "healthy")

    def test_misbehaving_servers(self):
        big = 17 * 1024 * 1024
        servers = {
            "too large (Content-Length)": FakeServer(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % big,
                (b" " * 65536 for _ in range(big // 65536))),
            "too large (chunked)": FakeServer(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                (b"10000\r\n" + b" " * 65536 + b"\r\n" for _ in range(big // 65536))),
            "not JSON": FakeServer(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n"
                b"Connection: close\r\n\r\n<html>"),
            "error without JSON": FakeServer(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 6\r\n"
                b"Connection: close\r\n\r\n<html>"),
        }
        expect = {"too large (Content-Length)": "16 MiB", "too large (chunked)": "16 MiB",
                  "not JSON": "not JSON", "error without JSON": "HTTP 502"}
        try:
            for name, srv in servers.items():
                with self.subTest(server=name):
                    p = self.rh("--json", "trains", central=srv.url)
                    self.assertExit(p, 1)
                    self.assertEqual(p.stdout, "")
                    self.assertIn(expect[name], p.stderr)
        finally:
            for srv in servers.values():
                srv.close()


if __name__ == "__main__":
    harness.main()
