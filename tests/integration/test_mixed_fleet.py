"""A mixed fleet: roundhouse-central with edges of the earlier system (emulated from its
reference, legacy_edge.py) beside real roundhouse-edge processes. The layout-wide stop
reaches the old edges; a train moved off an old edge is never driven by two motors; the old
edge's registrations, statuses, command bodies and telemetry work as they did."""

import json
import os
import subprocess

import harness
import edge_support as es
from legacy_edge import LegacyEdge, wait_speed


class MixedFleetTest(harness.RoundhouseTestCase):

    def legacy(self, central, name, train_id, address="10.20.0.1", **kw):
        edge = LegacyEdge(central, self.broker.port, name, address, train_id=train_id, **kw)
        self.addCleanup(edge.kill)
        return edge.boot()

    def roundhouse_edge(self, central, name):
        edge = self.start_edge(central, name=name,
                               state_dir=os.path.join(self.tmp, "state-%s" % name))
        uuid = edge.wait_event("controller_registered")["uuid"]
        edge.wait_event("mqtt_connected")
        return edge, uuid

    def drive(self, central, train_id, speed):
        r = central.post("/api/trains/%s/command" % train_id, {"action": "setSpeed", "speed": speed})
        self.assertEqual(r.status, 202, r)

    # ------------------------------------------------------------------ safety

    def test_emergency_stop_reaches_the_earlier_edge(self):
        central = self.start_central("--heartbeat-interval", "1")
        old = self.legacy(central, "pi-old", "t-old")
        self.assertEqual(old.train_id, "t-old")
        self.drive(central, "t-old", 60)
        wait_speed(old, 60)
        r = central.post("/api/emergency-stop", {"reason": "derailment"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json["trains"], 1, r)
        wait_speed(old, 0)
        self.assertEqual(old.commands[-1], {"action": "emergencyStop"})
        # And the CLI says what it reached.
        out = subprocess.run([harness.binary("roundhouse"), "--central", central.url, "estop"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("1 train(s) on 1 controller(s)", out.stdout)

    def test_train_moved_off_an_earlier_edge_is_never_driven_twice(self):
        """The old edge obeys the train's topic until it reboots; the new owner must not
        drive the train before that (before, it took the train at once)."""
        central = self.start_central("--heartbeat-interval", "1")
        old = self.legacy(central, "pi-old-mv", "t-mix")
        self.drive(central, "t-mix", 40)
        wait_speed(old, 40)
        new, new_uuid = self.roundhouse_edge(central, "pi-new-mv")
        harness.wait_until(lambda: es.train(central, "t-mix")["actual_controller_id"] == old.uuid,
                           timeout=10, message="the old edge counted as running its train")
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t-mix/status")
            r = central.put("/api/trains/t-mix", {"controller_id": new_uuid})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["reassignment_status"], "pending")
            self.assertIn("restart controller pi-old-mv", r.json["reassignment_reason"])
            # The stop sent before the move reached the old edge.
            wait_speed(old, 0)
            # While the old edge is online, the new one gets no such train (a few of its
            # heartbeats and config checks later), and publishes no status for it.
            for _ in range(3):
                mark = len(new.events)
                new.wait_event("heartbeat_ok", start=mark, timeout=30)
            self.assertNotIn("t-mix", es.train_ids(new))
            self.assertFalse([d for t, p, _r, _q in list(mq.messages)
                              for d in [json.loads(p)] if d.get("controller_id") == new_uuid])
            # The CLI shows why.
            out = subprocess.run([harness.binary("roundhouse"), "--central", central.url,
                                  "train", "t-mix"], capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("restart controller pi-old-mv", out.stdout)
            # The operator restarts the old edge: it reads its config, now without the train,
            # and the new owner takes it.
            old.reboot()
            self.assertIsNone(old.train_id)
            new.wait_event("config_applied", timeout=30, where=lambda e: "t-mix" in e["trains"])
            harness.wait_until(
                lambda: es.train(central, "t-mix")["reassignment_status"] == "complete",
                timeout=30, message="move completed")
            self.assertEqual(es.train(central, "t-mix")["actual_controller_id"], new_uuid)
            self.drive(central, "t-mix", 25)
            harness.wait_until(lambda: es.motor_speed(new, "t-mix") == 25, timeout=30)

    def test_forced_move_and_an_earlier_edge_that_went_offline(self):
        central = self.start_central("--heartbeat-interval", "1", "--stale-after", "2",
                                     "--offline-after", "3")
        a = self.legacy(central, "pi-old-f", "t-force", address="10.20.0.2", heartbeat_interval=0.5)
        b = self.legacy(central, "pi-old-g", "t-gone", address="10.20.0.3", heartbeat_interval=0.5)
        new, new_uuid = self.roundhouse_edge(central, "pi-new-f")
        for tid, edge in (("t-force", a), ("t-gone", b)):
            harness.wait_until(lambda: es.train(central, tid)["actual_controller_id"] == edge.uuid,
                               timeout=10)
        # Forced: the new owner takes it at once, and the train shows it was forced.
        out = subprocess.run([harness.binary("roundhouse"), "--central", central.url, "assign",
                              "t-force", new_uuid, "--force"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("(placement: forced)", out.stdout)
        t = es.train(central, "t-force")
        # Forced until the new owner reports it (which may already have happened).
        self.assertIn(t["reassignment_status"], ("forced", "in_progress", "complete"), t)
        if t["reassignment_status"] == "forced":
            self.assertIn("force", t["reassignment_reason"])
        out = subprocess.run([harness.binary("roundhouse"), "--central", central.url, "stop",
                              "t-force", "--force"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertIn("--force only applies to the assign command", out.stderr)
        new.wait_event("config_applied", timeout=30, where=lambda e: "t-force" in e["trains"])
        # Not forced, but its old edge dies: once offline, the new owner takes the train.
        r = central.put("/api/trains/t-gone", {"controller_id": new_uuid})
        self.assertEqual(r.json["reassignment_status"], "pending")
        b.kill()
        new.wait_event("config_applied", timeout=60, where=lambda e: "t-gone" in e["trains"])
        self.assertEqual(self.get_json(central, "/api/controllers/%s" % b.uuid)["status"], "offline")

    # ------------------------------------------------------------------ compatibility

    def test_the_earlier_edge_registers_reports_and_is_shown(self):
        central = self.start_central("--heartbeat-interval", "1")
        old = self.legacy(central, "pi-compat", "t-compat", address="10.20.0.9")
        self.assertEqual(old.registration["status"], "registered")
        # 3: a zero status from registration on.
        st = self.get_json(central, "/api/trains/t-compat/status")
        self.assertEqual((st["speed"], st["voltage"], st["current"], st["position"]),
                         (0, 0.0, 0.0, "unknown"))
        # 7: python_version shown; it does not report placement.
        harness.wait_until(lambda: es.controller(central, old.uuid)["python_version"] == "3.11.2",
                           timeout=10)
        self.assertIs(es.controller(central, old.uuid)["reports_placement"], False)
        # 6: the earlier command bodies, relayed in the canonical form it understands.
        r = central.post("/api/trains/t-compat/command", {"speed": 35})
        self.assertEqual(r.status, 202, r)
        wait_speed(old, 35)
        self.assertEqual(old.commands[-1], {"action": "setSpeed", "speed": 35})
        # 5: its status (without controller_id) shows the train running on it.
        harness.wait_until(
            lambda: (lambda t: t["actual_controller_id"] == old.uuid and t["status"]
                     and t["status"]["speed"] == 35 and t["status"]["state"] != "offline")(
                es.train(central, "t-compat")), timeout=10, message="running on the old edge")
        self.assertEqual(es.train(central, "t-compat")["reassignment_status"], "complete")
        # 4: its container restarts quickly and lost its cache: same name, same address,
        # the same record (not a duplicate whose train would answer 409).
        again = LegacyEdge(central, self.broker.port, "pi-compat", "10.20.0.9",
                           train_id="t-compat")
        self.addCleanup(again.kill)
        old.kill()
        again.boot()
        self.assertEqual(again.uuid, old.uuid)
        self.assertEqual(again.registration["status"], "existing")
        self.assertEqual(again.train_id, "t-compat")
        self.assertEqual(len([c for c in self.get_json(central, "/api/controllers")
                              if c["name"] == "pi-compat"]), 1)


if __name__ == "__main__":
    harness.main()
