"""The layout-wide emergency stop leaves the layout stopped until an operator resumes it, and
reports which live controllers confirmed it: a real roundhouse-edge acknowledges on
controllers/{uuid}/estop-ack; a controller that is registered but does not answer is named as
unconfirmed after the window; an earlier-system edge (which cannot answer) is not asked."""

import os
import time

import harness
import edge_support as es
from legacy_edge import LegacyEdge, wait_speed


class LayoutStopTest(harness.RoundhouseTestCase):

    def test_stopped_until_resumed_with_confirmations(self):
        central = self.start_central("--heartbeat-interval", "1")
        edge = self.start_edge(central, name="pi-ack",
                               state_dir=os.path.join(self.tmp, "state-ack"))
        uuid = edge.wait_event("controller_registered")["uuid"]
        edge.wait_event("mqtt_connected")
        self.add_train(central, uuid, "t-ack")
        edge.wait_event("config_applied", where=lambda e: e["trains"] == ["t-ack"])
        self.register(central, "pi-silent", "10.30.0.2")  # registered, but no edge answers
        old = LegacyEdge(central, self.broker.port, "pi-old-stop", "10.30.0.3", train_id="t-old")
        self.addCleanup(old.kill)
        old.boot()
        harness.wait_until(lambda: es.controller(central, old.uuid)["reports_placement"] is False,
                           timeout=10)
        self.assertIs(self.get_json(central, "/api/layout")["stopped"], False)
        r = central.post("/api/trains/t-ack/command", {"action": "setSpeed", "speed": 40})
        self.assertEqual(r.status, 202, r)
        harness.wait_until(lambda: es.motor_speed(edge, "t-ack") == 40, timeout=30)

        r = central.post("/api/emergency-stop", {"reason": "derailment at the bridge"})
        self.assertEqual(r.status, 202, r)
        self.assertIs(r.json["layout_stopped"], True)
        self.assertEqual(r.json["expected"], 2, r)  # pi-ack and pi-silent; not the earlier edge
        estop_id = r.json["estop_id"]
        harness.wait_until(lambda: es.motor_speed(edge, "t-ack") == 0, timeout=10)
        wait_speed(old, 0)
        view = harness.wait_until(
            lambda: (lambda v: v if v["estop"]["settled"] else None)(
                self.get_json(central, "/api/layout")), timeout=10, message="settled")
        self.assertEqual(view["estop"]["id"], estop_id)
        self.assertTrue(view["stopped"])
        self.assertEqual(view["reason"], "derailment at the bridge")
        self.assertIsoUtc(view["since"])
        self.assertEqual([c["id"] for c in view["estop"]["confirmed"]], [uuid])
        self.assertEqual([c["name"] for c in view["estop"]["unconfirmed"]], ["pi-silent"])
        self.assertTrue(edge.find_events("emergency_stop"))

        # Stopped: nothing drives, stops still go through; a restart of the central keeps it.
        self.assertJsonError(central.post("/api/trains/t-ack/command",
                                          {"action": "setSpeed", "speed": 20}),
                             409, error="layout_stopped", field="action")
        self.assertJsonError(central.post("/api/trains/t-ack/command", {"action": "start"}), 409)
        self.assertEqual(central.post("/api/trains/t-ack/command", {"action": "stop"}).status, 202)
        central = self.restart_central(central, "--heartbeat-interval", "1")
        self.assertIs(self.get_json(central, "/api/layout")["stopped"], True)
        out = harness.run_program("roundhouse", "--central", central.url, "speed", "t-ack", "20")
        self.assertEqual(out.returncode, 1)
        self.assertIn("resume", out.stderr)

        # Resumed: driving works again, and no train started by itself.
        out = harness.run_program("roundhouse", "--central", central.url, "resume")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIs(self.get_json(central, "/api/layout")["stopped"], False)
        time.sleep(0.5)
        self.assertEqual(es.motor_speed(edge, "t-ack"), 0)
        self.assertEqual(central.post("/api/trains/t-ack/command",
                                      {"action": "setSpeed", "speed": 20}).status, 202)
        harness.wait_until(lambda: es.motor_speed(edge, "t-ack") == 20, timeout=30)

        # The CLI waits for the confirmations and names who did not answer.
        out = harness.run_program("roundhouse", "--central", central.url, "estop")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("1 of 2 live controller(s) confirmed it; not confirmed: pi-silent", out.stdout)
        self.assertIn("stopped until `roundhouse resume`", out.stdout)


if __name__ == "__main__":
    harness.main()
