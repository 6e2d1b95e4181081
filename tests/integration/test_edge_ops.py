#!/usr/bin/env python3
"""Operating the edge (issue 6, edge side): systemd notification, /metrics through promtool,
crash safety of the cache under kill -9, and the integration scenario under valgrind memcheck.

Real programs only: roundhouse-edge, roundhouse-central and mosquitto on loopback, kernel-picked
ports. Every wait is bounded; nothing here measures time."""
import json
import os
import shutil
import socket
import subprocess
import time
import unittest

import harness
import edge_support as es

SANITIZED = os.environ.get("ROUNDHOUSE_SANITIZED") == "1"


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET; collects what arrives."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.seen = []

    def drain(self):
        for _ in range(50):  # bounded: one call never loops for ever
            try:
                self.seen.append(self.sock.recv(4096).decode())
            except socket.timeout:
                break
        return self.seen

    def wait(self, what, timeout=30):
        """The first message containing ``what``."""
        def found():
            self.drain()
            return next((m for m in self.seen if what in m), None)
        return harness.wait_until(found, timeout=timeout, interval=0.05,
                                  message="no %r notification; got %r" % (what, self.seen))

    def count(self, what):
        return sum(1 for m in self.drain() if what in m)

    def close(self):
        self.sock.close()


class EdgeSystemdNotifyTest(harness.RoundhouseTestCase):

    def notify_socket(self):
        s = NotifySocket(os.path.join(self.tmp, "notify.sock"))
        self.addCleanup(s.close)
        return s

    def cached_edge(self, broker_port, train_id, notify):
        """An edge booting from a valid cached config (one train) with ``notify`` as its
        NOTIFY_SOCKET; no central."""
        uuid = harness.new_uuid()
        state = os.path.join(self.tmp, "state-%s" % train_id)
        es.write_state(state, uuid, es.runtime_config(uuid, broker_port, trains=[(train_id, {})]))
        return self.start_edge(None, state_dir=state, env={"NOTIFY_SOCKET": notify.path})

    def test_ready_once_subscribed_then_watchdog_and_stopping(self):
        notify = self.notify_socket()
        edge = self.cached_edge(self.broker.port, "t-sd", notify)
        ready = notify.wait("READY=1")
        # READY describes the state when it was sent: the cached config driven and its
        # command topics subscribed on the broker.
        self.assertIn("1 train(s)", ready)
        self.assertIn("broker 127.0.0.1:%d connected" % self.broker.port, ready)
        self.assertEqual(notify.count("READY=1"), 1)
        # The subscriptions were written before READY: the mqtt_connected line precedes it.
        edge.wait_event("mqtt_connected", timeout=5)
        ev = edge.wait_event("edge_ready", timeout=5)
        self.assertTrue(ev["settled"], ev)
        self.assertTrue(ev["systemd"], ev)
        # The loop keeps feeding the watchdog (more than once: not a one-off at start-up).
        notify.wait("WATCHDOG=1")
        harness.wait_until(lambda: notify.count("WATCHDOG=1") >= 2, timeout=15,
                           message="WATCHDOG=1 sent again")
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t-sd/status")
            es.command_until(mq, "t-sd", {"action": "setSpeed", "speed": 20},
                             lambda d: d["target_speed"] == 20)
        self.stop(edge)
        stopping = notify.wait("STOPPING=1", timeout=5)
        self.assertNotIn("READY=1", stopping)
        self.assertEqual(notify.count("READY=1"), 1)

    def test_ready_without_config(self):
        # No cache and no reachable central: nothing to drive, ready at once (health is up).
        notify = self.notify_socket()
        edge = self.start_edge("http://127.0.0.1:%d" % harness.free_port(), name="pi-sd-none",
                               env={"NOTIFY_SOCKET": notify.path})
        ready = notify.wait("READY=1")
        self.assertIn("no runtime config", ready)
        self.assertEqual(es.health(edge)["cache_state"], "missing")
        notify.wait("WATCHDOG=1")
        self.stop(edge)
        notify.wait("STOPPING=1", timeout=5)

    def test_status_follows_the_first_registration(self):
        # A first boot with no cache is ready at once ("waiting for the central API"); once
        # the central has answered and its config is driven, STATUS says so.
        notify = self.notify_socket()
        c = self.start_central()
        edge = self.start_edge(c, name="pi-sd-first", env={"NOTIFY_SOCKET": notify.path})
        ready = notify.wait("READY=1")
        self.assertIn("waiting for the central API", ready)
        uuid = edge.wait_event("controller_registered", timeout=20)["uuid"]
        self.add_train(c, uuid, "t-sd-first")
        later = notify.wait("STATUS=config ", timeout=30)
        self.assertNotIn("READY=1", later)
        harness.wait_until(
            lambda: any("1 train(s)" in m and "connected" in m and "not connected" not in m
                        for m in notify.drain()),
            timeout=30, message="a STATUS with the train driven and the broker connected")
        self.stop(edge)

    def test_ready_even_when_the_broker_is_unreachable(self):
        # systemd must not give up on a controller whose broker is down (it would restart
        # it again and again): READY comes anyway after the longest wait, saying why.
        notify = self.notify_socket()
        dead = harness.free_port()
        edge = self.cached_edge(dead, "t-sd-dead", notify)
        ready = notify.wait("READY=1", timeout=60)
        self.assertIn("not connected yet", ready)
        ev = edge.wait_event("edge_ready", timeout=5)
        self.assertFalse(ev["settled"], ev)
        self.assertEqual(es.train_ids(edge), ["t-sd-dead"])
        self.stop(edge)


@unittest.skipUnless(shutil.which("promtool"), "promtool (Debian package prometheus) not installed")
class EdgeMetricsFormatTest(harness.RoundhouseTestCase):

    def promtool(self, body):
        p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode() + body.decode())

    def test_metrics_pass_promtool(self):
        central = self.start_central("--registration-token", "s3cret-token", "--heartbeat-interval", "2")
        # One edge with the wrong token: registration failures by reason.
        bad = self.start_edge(central, "--registration-token", "wrong-token", name="pi-prom-bad",
                              state_dir=os.path.join(self.tmp, "state-bad"))
        bad.wait_event("registration_failed", where=lambda e: e["reason"] == "rejected")
        # One that works: registered, config downloads, commands of every kind.
        edge = self.start_edge(central, "--registration-token", "s3cret-token", name="pi-prom",
                               state_dir=os.path.join(self.tmp, "state-good"))
        uuid = edge.wait_event("controller_registered")["uuid"]
        edge.wait_event("config_applied", where=lambda e: e["source"] == "central")
        self.add_train(central, uuid, "t-prom")
        edge.wait_event("config_applied", where=lambda e: e["trains"] == ["t-prom"])
        edge.wait_event("mqtt_connected")
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t-prom/status")
            es.command_until(mq, "t-prom", {"action": "setSpeed", "speed": 30},
                             lambda d: d["target_speed"] == 30)
            es.command_until(mq, "t-prom", {"action": "stop"}, lambda d: d["target_speed"] == 0)
            es.command_until(mq, "t-prom", {"action": "emergencyStop"},
                             lambda d: d["state"] == "estopped")
            mq.publish("trains/t-prom/commands", "{not json")
            edge.wait_event("command_rejected")

        for e in (bad, edge):
            self.promtool(e.health.get("/metrics").body)

        m = es.metrics(edge)
        self.assertGreaterEqual(m["controller_registration_attempts_total"], 1)
        self.assertEqual(m["controller_registered"], 1)
        self.assertEqual(m["controller_mqtt_connected"], 1)
        self.assertGreaterEqual(m["controller_config_applies_total"], 2)
        self.assertEqual(m["controller_config_rollbacks_total"], 0)
        self.assertEqual(m["controller_config_cache_hits_total"], 0)
        self.assertEqual(m["controller_failsafe_stops_total"], 0)
        self.assertGreaterEqual(m['controller_commands_total{action="setSpeed"}'], 1)
        self.assertGreaterEqual(m['controller_commands_total{action="stop"}'], 1)
        self.assertGreaterEqual(m['controller_commands_total{action="emergencyStop"}'], 1)
        self.assertGreaterEqual(m["controller_commands_rejected_total"], 1)
        # Every config request answered is in the histogram; the counter counts those
        # started (one may be in flight while we read).
        count = m["controller_config_download_seconds_count"]
        self.assertGreaterEqual(count, 2)
        self.assertIn(m["controller_config_downloads_total"] - count, (0, 1))
        self.assertEqual(m['controller_config_download_seconds_bucket{le="+Inf"}'], count)
        self.assertLessEqual(m['controller_config_download_seconds_bucket{le="0.005"}'],
                             m['controller_config_download_seconds_bucket{le="10"}'])

        mb = es.metrics(bad)
        self.assertGreaterEqual(mb['controller_registration_failures_total{reason="rejected"}'], 1)
        self.assertEqual(mb['controller_registration_failures_total{reason="network"}'], 0)
        self.assertEqual(mb["controller_registered"], 0)

        # A boot from the cache counts as a cache hit.
        self.stop(edge)
        edge = self.start_edge(central, "--registration-token", "s3cret-token", name="pi-prom",
                               state_dir=os.path.join(self.tmp, "state-good"))
        edge.wait_event("cache_loaded")
        self.assertEqual(es.metrics(edge)["controller_config_cache_hits_total"], 1)
        self.promtool(edge.health.get("/metrics").body)


class EdgeCrashSafetyTest(harness.RoundhouseTestCase):
    """kill -9 while the edge writes its cache, at many moments: the next boot always drives
    a config the central issued (current or previous), never a torn file or a temp file."""

    ROUNDS = 20
    #: Seconds between the edge hearing of the change and the kill, cycled through: the
    #: download, apply and the writes of config.json / config.prev.json happen in there.
    DELAYS = (0.0, 0.001, 0.002, 0.003, 0.004, 0.006, 0.008, 0.012, 0.02, 0.05)

    def issued(self, central, uuid, known):
        """Records the central's current config for ``uuid`` (version -> sorted train ids),
        read with the edge's own secret."""
        r = central.get("/api/controllers/%s/config" % uuid,
                        headers=es.secret_headers(os.path.join(self.tmp, "state-crash")))
        self.assertEqual(r.status, 200, r)
        known[r.json["version"]] = sorted(t["train_id"] for t in r.json["trains"])
        return r.json["version"]

    def check_boot(self, edge, known):
        """The boot before any contact with the central: from the cache, a config the central
        issued, with its trains."""
        loaded = edge.wait_event("cache_loaded", timeout=10)
        self.assertIn(loaded["source"], ("current", "previous"), loaded)
        self.assertFalse(edge.find_events("no_cached_config"))
        applied = edge.wait_event("config_applied", timeout=10,
                                  where=lambda e: e["source"] in ("current", "previous"))
        self.assertIn(applied["version"], known, applied)
        self.assertEqual(sorted(applied["trains"]), known[applied["version"]], applied)
        return applied

    def test_kill_9_while_writing_the_cache_boots_a_valid_config(self):
        central = self.start_central("--heartbeat-interval", "2")
        state = os.path.join(self.tmp, "state-crash")
        edge = self.start_edge(central, state_dir=state, name="pi-crash")
        uuid = edge.wait_event("controller_registered")["uuid"]
        known = {}
        self.issued(central, uuid, known)
        leftovers = 0
        for i in range(self.ROUNDS):
            # In step with the central before the next change, so the change is what writes.
            latest = max(known)
            harness.wait_until(lambda: es.health(edge)["config_version"] == latest, timeout=30,
                               message="round %d: edge at version %d" % (i, latest))
            # Two changes in a row: a new train, then the one before it removed. Each is a new
            # version the edge downloads, applies and writes (config.json, config.prev.json).
            mark = len(edge.events)
            self.add_train(central, uuid, "t-crash-%d" % i)
            version = self.issued(central, uuid, known)
            if i > 0:
                r = central.delete("/api/trains/t-crash-%d" % (i - 1))
                self.assertEqual(r.status, 204, r)
                self.issued(central, uuid, known)
            edge.wait_event("config_notification", start=mark, where=lambda e: e["version"] >= version)
            time.sleep(self.DELAYS[i % len(self.DELAYS)])
            es.kill9(edge)
            edge = self.start_edge(central, state_dir=state, name="pi-crash")
            self.check_boot(edge, known)
            leftovers += sum(e["files"] for e in edge.find_events("state_leftovers_removed"))

        # The last crash, then a boot with the central down: the cache alone decides.
        latest = max(known)
        harness.wait_until(lambda: es.health(edge)["config_version"] == latest, timeout=30,
                           message="edge at version %d" % latest)
        self.add_train(central, uuid, "t-crash-last")
        latest = self.issued(central, uuid, known)
        time.sleep(0.01)
        es.kill9(edge)
        self.stop(central)
        # A temporary file as a crash could leave it, complete and newer than anything
        # cached: it must not be taken for the cache.
        ghost = es.runtime_config(uuid, self.broker.port, trains=[("t-ghost", {})], version=9999)
        with open(os.path.join(state, "config.json.tmp.999999"), "w") as f:
            json.dump(es.envelope(ghost), f)
        edge = self.start_edge("http://127.0.0.1:%d" % harness.free_port(), state_dir=state,
                               name="pi-crash")
        applied = self.check_boot(edge, known)
        self.assertNotEqual(applied["version"], 9999)
        self.assertNotIn("t-ghost", applied["trains"])
        removed = edge.wait_event("state_leftovers_removed", timeout=5)
        self.assertGreaterEqual(removed["files"], 1)
        self.assertFalse([n for n in os.listdir(state) if ".tmp." in n], os.listdir(state))
        # For the record (how often a kill hit a write; not asserted, it depends on timing).
        print("kills that left a temporary file behind: %d of %d" % (leftovers, self.ROUNDS), end=" ")
        edge.wait_event("mqtt_connected")
        if applied["version"] < latest:
            # The kill came before the newest config was written, and the retained
            # notification tells the edge so: it holds the outdated trains (they may have been
            # moved to another controller meanwhile) until it can download the current config.
            held = edge.wait_event("trains_held", timeout=10)
            self.assertEqual((held["current"], held["running"]), (latest, applied["version"]))
            harness.wait_until(lambda: es.train_ids(edge) == [], timeout=30,
                               message="held trains still listed")
            self.assertEqual(es.health(edge)["cache_state"], "superseded")
            return
        # The newest config was written: the edge drives it.
        h = es.health(edge)
        self.assertIn(h["cache_state"], ("valid", "previous"), h)
        self.assertEqual(h["config_version"], applied["version"], h)
        trains = sorted(t["train_id"] for t in h["trains"])
        self.assertTrue(trains, h)
        self.assertEqual(trains, known[h["config_version"]], h)
        self.assertFalse(h["registered"], h)
        self.assertFalse(edge.find_events("trains_held"))
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/%s/status" % trains[0])
            es.command_until(mq, trains[0], {"action": "setSpeed", "speed": 15},
                             lambda d: d["target_speed"] == 15)


@unittest.skipIf(SANITIZED, "valgrind does not run sanitizer builds")
@unittest.skipUnless(shutil.which("valgrind"), "valgrind not installed")
class EdgeValgrindTest(harness.RoundhouseTestCase):

    def test_integration_scenario_is_clean_under_memcheck(self):
        log = os.path.join(self.tmp, "valgrind-edge.log")
        central = self.start_central("--heartbeat-interval", "2")
        edge = es.start_edge_under(
            self, ["valgrind", "--tool=memcheck", "--leak-check=full",
                   "--show-leak-kinds=definite,indirect", "--errors-for-leak-kinds=definite,indirect",
                   "--error-exitcode=99", "--log-file=" + log],
            central, name="pi-vg", state_dir=os.path.join(self.tmp, "state-vg"))
        uuid = edge.wait_event("controller_registered", timeout=120)["uuid"]
        edge.wait_event("config_applied", timeout=120, where=lambda e: e["source"] == "central")
        self.add_train(central, uuid, "t-vg")
        edge.wait_event("config_applied", timeout=120, where=lambda e: e["trains"] == ["t-vg"])
        edge.wait_event("mqtt_connected", timeout=120)
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t-vg/status")
            es.command_until(mq, "t-vg", {"action": "setSpeed", "speed": 40},
                             lambda d: d["target_speed"] == 40, each=15)
            es.command_until(mq, "t-vg", {"command": "stop"}, lambda d: d["target_speed"] == 0, each=15)
            es.command_until(mq, "t-vg", {"action": "emergencyStop"},
                             lambda d: d["state"] == "estopped", each=15)
            es.command_until(mq, "t-vg", {"speed": 10}, lambda d: d["target_speed"] == 10, each=15)
            mq.publish("trains/t-vg/commands", "{broken")
            edge.wait_event("command_rejected", timeout=60)
            # A config change: the train's driver changes (inverted wiring), applied live.
            mark = len(edge.events)
            r = central.put("/api/trains/t-vg", {"invert_directions": True})
            self.assertEqual(r.status, 200, r)
            edge.wait_event("config_applied", timeout=120, start=mark,
                            where=lambda e: e["source"] == "central")
            self.assertEqual(central.post("/api/emergency-stop", {"reason": "valgrind"}).status, 202)
            edge.wait_event("emergency_stop", timeout=60)
        self.assertEqual(edge.health.get("/health").status, 200)
        self.assertEqual(edge.health.get("/metrics").status, 200)
        self.assertEqual(edge.health.get("/nope").status, 404)
        problems = edge.stop(timeout=120)
        with open(log) as f:
            report = f.read()
        self.assertEqual(problems, [], report[-4000:])
        self.assertIn("ERROR SUMMARY: 0 errors", report, report[-4000:])
        edge.wait_event("edge_stopped", timeout=5)


if __name__ == "__main__":
    harness.main()
