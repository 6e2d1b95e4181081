"""Managing the fleet from the CLI (and so the REST API) with a real edge: rename, describe,
disable (which now means something: no trains in its config, none driven) and enable, add and
delete a train, delete a controller whose edge still runs (it comes back, not silently), and
prune controllers that have been offline too long."""

import os
import time

import harness
import edge_support as es


class FleetManagementTest(harness.RoundhouseTestCase):

    def cli(self, central, *args, expect=0):
        out = harness.run_program("roundhouse", "--central", central.url, *args)
        self.assertEqual(out.returncode, expect, (args, out.stdout, out.stderr))
        return out

    def test_manage_a_controller_and_its_trains(self):
        central = self.start_central("--heartbeat-interval", "1", "--stale-after", "2",
                                     "--offline-after", "3")
        edge = self.start_edge(central, name="pi-m", state_dir=os.path.join(self.tmp, "state-m"))
        uuid = edge.wait_event("controller_registered")["uuid"]
        edge.wait_event("mqtt_connected")

        # Add a train on motor port 2; the edge runs it at once.
        out = self.cli(central, "add-train", "pi-m", "t-m", "Mogul", "2")
        self.assertIn("train t-m added to pi-m", out.stdout)
        edge.wait_event("config_applied", where=lambda e: e["trains"] == ["t-m"], timeout=30)
        self.assertEqual(es.train(central, "t-m")["plugin"],
                         {"name": "dc_motor_hat", "config": {"motor_port": 2}})
        self.cli(central, "add-train", "pi-m", "t-x", "X", "9", expect=2)

        # Rename and describe.
        self.cli(central, "rename-controller", uuid, "pi-main")
        self.cli(central, "describe-controller", "pi-main", "under the bridge")
        c = es.controller(central, uuid)
        self.assertEqual((c["name"], c["description"]), ("pi-main", "under the bridge"))
        self.cli(central, "describe-controller", "pi-main", "")
        self.assertIsNone(es.controller(central, uuid)["description"])

        # Disabled: the train is stopped and leaves the edge; nothing drives it.
        self.assertEqual(central.post("/api/trains/t-m/command",
                                      {"action": "setSpeed", "speed": 30}).status, 202)
        harness.wait_until(lambda: es.motor_speed(edge, "t-m") == 30, timeout=30)
        mark = len(edge.events)
        out = self.cli(central, "disable", "pi-main")
        self.assertIn("disabled", out.stdout)
        edge.wait_event("config_applied", start=mark, where=lambda e: e["trains"] == [], timeout=30)
        self.assertEqual(es.train_ids(edge), [])
        self.assertJsonError(central.post("/api/trains/t-m/command",
                                          {"action": "setSpeed", "speed": 30}),
                             409, error="controller_disabled")
        self.assertEqual(central.post("/api/trains/t-m/command", {"action": "stop"}).status, 202)
        self.assertIs(es.controller(central, uuid)["enabled"], False)
        mark = len(edge.events)
        self.cli(central, "enable", "pi-main")
        edge.wait_event("config_applied", start=mark, where=lambda e: e["trains"] == ["t-m"],
                        timeout=30)
        self.assertEqual(es.motor_speed(edge, "t-m"), 0, "enabling starts no train")

        # Delete a train: stopped, then gone from the edge.
        mark = len(edge.events)
        self.cli(central, "delete-train", "t-m")
        edge.wait_event("config_applied", start=mark, where=lambda e: e["trains"] == [], timeout=30)
        self.assertEqual(central.get("/api/trains/t-m").status, 404)

        # Delete the controller while its edge runs: it comes back (restored, no trains), and
        # says so, rather than silently.
        mark = len(edge.events)
        self.cli(central, "delete-controller", "pi-main")
        ev = edge.wait_event("controller_registered", start=mark, timeout=30)
        self.assertEqual((ev["uuid"], ev["status"]), (uuid, "restored"))
        self.assertTrue(central.find_events("deleted_controller_returned"))
        back = es.controller(central, uuid)
        self.assertIsoUtc(back["metadata"]["returned_after_delete"])
        out = self.cli(central, "controller", uuid)
        self.assertIn("came back", out.stdout)

        # Prune: a controller that has been offline long enough goes, a live one stays.
        dead = self.register(central, "pi-dead", "10.40.0.9")["uuid"]
        harness.wait_until(lambda: es.controller(central, dead)["status"] == "offline", timeout=15)
        time.sleep(1.1)
        out = self.cli(central, "prune", "4")
        self.assertIn("1 controller(s) offline for 4 or more deleted: pi-dead", out.stdout)
        self.assertEqual(central.get("/api/controllers/%s" % dead).status, 404)
        self.assertEqual(central.get("/api/controllers/%s" % uuid).status, 200)
        self.cli(central, "prune", "soon", expect=2)
        self.assertJsonError(central.post("/api/controllers/prune", {}), 422, field="offline_for")


if __name__ == "__main__":
    harness.main()
