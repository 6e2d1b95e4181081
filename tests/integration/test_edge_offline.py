"""roundhouse-edge without a central API: boot from the verified cache, drive trains over
MQTT, fall back on corrupt caches, emergency stop, SIGTERM and the broker fail-safe.
Everything runs on loopback with kernel-picked ports; no central is started (its URL points
at a free port where nothing listens)."""

import datetime
import json
import os
import signal
import subprocess
import time

import harness
import edge_support as es


class EdgeOfflineTest(harness.RoundhouseTestCase):

    def nowhere(self):
        """A central URL where nothing listens."""
        return "http://127.0.0.1:%d" % harness.free_port()

    def cached_edge(self, train_id="t1", *flags, config_kw=None, **kw):
        """An edge booted from a valid cache with one simulated train (state file in tmp)."""
        uuid = harness.new_uuid()
        sim = os.path.join(self.tmp, "sim-%s.json" % train_id)
        cfg = es.runtime_config(uuid, self.broker.port, [(train_id, {"state_file": sim})],
                                **(config_kw or {}))
        state = os.path.join(self.tmp, "state-%s" % train_id)
        es.write_state(state, uuid, cfg)
        edge = self.start_edge(self.nowhere(), *flags, state_dir=state, **kw)
        edge.wait_event("mqtt_connected")
        return edge, uuid, sim

    def test_cached_config_drives_without_central(self):
        edge, uuid, sim = self.cached_edge("t1")
        ev = edge.find_events("config_applied")[0]
        self.assertEqual(ev["source"], "current")
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t1/status")
            mq.subscribe("controllers/%s/presence" % uuid)
            mq.wait_message("controllers/%s/presence" % uuid, lambda d: d["state"] == "online")
            # The real mosquitto_pub client, as an operator's script would send it.
            st, retained = es.command_until(
                mq, "t1", {"action": "setSpeed", "speed": 30},
                lambda d: d["speed"] == 30 and d["state"] == "running",
                publish=lambda topic, payload: es.mosquitto_pub(self.broker.port, topic, payload))
        self.assertEqual(st["controller_id"], uuid)
        self.assertEqual(st["direction"], "FORWARD")
        self.assertEqual(st["target_speed"], 30)
        self.assertIsoUtc(st["timestamp"])
        self.assertEqual(es.read_sim(sim)["speed"], 30)
        h = es.health(edge)
        self.assertEqual(h["controller_uuid"], uuid)
        self.assertTrue(h["mqtt_connected"])
        self.assertEqual(h["cache_state"], "valid")
        self.assertEqual(h["config_version"], 1)
        self.assertEqual(h["status"], "degraded")  # driving, but the central is unreachable
        self.assertEqual(h["trains"][0]["speed"], 30)
        self.assertEqual(h["last_command"]["action"], "setSpeed")
        self.assertTrue(edge.find_events("registration_failed"))
        metrics = edge.health.get("/metrics").body.decode()
        self.assertIn("controller_config_cache_hits_total 1", metrics)
        self.assertRegex(metrics, r'controller_commands_total\{action="setSpeed"\} [1-9]')

    def test_bad_commands_rejected_whole(self):
        edge, uuid, sim = self.cached_edge("t2")
        for bad in ['{"action":"fly"}', "not json", '{"action":"setSpeed","speed":500}',
                    '{"action":"setSpeed","speed":40,"direction":"SIDEWAYS"}', "[]"]:
            es.mosquitto_pub(self.broker.port, "trains/t2/commands", bad)
        harness.wait_until(lambda: len(edge.find_events("command_rejected")) >= 5, timeout=15,
                           message="five command_rejected events")
        self.assertEqual(es.read_sim(sim)["speed"], 0)
        self.assertEqual(es.train_health(edge, "t2")["target_speed"], 0)
        # The legacy forms still work.
        es.mosquitto_pub(self.broker.port, "trains/t2/commands", {"speed": 10})
        harness.wait_until(lambda: es.read_sim(sim)["speed"] == 10, timeout=20)

    def corrupt_variants(self, good_env_text, cfg):
        """(name, file content bytes, expect) for every documented corruption."""
        data = good_env_text.encode()
        mid = len(data) // 2
        flipped = bytearray(data)
        flipped[mid] ^= 0x01
        wrong = json.loads(good_env_text)
        wrong["checksum"] = "sha256:" + "0" * 64
        old = es.envelope(cfg, es.iso_utc(datetime.datetime.now(datetime.timezone.utc)
                                           - datetime.timedelta(days=30)))
        return [
            ("truncated", data[:mid], "invalid"),
            ("flipped_byte", bytes(flipped), "invalid"),
            ("wrong_checksum", json.dumps(wrong).encode(), "invalid"),
            ("older_than_max_age", json.dumps(old).encode(), "stale"),
            ("not_json", b"this is not json\n", "invalid"),
            ("empty_file", b"", "invalid"),
        ]

    def test_corrupt_caches_fall_back(self):
        uuid = harness.new_uuid()
        cfg = es.runtime_config(uuid, self.broker.port, [("tc", {})], version=7)
        prev = es.runtime_config(uuid, self.broker.port, [("tp", {})], version=6)
        good = json.dumps(es.envelope(cfg))
        for name, content, expect in self.corrupt_variants(good, cfg):
            for with_previous in (True, False):
                with self.subTest(case=name, previous=with_previous):
                    state = os.path.join(self.tmp, "state-%s-%d" % (name, with_previous))
                    es.write_state(state, uuid, None, prev if with_previous else None)
                    with open(os.path.join(state, "config.json"), "wb") as f:
                        f.write(content)
                    edge = self.start_edge(self.nowhere(), "--cache-max-age", "604800",
                                           state_dir=state)
                    h = es.health(edge)
                    # The identity is kept whatever happened to the configs.
                    self.assertEqual(h["controller_uuid"], uuid)
                    if with_previous and expect == "invalid":
                        # Documented fallback: the previous (last known good) config.
                        ev = edge.wait_event("config_applied")
                        self.assertEqual(ev["source"], "previous")
                        self.assertEqual(ev["version"], 6)
                        self.assertEqual(h["cache_state"], "previous")
                        self.assertEqual([t["train_id"] for t in h["trains"]], ["tp"])
                        self.assertTrue(edge.find_events("cache_invalid"))
                    elif expect == "stale" and not with_previous:
                        # Intact but too old: held, trains not driven, degraded with a reason.
                        edge.wait_event("trains_not_driven")
                        self.assertEqual(h["cache_state"], "stale")
                        self.assertEqual(h["trains"], [])
                        self.assertEqual(h["status"], "degraded")
                        self.assertIn("too old", h["reason"])
                    elif expect == "stale":
                        # A valid previous beats a stale current.
                        ev = edge.wait_event("config_applied")
                        self.assertEqual(ev["source"], "previous")
                    else:
                        # Nothing usable: no config, waiting for the central, never a crash.
                        edge.wait_event("no_cached_config")
                        self.assertEqual(h["cache_state"], "invalid")
                        self.assertIsNone(h["config_version"])
                        self.assertEqual(h["status"], "degraded")
                        self.assertFalse(edge.find_events("config_applied"))
                    self.assertTrue(edge.alive)
                    self.stop(edge)
                    self.assertEqual(es.read_identity(state), uuid)

    def test_emergency_stop_mid_ramp(self):
        edge, uuid, sim = self.cached_edge("te")
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/te/status")
            es.command_until(mq, "te", {"action": "setSpeed", "speed": 100},
                             lambda d: 0 < d["speed"] < 100)
            t_cmd = time.monotonic()
            mq.publish("trains/te/commands", {"action": "emergencyStop"})
            st, _ = mq.wait_message("trains/te/status",
                                    lambda d: d["state"] == "estopped", timeout=20)
            self.assertEqual(st["speed"], 0)
            self.assertEqual(es.read_sim(sim)["speed"], 0)
            # Past the end of the 3 s ramp: still 0 (no ramp step re-energised the motor).
            time.sleep(max(0.0, 3.5 - (time.monotonic() - t_cmd)))
            self.assertEqual(es.read_sim(sim)["speed"], 0)
            th = es.train_health(edge, "te")
            self.assertEqual(th["speed"], 0)
            self.assertEqual(th["state"], "estopped")
            later = [json.loads(p) for t, p, _r, _q in mq.messages if t == "trains/te/status"]
            idx = max(i for i, d in enumerate(later) if d["state"] == "estopped")
            self.assertTrue(all(d["speed"] == 0 for d in later[idx:]), later[idx:])

    def test_broadcast_emergency_stop(self):
        edge, uuid, sim = self.cached_edge("tb")
        es.mosquitto_pub(self.broker.port, "trains/tb/commands", {"action": "setSpeed", "speed": 20})
        harness.wait_until(lambda: es.read_sim(sim)["speed"] > 0, timeout=20)
        es.mosquitto_pub(self.broker.port, "roundhouse/emergency-stop",
                         {"reason": "test", "timestamp": es.iso_utc()})
        edge.wait_event("emergency_stop")
        self.assertEqual(es.read_sim(sim)["speed"], 0)

    def test_sigterm_while_moving_stops_and_publishes(self):
        edge, uuid, sim = self.cached_edge("ts")
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/ts/status")
            es.command_until(mq, "ts", {"action": "setSpeed", "speed": 60},
                             lambda d: d["speed"] > 0)
            self.stop(edge)  # SIGTERM; asserts exit status 0
            last = [json.loads(p) for t, p, _r, _q in mq.messages if t == "trains/ts/status"]
            harness.wait_until(lambda: json.loads(
                [p for t, p, _r, _q in mq.messages if t == "trains/ts/status"][-1])["speed"] == 0,
                timeout=10, message="last status says speed 0")
        self.assertEqual(es.read_sim(sim)["speed"], 0)
        self.assertTrue(last)
        # The retained status a newcomer sees says 0 too, and the presence says offline.
        with harness.MqttClient(self.broker.port) as mq2:
            mq2.subscribe("trains/ts/status")
            mq2.subscribe("controllers/%s/presence" % uuid)
            st, retained = mq2.wait_message("trains/ts/status")
            self.assertTrue(retained)
            self.assertEqual(st["speed"], 0)
            pr, _ = mq2.wait_message("controllers/%s/presence" % uuid)
            self.assertEqual(pr["state"], "offline")

    def test_failsafe_stops_without_broker(self):
        edge, uuid, sim = self.cached_edge("tf", "--failsafe-timeout", "1")
        es.mosquitto_pub(self.broker.port, "trains/tf/commands", {"action": "setSpeed", "speed": 40})
        harness.wait_until(lambda: es.read_sim(sim)["speed"] == 40, timeout=20)
        self.stop(self.broker)
        edge.wait_event("failsafe_stop", timeout=30)
        harness.wait_until(lambda: es.read_sim(sim)["speed"] == 0, timeout=20,
                           message="train stopped by the fail-safe")
        # The broker comes back: the edge reconnects and re-subscribes.
        n = len(edge.find_events("mqtt_connected"))
        self.restart_broker()
        harness.wait_until(lambda: len(edge.find_events("mqtt_connected")) > n, timeout=60,
                           message="reconnected")
        es.mosquitto_pub(self.broker.port, "trains/tf/commands", {"speed": 5})
        harness.wait_until(lambda: es.read_sim(sim)["speed"] == 5, timeout=20)

    def test_failsafe_stops_when_the_broker_refuses_the_login(self):
        """A broker that answers but refuses the edge's login (its account was removed or its
        password changed, as with an MQTT ACL) must not count as contact: every attempt gets a
        CONNACK, and counting those kept moving trains running with nobody able to stop them."""
        edge, uuid, sim = self.cached_edge("tr", "--failsafe-timeout", "2")
        es.mosquitto_pub(self.broker.port, "trains/tr/commands", {"action": "setSpeed", "speed": 40})
        harness.wait_until(lambda: es.read_sim(sim)["speed"] == 40, timeout=20)
        pwfile = os.path.join(self.tmp, "passwd")
        # One account, not the edge's (anonymous access is refused too).
        subprocess.run(["mosquitto_passwd", "-b", "-c", pwfile, "someone-else", "secret"],
                       check=True, capture_output=True, timeout=30)
        with open(self.broker.conf, "a") as f:
            # "user root": a broker started as root otherwise runs as "mosquitto", which
            # cannot read the test's private directory (ignored when not started as root).
            f.write("allow_anonymous false\npassword_file %s\nuser root\n" % pwfile)
        n = len(edge.events)
        self.restart_broker()
        edge.wait_event("mqtt_connect_retry", timeout=30, start=n,
                        where=lambda e: "refused" in e.get("reason", ""))
        edge.wait_event("failsafe_stop", timeout=30, start=n)
        harness.wait_until(lambda: es.read_sim(sim)["speed"] == 0, timeout=20,
                           message="train stopped by the fail-safe")
        self.assertFalse(es.health(edge)["mqtt_connected"])

    def test_retained_emergency_stop_is_ignored(self):
        """A retained message on roundhouse/emergency-stop (left by a mistake or a stranger)
        used to e-stop every train at every reconnect. Only a live one stops trains."""
        with harness.MqttClient(self.broker.port) as mq:
            mq.publish("roundhouse/emergency-stop", {"reason": "stale"}, retain=True)
        edge, uuid, sim = self.cached_edge("tr")
        edge.wait_event("emergency_stop_ignored", where=lambda e: e["reason"] == "retained")
        es.mosquitto_pub(self.broker.port, "trains/tr/commands", {"action": "setSpeed", "speed": 20})
        harness.wait_until(lambda: es.read_sim(sim)["speed"] == 20, timeout=20,
                           message="train driven despite the retained stop")
        self.assertEqual(edge.find_events("emergency_stop"), [])
        # The empty retained publish that clears it reaches subscribers as an empty message:
        # not a stop either.
        with harness.MqttClient(self.broker.port) as mq:
            mq.publish("roundhouse/emergency-stop", b"", retain=True)
        edge.wait_event("emergency_stop_ignored", where=lambda e: e["reason"] == "empty")
        self.assertEqual(es.read_sim(sim)["speed"], 20)
        es.mosquitto_pub(self.broker.port, "roundhouse/emergency-stop", {"reason": "now"})
        edge.wait_event("emergency_stop")
        harness.wait_until(lambda: es.read_sim(sim)["speed"] == 0, timeout=20)

    def test_clock_behind_the_cache_still_drives_and_says_so(self):
        """A Pi without a battery clock boots after a power cut with its clock behind the
        last cache write. The checksum vouches for the cache: it drives at once, and /health
        says the clock is behind (before, such a cache was invalid and the trains stood still
        until the central answered)."""
        uuid = harness.new_uuid()
        sim = os.path.join(self.tmp, "sim-clock.json")
        cfg = es.runtime_config(uuid, self.broker.port, [("t-clock", {"state_file": sim})])
        ahead = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
        state = os.path.join(self.tmp, "state-clock")
        es.write_state(state, uuid, cfg, cached_at=es.iso_utc(ahead))
        edge = self.start_edge(self.nowhere(), state_dir=state)
        ev = edge.wait_event("config_applied")
        self.assertEqual((ev["source"], ev["trains"]), ("current", ["t-clock"]))
        self.assertTrue(edge.find_events("clock_behind_cache"))
        edge.wait_event("mqtt_connected")
        h = es.health(edge)
        self.assertEqual(h["cache_state"], "valid")
        self.assertTrue(h["clock_behind_cache"])
        self.assertEqual(h["status"], "degraded")
        self.assertIn("clock is behind", h["reason"])
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t-clock/status")
            es.command_until(mq, "t-clock", {"action": "setSpeed", "speed": 25},
                             lambda d: d["speed"] == 25)
        self.assertEqual(es.read_sim(sim)["speed"], 25)

    def test_cache_superseded_by_a_retained_notification_holds_the_trains(self):
        """The controller was down while its train moved to another one, and boots with the
        broker but not the central: the retained config/update tells it that its cache (version
        1) is out of date. It must not drive the cached trains (another controller may drive
        them now): held stopped, not listening, /health saying why; a central that comes back
        then hands it the current config. Before, it drove the train from the old cache."""
        uuid = harness.new_uuid()
        sim = os.path.join(self.tmp, "sim-held.json")
        cfg = es.runtime_config(uuid, self.broker.port, [("t-held", {"state_file": sim})])
        state = os.path.join(self.tmp, "state-held")
        es.write_state(state, uuid, cfg)
        port = harness.free_port()
        with harness.MqttClient(self.broker.port) as mq:
            mq.publish("controllers/%s/config/update" % uuid, {"version": 7, "checksum": "0" * 64},
                       retain=True)
            edge = self.start_edge("http://127.0.0.1:%d" % port, state_dir=state)
            held = edge.wait_event("trains_held", timeout=30)
            self.assertEqual((held["current"], held["running"]), (7, 1))
            harness.wait_until(lambda: es.train_ids(edge) == [], timeout=30,
                               message="held trains still listed")
            h = es.health(edge)
            self.assertEqual(h["status"], "degraded")
            self.assertEqual(h["cache_state"], "superseded")
            self.assertIn("held", h["reason"])
            self.assertIn("config 7", h["reason"])
            # A driving command finds nobody listening.
            mq.publish("trains/t-held/commands", {"action": "setSpeed", "speed": 50})
            time.sleep(1.0)
            self.assertEqual(es.read_sim(sim).get("speed", 0), 0)
            self.assertFalse([e for e in edge.find_events("command_applied")
                              if e.get("action") == "setSpeed"])
            # The central comes back: the edge registers (restored, no trains) and runs the
            # current config, with nothing held any more.
            central = es.start_central_at(self, port)
            ok = edge.wait_event("config_applied", timeout=60,
                                 where=lambda e: e["source"] == "central")
            self.assertEqual(ok["trains"], [])
            h = es.health(edge)
            self.assertNotEqual(h["cache_state"], "superseded")
            self.assertNotIn("held", h["reason"])
            mq.publish("controllers/%s/config/update" % uuid, "", retain=True)

    def test_failsafe_counts_from_the_last_packet_of_a_frozen_broker(self):
        """A frozen broker (SIGSTOP: the TCP connection stays up, nothing answers) must stop
        the trains within the fail-safe timeout of its last packet. Before, the timer started
        only once libmosquitto's keepalive gave the connection up: 15.7-19.5 s for 10 s."""
        timeout = 4
        edge, uuid, sim = self.cached_edge("tz", "--failsafe-timeout", str(timeout))
        es.mosquitto_pub(self.broker.port, "trains/tz/commands", {"action": "setSpeed", "speed": 60})
        harness.wait_until(lambda: es.read_sim(sim)["speed"] == 60, timeout=20)
        # A healthy but idle link never trips it: the edge's probes are answered.
        time.sleep(timeout * 1.5)
        self.assertEqual(edge.find_events("failsafe_stop"), [])
        self.assertGreater(es.metrics(edge)["controller_mqtt_probes_total"], 0)
        n = len(edge.events)
        frozen_at = time.monotonic()
        os.kill(self.broker.pid, signal.SIGSTOP)
        try:
            ev = edge.wait_event("failsafe_stop", timeout=30, start=n)
            took = time.monotonic() - frozen_at
            # The last packet came at or before the freeze; 3 s of margin for a loaded machine
            # (the old behaviour needed more than twice the timeout).
            self.assertLess(took, timeout + 3, "fail-safe after %.1f s" % took)
            self.assertLessEqual(ev["silent_ms"], (timeout + 1) * 1000, ev)
            harness.wait_until(lambda: es.read_sim(sim)["speed"] == 0, timeout=20,
                               message="train stopped by the fail-safe")
        finally:
            os.kill(self.broker.pid, signal.SIGCONT)
        # Contact resumes: the train can be driven again, and the fail-safe is armed again.
        harness.wait_until(
            lambda: (es.mosquitto_pub(self.broker.port, "trains/tz/commands", {"speed": 5}),
                     es.read_sim(sim)["speed"] == 5)[1],
            timeout=40, interval=1.0, message="driving again after the broker woke up")


if __name__ == "__main__":
    harness.main()
