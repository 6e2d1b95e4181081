"""The central's WiThrottle server over a real TCP socket (docs/throttles.md): greeting and
roster, acquire/speed/direction/release arriving as canonical commands on MQTT, two throttles
on one train, heartbeat silence, track power, changes made elsewhere pushed to the throttles,
hostile input; and the train `address` field of the REST API (docs/api.md)."""

import json
import socket
import time

import harness


class Throttle:
    """A WiThrottle client: lines out, lines in, every wait bounded."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.lines = []
        self.closed = False

    def send(self, line):
        self.sock.sendall((line + "\n").encode("utf-8") if isinstance(line, str) else line)

    def _fill(self, deadline):
        self.sock.settimeout(max(0.05, min(0.5, deadline - time.monotonic())))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self.lines.append(line.decode("utf-8", "replace"))

    def expect(self, pred, timeout=10.0, what=None):
        """The first received line for which pred(line) holds (earlier lines are consumed)."""
        if isinstance(pred, str):
            want = pred
            pred = lambda l: l == want  # noqa: E731
            what = what or want
        deadline = time.monotonic() + timeout
        seen = []
        for _ in range(10000):
            while self.lines:
                line = self.lines.pop(0)
                seen.append(line)
                if pred(line):
                    return line
            if self.closed or time.monotonic() > deadline:
                break
            self._fill(deadline)
        raise AssertionError("no line %s within %.0f s; got %r" % (what or "matching", timeout, seen[-30:]))

    def expect_closed(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        for _ in range(10000):
            if self.closed:
                return
            if time.monotonic() > deadline:
                break
            self.lines.clear()
            self._fill(deadline)
        raise AssertionError("the server did not close the connection within %.0f s" % timeout)

    def greet(self):
        self.expect(lambda l: l.startswith("*"), what="the heartbeat interval")

    def acquire(self, address, throttle="T"):
        key = ("S%d" if address < 128 else "L%d") % address
        self.send("M%s+%s<;>%s" % (throttle, key, key))
        self.expect("M%s+%s<;>" % (throttle, key))
        self.expect("M%sA%s<;>s1" % (throttle, key))
        return key

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class WiThrottleCase(harness.RoundhouseTestCase):

    FLAGS = ()

    def setUp(self):
        super().setUp()
        self.c = self.start_central(*self.FLAGS)
        self.wt_port = int(self.c.wait_event("withrottle_listening")["port"])
        self.ctl = self.register(self.c, "pi-1", "10.0.0.1")["uuid"]
        r = self.c.post("/api/trains", {"controller_uuid": self.ctl, "train_id": "t1",
                                        "name": "Express", "address": 3})
        self.assertEqual(r.status, 201, r)
        self.mq = harness.MqttClient(self.broker.port)
        self.addCleanup(self.mq.close)
        self.mq.subscribe("trains/+/commands")
        self.mq.subscribe("roundhouse/emergency-stop")
        self.throttles = []
        self.mark = {}

    def throttle(self, greet=True):
        t = Throttle(self.wt_port)
        self.throttles.append(t)
        self.addCleanup(t.close)
        if greet:
            t.greet()
        return t

    def command(self, where, train="t1", timeout=10.0, topic=None):
        """The next command on the train's topic (after the last one matched) satisfying
        where; earlier messages do not count, nor empty ones (the central clears a retained
        emergency stop with one when it connects)."""
        topic = topic or "trains/%s/commands" % train
        deadline = time.monotonic() + timeout
        seen = []
        for _ in range(100000):
            msgs = list(self.mq.messages)
            for i in range(self.mark.get(topic, 0), len(msgs)):
                if msgs[i][0] != topic or len(msgs[i][1]) == 0:
                    continue
                doc = json.loads(msgs[i][1])
                seen.append(doc)
                if where(doc):
                    self.mark[topic] = i + 1
                    return doc
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        raise AssertionError("no matching message on %s within %.0f s; saw %r" % (topic, timeout, seen[-20:]))

    def status(self, speed, direction="FORWARD", train="t1"):
        """What an edge publishes (retained, QoS 0)."""
        self.mq.publish("trains/%s/status" % train,
                        {"train_id": train, "speed": speed, "target_speed": speed,
                         "direction": direction, "state": "running" if speed else "stopped",
                         "controller_id": self.ctl, "timestamp": "2026-01-01T00:00:00Z"},
                        qos=0, retain=True)


class GreetingAndDrivingTest(WiThrottleCase):

    def test_greeting_and_roster(self):
        t = self.throttle(greet=False)
        t.expect("VN2.0")
        t.expect("HTRoundhouse")
        t.expect(lambda l: l.startswith("Ht"), what="the server description")
        t.expect("RL1]\\[Express}|{3}|{S")
        t.expect("PPA1")
        t.expect("PW%d" % self.c.port)
        t.expect("*10")
        t.send("NMy phone")
        t.expect("*10")

    def test_acquire_speed_direction_release_arrive_on_mqtt(self):
        t = self.throttle()
        t.send("HUabc123")
        t.send("MT+S3<;>S3")
        t.expect("MT+S3<;>")
        t.expect("MTLS3<;>")  # no function labels: a DC train has none
        t.expect("MTAS3<;>V0")
        t.expect("MTAS3<;>R1")
        t.expect("MTAS3<;>s1")
        t.send("MTAS3<;>V63")
        self.command(lambda d: d == {"action": "setSpeed", "speed": 50})
        t.send("MTAS3<;>R0")
        self.command(lambda d: d == {"action": "setDirection", "direction": "REVERSE"})
        t.send("MTAS3<;>V126")
        self.command(lambda d: d == {"action": "setSpeed", "speed": 100})
        t.send("MTAS3<;>I")
        self.command(lambda d: d == {"action": "setSpeed", "speed": 0})
        t.send("MTAS3<;>X")
        self.command(lambda d: d == {"action": "emergencyStop"})
        t.send("MTAS3<;>s2")  # 28 steps asked: only 128-step mode exists
        t.expect("MTAS3<;>s1")
        t.send("MTAS3<;>F11")  # a function: there is none, it stays off
        t.expect("MTAS3<;>F01")
        t.send("MTAS3<;>qV")
        t.expect("MTAS3<;>V0")
        t.send("MT-S3<;>r")
        t.expect("MT-S3<;>")
        self.command(lambda d: d == {"action": "stop"})
        # Released: no longer driven from this throttle.
        t.send("MTAS3<;>V50")
        t.expect(lambda l: l.startswith("HM"), what="a message that nothing is held")

    def test_acquire_by_roster_entry_and_unknown_address(self):
        t = self.throttle()
        t.send("MT+L77<;>EExpress")  # the key's address is unknown: the roster name finds it
        t.expect("MT+S3<;>")
        t.send("M0+L4321<;>L4321")
        t.expect(lambda l: l.startswith("HMNo train has address 4321"), what="HM no train")

    def test_two_throttles_last_command_wins_and_both_see_it(self):
        a, b = self.throttle(), self.throttle()
        a.acquire(3)
        b.acquire(3, throttle="0")
        a.send("MTAS3<;>V63")
        self.command(lambda d: d.get("speed") == 50)
        b.expect("M0AS3<;>V63")
        b.send("M0AS3<;>V20")
        self.command(lambda d: d.get("speed") == 16)
        a.expect("MTAS3<;>V20")
        b.send("M0AS3<;>R0")
        a.expect("MTAS3<;>R0")
        # One lets go: the train keeps running for the other, nothing stopped it.
        b.send("M0-S3<;>r")
        b.expect("M0-S3<;>")
        a.send("MTAS3<;>V30")
        doc = self.command(lambda d: d.get("action") in ("stop", "setSpeed") and d.get("speed") != 16)
        self.assertEqual(doc, {"action": "setSpeed", "speed": 24})

    def test_changes_made_elsewhere_are_pushed(self):
        t = self.throttle()
        t.acquire(3)
        r = self.c.post("/api/trains/t1/command", {"action": "setSpeed", "speed": 40})
        self.assertEqual(r.status, 202, r)
        self.command(lambda d: d.get("speed") == 40)
        self.status(40)  # the edge reports the new target
        t.expect("MTAS3<;>V50")
        self.status(40, "BACKWARD")
        t.expect("MTAS3<;>R0")
        self.status(0)  # e.g. the edge's own fail-safe stopped it
        t.expect("MTAS3<;>V0")

    def test_closed_connection_stops_its_trains(self):
        t = self.throttle()
        t.acquire(3)
        t.send("MTAS3<;>V100")
        self.command(lambda d: d.get("speed") == 79)
        t.close()
        self.command(lambda d: d == {"action": "stop"})
        self.c.wait_event("withrottle_disconnected", where=lambda e: e.get("trains_released") == 1)

    def test_quit_releases(self):
        t = self.throttle()
        t.acquire(3)
        t.send("Q")
        t.expect_closed()
        self.command(lambda d: d == {"action": "stop"})


    def test_disabled_controller_is_not_driven_and_the_throttle_is_told(self):
        """The REST command path's rules hold for a throttle too (one path, command.c)."""
        t = self.throttle()
        t.acquire(3)
        self.assertEqual(self.c.patch("/api/controllers/%s" % self.ctl, {"enabled": False}).status, 200)
        n = len(self.mq.messages)
        t.send("MTAS3<;>V63")
        t.expect(lambda l: l.startswith("HMThe train's controller is disabled"), what="HM disabled")
        # A stop still goes out; driving did not.
        t.send("MTAS3<;>X")
        self.command(lambda d: d == {"action": "emergencyStop"})
        sent = [json.loads(p) for tp, p, _r, _q in self.mq.messages[n:] if tp == "trains/t1/commands"]
        self.assertNotIn("setSpeed", [d.get("action") for d in sent], sent)
        r = self.c.post("/api/trains/t1/command", {"action": "setSpeed", "speed": 50})
        self.assertJsonError(r, 409, error="controller_disabled")
        self.assertEqual(self.c.patch("/api/controllers/%s" % self.ctl, {"enabled": True}).status, 200)
        t.send("MTAS3<;>V63")
        self.command(lambda d: d == {"action": "setSpeed", "speed": 50})


class PowerTest(WiThrottleCase):

    def test_power_off_is_the_layout_estop_and_on_resumes(self):
        a, b = self.throttle(), self.throttle()
        a.acquire(3)
        a.send("MTAS3<;>V63")
        self.command(lambda d: d.get("speed") == 50)
        b.send("PPA0")
        self.command(lambda d: "reason" in d, topic="roundhouse/emergency-stop")
        self.command(lambda d: d == {"action": "emergencyStop"})
        a.expect("PPA0")
        b.expect("PPA0")
        a.expect("MTAS3<;>V0")
        # While the power is off nothing drives.
        n = len(self.mq.messages)
        a.send("MTAS3<;>V40")
        a.expect("MTAS3<;>V0")
        a.expect(lambda l: l.startswith("HMTrack power is off"), what="HM power off")
        a.send("PPA1")
        a.expect("PPA1")
        b.expect("PPA1")
        a.send("MTAS3<;>V40")
        doc = self.command(lambda d: d.get("action") == "setSpeed")
        self.assertEqual(doc, {"action": "setSpeed", "speed": 32})
        sent = [json.loads(p) for tp, p, _r, _q in self.mq.messages[n:] if tp == "trains/t1/commands"]
        self.assertEqual(sent, [{"action": "setSpeed", "speed": 32}], "a command was sent while the power was off")


class HeartbeatTest(WiThrottleCase):

    FLAGS = ("--withrottle-heartbeat", "1")

    def test_silent_throttle_with_heartbeat_has_its_train_stopped(self):
        t = self.throttle()
        t.send("*+")
        t.acquire(3)
        t.send("MTAS3<;>V63")
        self.command(lambda d: d.get("speed") == 50)
        # Silence: the server stops the train and tells the throttle.
        self.command(lambda d: d == {"action": "emergencyStop"}, timeout=20)
        t.expect("MTAS3<;>V0")
        self.c.wait_event("withrottle_heartbeat_lost")

    def test_without_heartbeat_silence_is_allowed(self):
        t = self.throttle()
        t.acquire(3)
        t.send("MTAS3<;>V63")
        self.command(lambda d: d.get("speed") == 50)
        time.sleep(2.5)  # past the 1 s interval; nothing may happen
        self.assertFalse(self.c.find_events("withrottle_heartbeat_lost"))
        self.assertFalse([p for tp, p, _r, _q in self.mq.messages
                          if tp == "trains/t1/commands" and b"emergencyStop" in p])


class HostileInputTest(WiThrottleCase):

    def test_overlong_line_closes_the_connection_and_stops_the_train(self):
        t = self.throttle()
        t.acquire(3)
        t.send("MTAS3<;>V63")
        self.command(lambda d: d.get("speed") == 50)
        t.send(b"N" + b"x" * 5000)
        t.expect_closed()
        self.command(lambda d: d == {"action": "stop"})

    def test_junk_and_unknown_commands_are_ignored(self):
        t = self.throttle()
        t.send(b"\x00\xff\x01\x02garbage\x7f\n")
        t.send("ZZZ unknown")
        t.send("MTAS3<;>V999")
        t.send("MT+S0<;>S0")
        t.send("MT+S99999<;>S99999")
        t.send("M\x01+S3<;>S3")
        t.send("PTA2LT12")  # a turnout: none here
        t.acquire(3)  # still served
        t.send("MTAS3<;>V-1")
        self.command(lambda d: d == {"action": "emergencyStop"})

    def test_flood_closes_the_connection(self):
        t = self.throttle()
        t.acquire(3)
        burst = b"".join(b"MTAS3<;>qV\n" for _ in range(3000))
        try:
            t.send(burst)
        except OSError:
            pass
        t.expect_closed(timeout=20)
        self.c.wait_event("withrottle_disconnected", where=lambda e: e.get("reason") == "flood")
        self.command(lambda d: d == {"action": "stop"})
        self.throttle().acquire(3)  # the server still serves

    def test_connections_per_ip_are_limited(self):
        for _ in range(8):
            self.throttle()
        extra = self.throttle(greet=False)
        extra.expect(lambda l: l.startswith("HMToo many connections"), what="HM too many")
        extra.expect_closed()
        self.c.wait_event("withrottle_refused")


class OffTest(harness.RoundhouseTestCase):

    def test_off_disables_the_server(self):
        c = self.start_central("--withrottle-listen", "off")
        self.assertEqual(c.get("/api/ping").status, 200)
        self.assertFalse(c.find_events("withrottle_listening"))

    def test_bad_flag_is_a_usage_error(self):
        proc = harness.run_program("roundhouse-central", "--withrottle-listen", "nowhere", timeout=30)
        self.assertEqual(proc.returncode, 2, proc)
        self.assertIn("--withrottle-listen", proc.stderr)


class TrainAddressTest(harness.RoundhouseTestCase):

    def setUp(self):
        super().setUp()
        self.c = self.start_central()
        self.ctl = self.register(self.c, "pi-1", "10.0.0.1")["uuid"]

    def add(self, tid, expect=201, **extra):
        body = {"controller_uuid": self.ctl, "train_id": tid, "name": tid}
        body.update(extra)
        r = self.c.post("/api/trains", body)
        self.assertEqual(r.status, expect, r)
        return r

    def test_assigned_unique_editable(self):
        self.assertEqual(self.add("a").json["address"], 1)
        self.assertEqual(self.add("b", address=3).json["address"], 3)
        self.assertEqual(self.add("c").json["address"], 2)
        self.assertEqual(self.add("d").json["address"], 4)
        r = self.add("e", expect=409, address=3)
        self.assertEqual(r.json["error"], "address_in_use", r)
        self.assertEqual(r.json["field"], "address", r)
        self.assertEqual(self.c.get("/api/trains/e").status, 404)
        for bad in (0, 10000, "7", 1.5):
            r = self.add("f", expect=422, address=bad)
            self.assertEqual(r.json["field"], "address", r)
        r = self.c.put("/api/trains/a", {"address": 3})
        self.assertEqual(r.status, 409, r)
        self.assertEqual(self.c.get("/api/trains/a").json["address"], 1)
        r = self.c.put("/api/trains/a", {"address": 1234})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["address"], 1234)
        self.assertEqual(self.c.get("/api/trains/a").json["address"], 1234)
        r = self.c.put("/api/trains/a", {"address": 0})
        self.assertEqual(r.status, 422, r)

    def test_export_import_keeps_addresses(self):
        self.add("a", address=42)
        self.add("b")
        doc = self.c.get("/api/export").json
        self.assertEqual({t["id"]: t["address"] for t in doc["trains"]}, {"a": 42, "b": 1})
        # Swap them on import: both land.
        for t in doc["trains"]:
            t["address"] = 1 if t["id"] == "a" else 42
        r = self.c.post("/api/import", doc)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.c.get("/api/trains/a").json["address"], 1)
        self.assertEqual(self.c.get("/api/trains/b").json["address"], 42)
        doc["trains"][1]["address"] = doc["trains"][0]["address"]
        r = self.c.post("/api/import", doc)
        self.assertEqual(r.status, 422, r)


if __name__ == "__main__":
    harness.main()
