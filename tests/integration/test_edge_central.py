"""roundhouse-edge with the central API: UUID-first registration in the background, the
central coming back after being down, container rebuilds, database resets while running,
train self-registration (and its conflict), and config update notifications."""

import os

import harness
import edge_support as es


def controllers(central):
    r = central.get("/api/controllers")
    assert r.status == 200, r
    return r.json


class EdgeCentralTest(harness.RoundhouseTestCase):

    def test_central_back_after_down_registers_cached_uuid(self):
        uuid = harness.new_uuid()
        port = harness.free_port()
        cfg = es.runtime_config(uuid, self.broker.port, [("t1", {})], version=3)
        state = os.path.join(self.tmp, "state")
        es.write_state(state, uuid, cfg)
        edge = self.start_edge("http://127.0.0.1:%d" % port, state_dir=state, name="pi-back")
        # Driving from the cache does not wait for the central.
        edge.wait_event("mqtt_connected")
        edge.wait_event("registration_failed")
        central = es.start_central_at(self, port)
        ev = edge.wait_event("controller_registered", timeout=90)
        self.assertEqual(ev["uuid"], uuid)
        self.assertEqual(ev["status"], "restored")
        ctl = central.get("/api/controllers/%s" % uuid)
        self.assertEqual(ctl.status, 200, ctl)
        self.assertEqual(ctl.json["name"], "pi-back")
        self.assertEqual(len(controllers(central)), 1)
        # The central's config replaces the cached one (no trains assigned there yet).
        applied = edge.wait_event("config_applied", where=lambda e: e["source"] == "central")
        self.assertEqual(applied["trains"], [])
        self.assertEqual(es.health(edge)["cache_state"], "downloaded")

    def test_container_rebuild_keeps_uuid(self):
        central = self.start_central()
        state = os.path.join(self.tmp, "volume")
        first = self.start_edge(central, state_dir=state, name="container-aaaa")
        uuid = first.wait_event("controller_registered")["uuid"]
        first.wait_event("config_applied")
        self.stop(first)
        second = self.start_edge(central, state_dir=state, name="container-bbbb")
        ev = second.wait_event("controller_registered")
        self.assertEqual(ev["uuid"], uuid)
        self.assertEqual(ev["status"], "reactivated")
        self.assertEqual(es.read_identity(state), uuid)
        listed = controllers(central)
        self.assertEqual([c["id"] for c in listed], [uuid])
        self.assertEqual(listed[0]["name"], "container-bbbb")

    def test_database_reset_while_running_reregisters_same_uuid(self):
        port = harness.free_port()
        db1 = os.path.join(self.tmp, "before.db")
        central = es.start_central_at(self, port, db1, "--heartbeat-interval", "1")
        edge = self.start_edge(central, name="pi-reset")
        uuid = edge.wait_event("controller_registered")["uuid"]
        edge.wait_event("config_applied")
        self.stop(central)
        # A fresh, empty database behind the same address.
        central2 = es.start_central_at(self, port, os.path.join(self.tmp, "after.db"),
                                       "--heartbeat-interval", "1")
        edge.wait_event("heartbeat_unknown_controller", timeout=60)
        ev = edge.wait_event("controller_registered", timeout=60,
                             where=lambda e: e["status"] == "restored")
        self.assertEqual(ev["uuid"], uuid)
        self.assertEqual([c["id"] for c in controllers(central2)], [uuid])
        harness.wait_until(lambda: es.health(edge)["registered"], timeout=20)

    def test_train_self_registration_and_command(self):
        central = self.start_central()
        sim = os.path.join(self.tmp, "sim.json")
        edge = self.start_edge(central, name="pi-train",
                               env={"TRAIN_ID": "t-self", "TRAIN_NAME": "Self", "MOTOR_PORT": "2"})
        uuid = edge.wait_event("controller_registered")["uuid"]
        edge.wait_event("train_registered")
        applied = edge.wait_event("config_applied", where=lambda e: e["trains"] == ["t-self"])
        self.assertGreaterEqual(applied["version"], 1)
        train = central.get("/api/trains/t-self").json
        self.assertEqual(train["controller_id"], uuid)
        self.assertEqual(train["plugin"]["name"], "dc_motor_hat")
        self.assertEqual(train["plugin"]["config"], {"motor_port": 2})
        edge.wait_event("mqtt_connected")
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t-self/status")

            def via_central(topic, payload):
                r = central.post("/api/trains/t-self/command", payload)
                self.assertEqual(r.status, 202, r)
            es.command_until(mq, "t-self", {"action": "setSpeed", "speed": 15},
                             lambda d: d["speed"] == 15, publish=via_central)
        th = es.train_health(edge, "t-self")
        self.assertEqual(th["plugin"], "dc_motor_hat")
        self.assertEqual(th["motor"]["plugin"], "simulator")  # --simulate
        # Restart: registering the same train again is idempotent (no conflict).
        self.stop(edge)
        again = self.start_edge(central, name="pi-train",
                                env={"TRAIN_ID": "t-self", "TRAIN_NAME": "Self", "MOTOR_PORT": "2"})
        again.wait_event("train_registered")
        self.assertFalse(again.find_events("train_assignment_conflict"))
        del sim

    def test_train_assignment_conflict_is_logged(self):
        central = self.start_central()
        other = self.register(central, "pi-other")["uuid"]
        self.add_train(central, other, "t-taken")
        edge = self.start_edge(central, name="pi-late",
                               env={"TRAIN_ID": "t-taken", "MOTOR_PORT": "1"})
        ev = edge.wait_event("train_assignment_conflict")
        self.assertEqual(ev["owner"], other)
        self.assertEqual(ev["train_id"], "t-taken")
        # It runs what the central assigns: nothing.
        applied = edge.wait_event("config_applied")
        self.assertEqual(applied["trains"], [])
        harness.wait_until(lambda: es.health(edge)["reason"] == "waiting for assignment",
                           timeout=20, message="healthy, waiting for assignment")

    def test_assignment_arrives_by_notification(self):
        central = self.start_central()
        edge = self.start_edge(central, name="pi-wait")
        uuid = edge.wait_event("controller_registered")["uuid"]
        edge.wait_event("config_applied")
        edge.wait_event("mqtt_connected")
        self.add_train(central, uuid, "t-new")
        ev = edge.wait_event("config_applied", timeout=30,
                             where=lambda e: e["trains"] == ["t-new"])
        self.assertTrue(edge.find_events("config_notification"))
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t-new/status")
            es.command_until(mq, "t-new", {"action": "start", "speed": 12},
                             lambda d: d["speed"] == 12)
        harness.wait_until(
            lambda: central.get("/api/controllers/%s" % uuid).json["applied_config_version"]
            == ev["version"], timeout=30, message="applied version reported by heartbeat")

    def test_rate_limited_registration_honours_retry_after(self):
        central = self.start_central("--register-rate", "1")
        self.register(central, "someone-else")  # uses up this address's budget
        r = central.post("/api/controllers/register", {"name": "probe", "address": "127.0.0.1"})
        self.assertEqual(r.status, 429, r)
        retry_after = int(r.header("Retry-After"))
        edge = self.start_edge(central, name="pi-limited")
        ev = edge.wait_event("registration_failed")
        self.assertEqual(ev["reason"], "rate_limited")
        self.assertEqual(ev["http_status"], 429)
        # Never sooner than the server asked (minus the time already spent waiting).
        self.assertGreaterEqual(ev["retry_in_ms"], (retry_after - 2) * 1000)
        m = edge.health.get("/metrics").body.decode()
        self.assertIn('controller_registration_failures_total{reason="rate_limited"} 1', m)


if __name__ == "__main__":
    harness.main()
