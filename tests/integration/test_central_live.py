#!/usr/bin/env python3
"""The central's live side without edges: the event stream, long-poll config downloads,
presence from MQTT birth/will with session epochs, and the safe-handover rule. Edges are
played by this test over HTTP and MQTT."""
import http.client
import json
import threading
import time
import unittest

import harness


class EventStream:
    """Reads /api/events in a thread and collects (id, event, data) tuples."""

    def __init__(self, central, last_event_id=None):
        self.events = []
        self.lock = threading.Lock()
        self.conn = http.client.HTTPConnection("127.0.0.1", central.port, timeout=30)
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", "/api/events", headers=headers)
        self.resp = self.conn.getresponse()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        ev = {}
        try:
            while True:
                line = self.resp.fp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line == "":
                    if "data" in ev:
                        with self.lock:
                            self.events.append((int(ev.get("id", 0)), ev.get("event"), json.loads(ev["data"])))
                    ev = {}
                elif not line.startswith(":") and ":" in line:
                    k, v = line.split(":", 1)
                    ev[k] = v[1:] if v.startswith(" ") else v
        except (OSError, ValueError):
            return

    def wait(self, kind, where, timeout=15):
        def found():
            with self.lock:
                for e in self.events:
                    if e[1] == kind and where(e[2]):
                        return e
            return None
        return harness.wait_until(found, timeout=timeout, interval=0.05,
                                  message="no %s event matched" % kind)

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


class EventStreamTest(harness.RoundhouseTestCase):

    def test_changes_appear_on_the_stream(self):
        c = self.start_central()
        stream = EventStream(c)
        self.addCleanup(stream.close)
        self.assertEqual(stream.resp.status, 200)
        self.assertTrue(stream.resp.getheader("Content-Type").startswith("text/event-stream"))
        u = self.register(c, "pi-ev", "10.9.0.1")["uuid"]
        stream.wait("controller", lambda d: d.get("id") == u and d.get("status") == "online")
        self.add_train(c, u, "t-ev")
        stream.wait("train", lambda d: d.get("id") == "t-ev" and d.get("controller_id") == u)
        r = c.put("/api/trains/t-ev", {"name": "Renamed"})
        self.assertEqual(r.status, 200, r)
        stream.wait("train", lambda d: d.get("id") == "t-ev" and d.get("name") == "Renamed")
        with harness.MqttClient(self.broker.port) as mq:
            harness.wait_until(lambda: self.get_json(c, "/health").get("mqtt_connected") is True,
                               timeout=20, interval=0.1)
            mq.publish("trains/t-ev/status", {"train_id": "t-ev", "speed": 33, "direction": "FORWARD",
                                              "state": "running", "controller_id": u})
        stream.wait("status", lambda d: d.get("train_id") == "t-ev" and d.get("speed") == 33)
        self.assertEqual(c.delete("/api/trains/t-ev").status, 204)
        stream.wait("train", lambda d: d.get("id") == "t-ev" and d.get("deleted") is True)

    def test_last_event_id_replays_missed_events(self):
        c = self.start_central()
        first = EventStream(c)
        self.addCleanup(first.close)
        u = self.register(c, "pi-replay", "10.9.0.2")["uuid"]
        eid, _, _ = first.wait("controller", lambda d: d.get("id") == u)
        self.add_train(c, u, "t-replay")
        first.wait("train", lambda d: d.get("id") == "t-replay")
        # A client that saw only the first event gets the rest on reconnect.
        again = EventStream(c, last_event_id=eid)
        self.addCleanup(again.close)
        again.wait("train", lambda d: d.get("id") == "t-replay")


class LongPollTest(harness.RoundhouseTestCase):

    def test_parked_request_answers_when_the_version_rises(self):
        c = self.start_central()
        u = self.register(c, "pi-lp", "10.9.1.1")["uuid"]
        version = self.get_json(c, "/api/controllers/%s" % u)["config_version"]
        result = {}

        def poll():
            result["resp"] = c.get("/api/controllers/%s/config?wait=30&version=%d" % (u, version))

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)  # let it park; the test does not depend on this for correctness
        self.assertTrue(t.is_alive(), "the request should still be parked")
        self.add_train(c, u, "t-lp")
        t.join(timeout=20)
        self.assertFalse(t.is_alive(), "the parked request was never answered")
        r = result["resp"]
        self.assertEqual(r.status, 200, r)
        self.assertGreater(r.json["version"], version)
        self.assertEqual(r.json["train_id"], "t-lp")

    def test_times_out_with_304_and_rejects_bad_parameters(self):
        c = self.start_central()
        u = self.register(c, "pi-lp2", "10.9.1.2")["uuid"]
        version = self.get_json(c, "/api/controllers/%s" % u)["config_version"]
        r = c.get("/api/controllers/%s/config?wait=1&version=%d" % (u, version))
        self.assertEqual(r.status, 304, r)
        # Already newer than what the controller has: answered at once.
        r = c.get("/api/controllers/%s/config?wait=30&version=%d" % (u, version - 1))
        self.assertEqual(r.status, 200, r)
        for q, field in (("wait=56&version=1", "wait"), ("wait=x&version=1", "wait"),
                         ("wait=5", "version"), ("wait=5&version=-1", "version")):
            with self.subTest(query=q):
                self.assertJsonError(c.get("/api/controllers/%s/config?%s" % (u, q)), 422, field=field)


@unittest.skipUnless(harness.HAVE_PAHO, "python3-paho-mqtt not installed")
class PresenceTest(harness.RoundhouseTestCase):

    def test_will_of_current_session_takes_controller_offline(self):
        c = self.start_central()
        harness.wait_until(lambda: self.get_json(c, "/health").get("mqtt_connected") is True,
                           timeout=20, interval=0.1)
        ans = self.register(c, "pi-will", "10.9.2.1")
        u, epoch = ans["uuid"], ans["session_epoch"]
        self.assertEqual(self.get_json(c, "/api/controllers/%s" % u)["status"], "online")
        with harness.MqttClient(self.broker.port) as mq:
            # A will from an older session is ignored.
            mq.publish("controllers/%s/presence" % u, {"state": "offline", "session_epoch": epoch - 1,
                                                      "version": "x", "timestamp": "2026-11-27T10:00:00Z"})
            mq.publish("controllers/%s/presence" % u, {"state": "online", "session_epoch": epoch,
                                                      "version": "x", "timestamp": "2026-11-27T10:00:00Z"})
            time.sleep(0.5)
            self.assertEqual(self.get_json(c, "/api/controllers/%s" % u)["status"], "online")
            mq.publish("controllers/%s/presence" % u, {"state": "offline", "session_epoch": epoch,
                                                      "version": "x", "timestamp": "2026-11-27T10:00:00Z"})
            harness.wait_until(lambda: self.get_json(c, "/api/controllers/%s" % u)["status"] == "offline",
                               timeout=10, interval=0.05, message="the will did not take it offline")
        # A new session (restart) is online again; the old will no longer applies.
        ans = self.register(c, "pi-will", "10.9.2.1", uuid=u)
        self.assertGreater(ans["session_epoch"], epoch)
        self.assertEqual(self.get_json(c, "/api/controllers/%s" % u)["status"], "online")

    def test_presence_never_moves_the_epoch(self):
        """One forged publish with a huge epoch used to take a healthy controller offline and
        make its heartbeats look like an old session's until the edge restarted. Only a
        registration over HTTP moves the epoch now."""
        c = self.start_central()
        harness.wait_until(lambda: self.get_json(c, "/health").get("mqtt_connected") is True,
                           timeout=20, interval=0.1)
        ans = self.register(c, "pi-epoch", "10.9.2.3")
        u, old = ans["uuid"], ans["session_epoch"]
        with harness.MqttClient(self.broker.port) as mq:
            for state in ("offline", "online"):
                mq.publish("controllers/%s/presence" % u,
                           {"state": state, "session_epoch": 10 ** 15, "version": "x",
                            "timestamp": "2026-11-27T10:00:00Z"})
            time.sleep(0.5)
        doc = self.get_json(c, "/api/controllers/%s" % u)
        self.assertEqual((doc["status"], doc["session_epoch"]), ("online", old), doc)
        r = c.post("/api/controllers/%s/heartbeat" % u, {"session_epoch": old})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "ok", r)
        # Registering with the epoch it announced keeps it (not below, not skipped past).
        again = self.register(c, "pi-epoch", "10.9.2.3", uuid=u, session_epoch=old + 5)
        self.assertEqual(again["session_epoch"], old + 5)
        again = self.register(c, "pi-epoch", "10.9.2.3", uuid=u, session_epoch=1)
        self.assertEqual(again["session_epoch"], old + 6)
        # The old session's will no longer applies; the new session's does.
        with harness.MqttClient(self.broker.port) as mq:
            mq.publish("controllers/%s/presence" % u, {"state": "offline", "session_epoch": old + 5,
                                                      "version": "x", "timestamp": "2026-11-27T10:00:00Z"})
            time.sleep(0.5)
            self.assertEqual(self.get_json(c, "/api/controllers/%s" % u)["status"], "online")
            mq.publish("controllers/%s/presence" % u, {"state": "offline", "session_epoch": old + 6,
                                                      "version": "x", "timestamp": "2026-11-27T10:00:00Z"})
            harness.wait_until(lambda: self.get_json(c, "/api/controllers/%s" % u)["status"] == "offline",
                               timeout=10, interval=0.05, message="the will did not take it offline")

    def test_presence_transitions_are_counted(self):
        # Thresholds above the sweeper's one-second period, so that "online" is observed.
        c = self.start_central("--stale-after", "3", "--offline-after", "5")
        self.register(c, "pi-count", "10.9.2.2")
        harness.wait_until(lambda: 'roundhouse_presence_transitions_total{from="online",to="stale"} 1'
                           in c.get("/metrics").body.decode(), timeout=15, interval=0.2)
        harness.wait_until(lambda: 'roundhouse_presence_transitions_total{from="stale",to="offline"} 1'
                           in c.get("/metrics").body.decode(), timeout=15, interval=0.2)
        self.assertIn("roundhouse_heartbeat_missed_total 1", c.get("/metrics").body.decode())


class HandoverTest(harness.RoundhouseTestCase):

    def heartbeat(self, c, u, epoch, trains):
        r = c.post("/api/controllers/%s/heartbeat" % u, {"session_epoch": epoch, "trains": trains})
        self.assertEqual(r.status, 200, r)
        return r.json

    def config_trains(self, c, u):
        return [t["train_id"] for t in self.get_json(c, "/api/controllers/%s/config" % u)["trains"]]

    def test_new_owner_gets_the_train_only_after_release(self):
        c = self.start_central()
        a = self.register(c, "pi-a", "10.9.3.1")
        b = self.register(c, "pi-b", "10.9.3.2")
        self.add_train(c, a["uuid"], "t-move")
        self.heartbeat(c, a["uuid"], a["session_epoch"], [{"train_id": "t-move", "speed": 20, "direction": "FORWARD"}])
        t = self.get_json(c, "/api/trains/t-move")
        self.assertEqual((t["actual_controller_id"], t["reassignment_status"]), (a["uuid"], "complete"))

        b_version = self.get_json(c, "/api/controllers/%s" % b["uuid"])["config_version"]
        r = c.put("/api/trains/t-move", {"controller_id": b["uuid"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["reassignment_status"], "pending")
        # A still runs it: B must not drive it yet; A's config no longer has it.
        self.assertEqual(self.config_trains(c, b["uuid"]), [])
        self.assertEqual(self.config_trains(c, a["uuid"]), [])
        # A releases it (reports without it): B's version rises and its config has the train.
        self.heartbeat(c, a["uuid"], a["session_epoch"], [])
        self.assertEqual(self.get_json(c, "/api/trains/t-move")["reassignment_status"], "in_progress")
        self.assertGreater(self.get_json(c, "/api/controllers/%s" % b["uuid"])["config_version"], b_version)
        self.assertEqual(self.config_trains(c, b["uuid"]), ["t-move"])
        self.heartbeat(c, b["uuid"], b["session_epoch"], [{"train_id": "t-move", "speed": 0, "direction": "FORWARD"}])
        t = self.get_json(c, "/api/trains/t-move")
        self.assertEqual((t["actual_controller_id"], t["reassignment_status"]), (b["uuid"], "complete"))

    def test_train_of_a_dead_controller_goes_to_the_new_owner(self):
        c = self.start_central("--stale-after", "1", "--offline-after", "2")
        a = self.register(c, "pi-dead", "10.9.3.3")
        b = self.register(c, "pi-alive", "10.9.3.4")
        self.add_train(c, a["uuid"], "t-rescue")
        self.heartbeat(c, a["uuid"], a["session_epoch"], [{"train_id": "t-rescue", "speed": 0, "direction": "FORWARD"}])
        self.assertEqual(c.put("/api/trains/t-rescue", {"controller_id": b["uuid"]}).status, 200)
        self.assertEqual(self.config_trains(c, b["uuid"]), [])
        # A never reports again: once it is offline, B may take the train.
        harness.wait_until(lambda: self.config_trains(c, b["uuid"]) == ["t-rescue"], timeout=15, interval=0.2,
                           message="the train never reached the new owner")

    def test_two_live_claims_are_a_conflict(self):
        c = self.start_central()
        a = self.register(c, "pi-c1", "10.9.3.5")
        b = self.register(c, "pi-c2", "10.9.3.6")
        self.add_train(c, a["uuid"], "t-both")
        self.heartbeat(c, a["uuid"], a["session_epoch"], [{"train_id": "t-both", "speed": 0, "direction": "FORWARD"}])
        self.heartbeat(c, b["uuid"], b["session_epoch"], [{"train_id": "t-both", "speed": 0, "direction": "FORWARD"}])
        self.assertEqual(self.get_json(c, "/api/trains/t-both")["reassignment_status"], "conflict")


class HeartbeatErrorsTest(harness.RoundhouseTestCase):

    def test_reported_errors_are_shown_and_cleared(self):
        c = self.start_central()
        a = self.register(c, "pi-err", "10.9.5.1")
        u = a["uuid"]
        r = c.post("/api/controllers/%s/heartbeat" % u, {"errors": ["config 7: unknown plugin 'warp'"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get_json(c, "/api/controllers/%s" % u)["metadata"].get("errors"),
                         ["config 7: unknown plugin 'warp'"])
        self.assertEqual(c.post("/api/controllers/%s/heartbeat" % u, {"errors": []}).status, 200)
        self.assertNotIn("errors", self.get_json(c, "/api/controllers/%s" % u)["metadata"])
        self.assertRejectedUnchanged(c, lambda: c.post("/api/controllers/%s/heartbeat" % u, {"errors": "x"}),
                                     422, field="errors")


class ReviewRegressionTest(harness.RoundhouseTestCase):
    """Requests that once crashed the central or changed it wrongly."""

    def test_put_plugin_without_name_keeps_the_plugin(self):
        c = self.start_central()
        u = self.register(c, "pi-pl", "10.9.4.1")["uuid"]
        self.add_train(c, u, "t-pl")
        r = c.put("/api/trains/t-pl", {"plugin": {"config": {"motor_port": 3}}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["plugin"], {"name": "simulator", "config": {"motor_port": 3}})

    def test_import_train_without_plugin(self):
        c = self.start_central()
        u = harness.new_uuid()
        doc = {"controllers": [{"id": u, "name": "pi-imp"}],
               "trains": [{"id": "t-imp", "name": "Imported", "controller_id": u}]}
        r = c.post("/api/import", doc)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get_json(c, "/api/trains/t-imp")["plugin"]["name"], "dc_motor")

    def test_restart_does_not_raise_the_config_version(self):
        c = self.start_central()
        ans = self.register(c, "pi-restart", "10.9.4.2")
        again = self.register(c, "pi-restart", "10.9.4.2", uuid=ans["uuid"],
                              applied_config_version=ans["config_version"])
        self.assertEqual(again["config_version"], ans["config_version"])
        # Registering without an address keeps the known one.
        c2 = c.post("/api/controllers/register", {"name": "pi-restart", "uuid": ans["uuid"]})
        self.assertEqual(c2.status, 200, c2)
        self.assertEqual(self.get_json(c, "/api/controllers/%s" % ans["uuid"])["address"], "10.9.4.2")


if __name__ == "__main__":
    harness.main()
