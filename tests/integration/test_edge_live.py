"""Live configuration with real programs: two roundhouse-edge processes, a roundhouse-central
and a mosquitto, all on loopback with kernel-picked ports (issue 4, edge side).

- a train moved from edge A to edge B: A stops it and lets go, B takes it, both report, the
  central sees the handover complete, and commands reach B only;
- broker down when the central starts: notifications and commands work once it is up;
- an edge cut off from the broker while its assignment changes catches up after
  reconnecting (retained notification), and with the broker gone, through the long poll;
- kill -9: the will takes the controller out of "online" at once, and a quick restart (a new
  session epoch) is not overridden by the old will;
- a config that cannot be applied is rolled back, the previous one keeps running and the
  error is reported (edge /health, /metrics, heartbeat errors), not retried;
- emergency stop of every train;
- identity: a brand-new edge is "registered" by the central (no invented UUID), a rebuilt
  one that lost its volume is matched by name, a lost identity file is recovered from the
  cache; the optional registration token.

Nothing here measures time: where the old behaviour would only differ by being slow (the
will), the central's grace periods are set far beyond the test's waits."""

import json
import os
import signal
import unittest

import harness
import edge_support as es


def kill9(edge):
    """SIGKILL on purpose (a crash): the harness must not count it as a failure."""
    edge.proc.send_signal(signal.SIGKILL)
    edge.proc.wait(timeout=10)
    edge.returncode = edge.proc.returncode


class EdgeLiveTest(harness.RoundhouseTestCase):

    def edge_up(self, central, name, *flags, **kw):
        """An edge registered with ``central``, its first config applied and the broker
        connected; returns (edge, uuid)."""
        kw.setdefault("state_dir", os.path.join(self.tmp, "state-%s" % name))
        edge = self.start_edge(central, *flags, name=name, **kw)
        uuid = edge.wait_event("controller_registered")["uuid"]
        edge.wait_event("config_applied", where=lambda e: e["source"] == "central")
        edge.wait_event("mqtt_connected")
        return edge, uuid

    def wait_trains(self, edge, trains, timeout=60, start=0):
        return edge.wait_event("config_applied", timeout=timeout, start=start,
                               where=lambda e: sorted(e["trains"]) == sorted(trains))

    def wait_placement(self, central, train_id, owner, timeout=60):
        return harness.wait_until(
            lambda: (lambda t: t if t["actual_controller_id"] == owner
                     and t["reassignment_status"] == "complete" else None)(
                es.train(central, train_id)),
            timeout=timeout, message="%s complete on %s" % (train_id, owner))

    def drive(self, central, edge, train_id, speed):
        """Command ``speed`` through the central and wait for the edge's motor to reach it."""
        es.command(central, train_id, {"action": "setSpeed", "speed": speed})
        harness.wait_until(lambda: es.motor_speed(edge, train_id) == speed, timeout=30,
                           message="%s at speed %d" % (train_id, speed))

    # ------------------------------------------------------------------ handover

    def test_move_train_between_edges(self):
        central = self.start_central("--heartbeat-interval", "2")
        a, ua = self.edge_up(central, "pi-a")
        b, ub = self.edge_up(central, "pi-b")
        self.add_train(central, ua, "t-move")
        self.wait_trains(a, ["t-move"])
        self.wait_placement(central, "t-move", ua)
        self.drive(central, a, "t-move", 40)

        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/t-move/status")
            mark_a, mark_b = len(a.events), len(b.events)
            r = central.put("/api/trains/t-move", {"controller_id": ub})
            self.assertEqual(r.status, 200, r)
            # A ramps the train down, releases it and reports; only then does B get it.
            a.wait_event("train_released", start=mark_a, where=lambda e: e["train_id"] == "t-move")
            self.wait_trains(a, [], start=mark_a)
            self.wait_trains(b, ["t-move"], start=mark_b)
            self.wait_placement(central, "t-move", ub)
            mq.wait_message("trains/t-move/status", lambda d: d["controller_id"] == ub)
            statuses = [json.loads(p) for t, p, _r, _q in mq.messages if t == "trains/t-move/status"]

        # A stopped it (ramped to 0, not cut) before B ever spoke for it.
        first_b = next(i for i, d in enumerate(statuses) if d["controller_id"] == ub)
        from_a = [d for d in statuses[:first_b] if d["controller_id"] == ua]
        self.assertTrue(from_a, statuses)
        self.assertEqual(from_a[-1]["speed"], 0, statuses)
        self.assertEqual(from_a[-1]["state"], "stopped", statuses)
        self.assertTrue(any(0 < d["speed"] < 40 for d in from_a), "ramped down: %r" % from_a)
        self.assertTrue(all(d["controller_id"] == ub for d in statuses[first_b:]), statuses)
        self.assertNotIn("t-move", es.train_ids(a))
        self.assertEqual(es.train_ids(b), ["t-move"])
        self.assertEqual(es.motor_speed(b, "t-move"), 0)

        # A command now reaches B only.
        applied_a = len([e for e in a.find_events("command_applied") if e["train_id"] == "t-move"])
        self.drive(central, b, "t-move", 25)
        self.assertEqual(es.train_health(b, "t-move")["state"], "running")
        self.assertNotIn("t-move", es.train_ids(a))
        self.assertEqual(
            len([e for e in a.find_events("command_applied") if e["train_id"] == "t-move"]),
            applied_a)
        self.assertFalse([e for e in a.find_events("command_rejected")
                          if e["train_id"] == "t-move"])
        # Both report what they run, with the versions they applied.
        for edge, uuid in ((a, ua), (b, ub)):
            h = es.health(edge)
            harness.wait_until(
                lambda: es.controller(central, uuid)["applied_config_version"]
                == h["config_version"], timeout=30, message="applied version reported")
        self.assertEqual(es.controller(central, ub)["status"], "online")

    def test_long_train_id_runs(self):
        """The central's train-id rule (up to 100 bytes), not the earlier 64."""
        central = self.start_central()
        edge, uuid = self.edge_up(central, "pi-long")
        long_id = "long-" + "x" * 95
        self.add_train(central, uuid, long_id, name="Long id")
        self.wait_trains(edge, [long_id])
        self.drive(central, edge, long_id, 10)

    def test_config_change_keeps_the_mqtt_connection_with_a_short_failsafe(self):
        """With --failsafe-timeout under 10 s the keepalive asked for is under libmosquitto's
        minimum of 5 s; the raised value used to count as a new broker setting, so every
        config change dropped and reopened the connection."""
        central = self.start_central()
        edge, uuid = self.edge_up(central, "pi-short", "--failsafe-timeout", "4")
        connects = es.metrics(edge)["controller_mqtt_connects_total"]
        n = len(edge.events)
        self.add_train(central, uuid, "t-short-1", name="One")
        self.wait_trains(edge, ["t-short-1"], start=n)
        self.add_train(central, uuid, "t-short-2", name="Two")
        self.wait_trains(edge, ["t-short-1", "t-short-2"], start=n)
        self.drive(central, edge, "t-short-2", 10)
        self.assertEqual(es.metrics(edge)["controller_mqtt_connects_total"], connects)
        self.assertEqual(len(edge.find_events("mqtt_connected")), 1)

    # ------------------------------------------------------------------ broker outages

    # The central must reach a broker that comes up after it (libmosquitto does not retry a
    # first connect that failed; notify.c's connector thread does).
    def test_broker_down_when_central_starts(self):
        self.stop(self.broker)
        central = self.start_central("--heartbeat-interval", "2")
        edge = self.start_edge(central, name="pi-early",
                               state_dir=os.path.join(self.tmp, "state-early"))
        uuid = edge.wait_event("controller_registered")["uuid"]
        edge.wait_event("config_applied")
        edge.wait_event("mqtt_connect_retry")
        self.restart_broker()
        edge.wait_event("mqtt_connected", timeout=60)
        harness.wait_until(lambda: central.get("/health").json["mqtt_connected"], timeout=60,
                           message="central connected to the broker")
        mark = len(edge.events)
        self.add_train(central, uuid, "t-late")
        version = es.controller(central, uuid)["config_version"]
        self.wait_trains(edge, ["t-late"], start=mark)
        # The notification arrived over MQTT (whatever path won the race to the download).
        edge.wait_event("config_notification", start=mark, where=lambda e: e["version"] >= version)
        self.wait_placement(central, "t-late", uuid)
        self.drive(central, edge, "t-late", 33)

    def test_edge_cut_off_from_broker_catches_up_on_reconnect(self):
        central = self.start_central("--heartbeat-interval", "2")
        proxy = es.TcpProxy(self.broker.port)
        self.addCleanup(proxy.close)
        edge, uuid = self.edge_up(central, "pi-cut", "--mqtt", "127.0.0.1:%d" % proxy.port)
        mark = len(edge.events)
        proxy.cut()
        edge.wait_event("mqtt_disconnected", start=mark)
        self.add_train(central, uuid, "t-away")
        version = es.controller(central, uuid)["config_version"]
        self.assertTrue(central.get("/health").json["mqtt_connected"])
        mark = len(edge.events)
        proxy.resume()
        edge.wait_event("mqtt_connected", start=mark, timeout=60)
        self.wait_trains(edge, ["t-away"], start=0)
        # The central's notification is retained: the edge hears it on reconnecting, even if
        # it had already caught up by another path meanwhile.
        edge.wait_event("config_notification", start=mark, timeout=30,
                        where=lambda e: e["version"] >= version)
        self.wait_placement(central, "t-away", uuid)
        self.drive(central, edge, "t-away", 20)

    def test_long_poll_while_broker_gone(self):
        # No periodic heartbeat within the test: only the long poll can bring the change.
        central = self.start_central("--heartbeat-interval", "3600")
        edge, uuid = self.edge_up(central, "pi-lp")
        mark = len(edge.events)
        self.stop(self.broker)
        edge.wait_event("mqtt_disconnected", start=mark)
        edge.wait_event("config_longpoll_started", start=mark, timeout=60)
        self.add_train(central, uuid, "t-lp")
        version = es.controller(central, uuid)["config_version"]
        ev = edge.wait_event("config_longpoll_changed", start=mark, timeout=60)
        self.assertGreaterEqual(ev["version"], version)
        self.wait_trains(edge, ["t-lp"], start=mark)
        self.assertFalse([e for e in edge.events[mark:] if e.get("event") == "config_notification"])
        # Reported at once (the heartbeat after an apply does not wait for the period).
        self.wait_placement(central, "t-lp", uuid)
        m = edge.health.get("/metrics").body.decode()
        self.assertRegex(m, r"controller_config_longpolls_total [1-9]")
        # The broker back: commands flow again.
        self.restart_broker()
        edge.wait_event("mqtt_connected", start=mark, timeout=60)
        harness.wait_until(lambda: central.get("/health").json["mqtt_connected"], timeout=60,
                           message="central reconnected")
        self.drive(central, edge, "t-lp", 15)

    # ------------------------------------------------------------------ presence

    def test_kill9_will_and_quick_restart(self):
        # Without a working will the controller would stay "online" for an hour here.
        central = self.start_central("--stale-after", "3600", "--offline-after", "7200")
        state = os.path.join(self.tmp, "state-kill")
        first, uuid = self.edge_up(central, "pi-kill", state_dir=state)
        self.stop(first)
        harness.wait_until(lambda: es.controller(central, uuid)["status"] == "offline",
                           timeout=30, message="offline after a clean stop")
        topic = "controllers/%s/presence" % uuid
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe(topic)
            # Booted from its cache with the central up (the case of the review finding).
            second = self.start_edge(central, name="pi-kill", state_dir=state)
            self.assertEqual(second.wait_event("cache_loaded")["source"], "current")
            epoch = second.wait_event("controller_registered")["session_epoch"]
            self.assertGreater(epoch, 1)
            mq.wait_message(topic, lambda d: d["state"] == "online" and d["session_epoch"] == epoch)
            harness.wait_until(
                lambda: (lambda c: c["status"] == "online" and c["session_epoch"] == epoch)(
                    es.controller(central, uuid)), timeout=30, message="online, current epoch")
            self.assertEqual(es.health(second)["session_epoch"], epoch)
            kill9(second)
            # The will of this very session (the retained "offline" of the first, cleanly
            # stopped process carries an older epoch).
            mq.wait_message(topic, lambda d: d["state"] == "offline" and d["session_epoch"] == epoch,
                            timeout=30)
            harness.wait_until(lambda: es.controller(central, uuid)["status"] != "online",
                               timeout=30, message="out of online by the will")

            # A quick restart: killed again and restarted at once.
            third = self.start_edge(central, name="pi-kill", state_dir=state)
            epoch3 = third.wait_event("controller_registered")["session_epoch"]
            self.assertGreater(epoch3, epoch)
            mq.wait_message(topic, lambda d: d["state"] == "online" and d["session_epoch"] == epoch3)
            kill9(third)
            fourth = self.start_edge(central, name="pi-kill", state_dir=state)
            epoch4 = fourth.wait_event("controller_registered")["session_epoch"]
            self.assertGreater(epoch4, epoch3)
            # The old session's will and the new session's birth both went out; the central
            # got them in the same order as this subscriber.
            mq.wait_message(topic, lambda d: d["state"] == "offline" and d["session_epoch"] == epoch3)
            mq.wait_message(topic, lambda d: d["state"] == "online" and d["session_epoch"] == epoch4)
            harness.wait_until(
                lambda: (lambda c: c["status"] == "online" and c["session_epoch"] == epoch4)(
                    es.controller(central, uuid)), timeout=30,
                message="online in the new session despite the old will")
            # Still so after the new session's next heartbeat.
            mark = len(fourth.events)
            fourth.wait_event("heartbeat_ok", start=mark, timeout=30)
            c = es.controller(central, uuid)
            self.assertEqual((c["status"], c["session_epoch"]), ("online", epoch4))
        # The epoch survives in the state directory for the next process.
        with open(os.path.join(state, "session.json")) as f:
            self.assertEqual(json.load(f)["session_epoch"], epoch4)

    # ------------------------------------------------------------------ rollback

    def test_failed_config_is_rolled_back(self):
        central = self.start_central("--heartbeat-interval", "1")
        edge, uuid = self.edge_up(central, "pi-rb")
        self.add_train(central, uuid, "t-rb")
        self.wait_trains(edge, ["t-rb"])
        self.drive(central, edge, "t-rb", 30)
        running = es.health(edge)["config_version"]
        mark = len(edge.events)
        r = central.put("/api/trains/t-rb", {"plugin": {"name": "warp_drive", "config": {}}})
        self.assertEqual(r.status, 200, r)
        ev = edge.wait_event("config_rolled_back", start=mark, timeout=60)
        self.assertIn("warp_drive", ev["reason"])
        self.assertEqual(ev["running"], running)
        failed = ev["version"]
        self.assertGreater(failed, running)

        # The previous config keeps running, untouched.
        h = es.health(edge)
        self.assertEqual(h["config_version"], running)
        self.assertEqual(h["status"], "degraded")
        self.assertIn("rolled back", h["reason"])
        self.assertIn("warp_drive", h["config_error"])
        self.assertEqual(h["rejected_config_version"], failed)
        th = es.train_health(edge, "t-rb")
        self.assertEqual(th["plugin"], "simulator")
        self.assertEqual(th["motor"]["speed"], 30)
        self.assertNotIn("error", th)
        self.drive(central, edge, "t-rb", 45)
        m = edge.health.get("/metrics").body.decode()
        self.assertIn("controller_config_rollbacks_total 1\n", m)
        # Reported to the central in the heartbeat's errors, with the version it still runs.
        harness.wait_until(
            lambda: any("warp_drive" in x for x in
                        (es.controller(central, uuid).get("metadata") or {}).get("errors", [])),
            timeout=30, message="error reported in a heartbeat")
        self.assertEqual(es.controller(central, uuid)["applied_config_version"], running)
        self.assertIn("warp_drive", es.controller(central, uuid)["config_error"])
        self.assertTrue(es.controller(central, uuid)["config_error"].startswith(
            "config_rolled_back: "))
        # And where the operator looks from a terminal.
        out = harness.run_program("roundhouse", "--central", central.url, "controller", uuid)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"config error: +config_rolled_back: .*warp_drive")
        out = harness.run_program("roundhouse", "--central", central.url, "controllers")
        self.assertIn("refused", out.stdout)

        # Not tried again while the central offers nothing newer.
        downloads = [l for l in m.splitlines() if l.startswith("controller_config_downloads_total")]
        mark = len(edge.events)
        for _ in range(3):
            mark = len(edge.events)
            edge.wait_event("heartbeat_ok", start=mark, timeout=30)
        self.assertEqual(len(edge.find_events("config_rolled_back")), 1)
        m2 = edge.health.get("/metrics").body.decode()
        self.assertEqual(downloads, [l for l in m2.splitlines()
                                     if l.startswith("controller_config_downloads_total")])

        # Fixed by the operator: a newer version applies, the error is gone.
        mark = len(edge.events)
        r = central.put("/api/trains/t-rb", {"plugin": {"name": "simulator", "config": {}}})
        self.assertEqual(r.status, 200, r)
        ok = edge.wait_event("config_applied", start=mark, timeout=60,
                             where=lambda e: e["version"] > failed)
        self.assertEqual(ok["trains"], ["t-rb"])
        h = es.health(edge)
        self.assertIsNone(h["config_error"])
        self.assertEqual(h["status"], "healthy")
        # Same driver as before: the train was not even jolted.
        self.assertEqual(es.motor_speed(edge, "t-rb"), 45)
        harness.wait_until(
            lambda: not (es.controller(central, uuid).get("metadata") or {}).get("errors"),
            timeout=30, message="errors cleared at the central")
        self.assertIsNone(es.controller(central, uuid)["config_error"])

    def test_state_directory_that_cannot_be_written_is_reported(self):
        """A state directory that refuses writes (here a file-size limit, as a quota or a
        full card would) makes /health degraded, naming the file and the error; the edge
        keeps driving, and the report clears with the next write that works. Before, the
        failure was a log line and /health said healthy."""
        import resource
        central = self.start_central("--heartbeat-interval", "1")
        edge, uuid = self.edge_up(central, "pi-ro")
        self.add_train(central, uuid, "t-ro")
        self.wait_trains(edge, ["t-ro"])
        self.assertIsNone(es.health(edge)["state_dir_error"])
        resource.prlimit(edge.proc.pid, resource.RLIMIT_FSIZE, (64, resource.RLIM_INFINITY))
        mark = len(edge.events)
        self.add_train(central, uuid, "t-ro2")
        self.wait_trains(edge, ["t-ro", "t-ro2"], start=mark)
        ev = edge.wait_event("state_write_failed", start=mark, timeout=30)
        self.assertEqual(ev["file"], "config.json")
        h = es.health(edge)
        self.assertEqual(h["status"], "degraded")
        self.assertIn("config.json", h["state_dir_error"])
        self.assertIn("too large", h["state_dir_error"])
        self.assertIn("state directory", h["reason"])
        self.assertTrue(edge.alive)
        self.drive(central, edge, "t-ro2", 20)
        resource.prlimit(edge.proc.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        mark = len(edge.events)
        self.assertEqual(central.put("/api/trains/t-ro", {"name": "renamed"}).status, 200)
        edge.wait_event("state_dir_writable", start=mark, timeout=30)
        h = es.health(edge)
        self.assertIsNone(h["state_dir_error"])
        self.assertEqual(h["status"], "healthy")

    def test_driving_settings_reach_the_motor(self):
        """Driving settings kept by the central, carried in the runtime config, used by the
        edge: speed 1-100 spread over min_speed-max_speed at the motor (status and throttles
        keep the commanded speed), momentum, and start resuming the last speed."""
        central = self.start_central("--heartbeat-interval", "1")
        edge, uuid = self.edge_up(central, "pi-drv")
        self.add_train(central, uuid, "t-drv")
        self.wait_trains(edge, ["t-drv"])
        self.assertJsonError(central.put("/api/trains/t-drv",
                                         {"driving": {"min_speed": 60, "max_speed": 40}}),
                             422, field="driving")
        self.assertJsonError(central.put("/api/trains/t-drv", {"driving": {"turbo": 1}}), 422,
                             field="driving")
        mark = len(edge.events)
        r = central.put("/api/trains/t-drv", {"driving": {
            "acceleration_s": 0, "braking_s": 0, "min_speed": 20, "max_speed": 80,
            "start_resumes": True}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["driving"]["min_speed"], 20)
        edge.wait_event("config_applied", start=mark, timeout=30)
        r = central.get("/api/controllers/%s/config" % uuid,
                        headers=es.secret_headers(os.path.join(self.tmp, "state-pi-drv")))
        self.assertEqual(r.status, 200, r)
        cfg = r.json
        self.assertEqual(cfg["trains"][0]["driving"]["max_speed"], 80)
        es.command(central, "t-drv", {"action": "setSpeed", "speed": 25})
        harness.wait_until(lambda: (es.train_health(edge, "t-drv") or {}).get("speed") == 25,
                           timeout=30, message="commanded speed 25")
        # 20 + (80 - 20) * 25 % = 35 at the motor; momentum 0: there at once.
        self.assertEqual(es.motor_speed(edge, "t-drv"), 35)
        es.command(central, "t-drv", {"action": "setSpeed", "speed": 100})
        harness.wait_until(lambda: es.motor_speed(edge, "t-drv") == 80, timeout=30)
        es.command(central, "t-drv", {"action": "stop"})
        harness.wait_until(lambda: es.motor_speed(edge, "t-drv") == 0, timeout=30)
        # Start resumes the last speed (100), not 50.
        es.command(central, "t-drv", {"action": "start"})
        harness.wait_until(lambda: (es.train_health(edge, "t-drv") or {}).get("target_speed") == 100,
                           timeout=30, message="start resumed 100")
        # Cleared: the defaults again (speed 50 is 50 at the motor).
        mark = len(edge.events)
        out = harness.run_program("roundhouse", "--central", central.url, "set-driving", "t-drv",
                                  "braking_s=1.5", "start_resumes=no")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('"braking_s":1.5', out.stdout)
        out = harness.run_program("roundhouse", "--central", central.url, "set-driving", "t-drv",
                                  "min_speed=90", "max_speed=10")
        self.assertEqual(out.returncode, 1, out.stdout)
        self.assertIn("min_speed", out.stderr)
        out = harness.run_program("roundhouse", "--central", central.url, "set-driving", "t-drv",
                                  "none")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(es.train(central, "t-drv")["driving"], {})
        edge.wait_event("config_applied", start=mark, timeout=30)
        es.command(central, "t-drv", {"action": "setSpeed", "speed": 50})
        harness.wait_until(lambda: es.motor_speed(edge, "t-drv") == 50, timeout=30)
        exported = self.get_json(central, "/api/export")
        self.assertEqual([t.get("driving") for t in exported["trains"]], [{}])

    def test_train_deleted_while_its_edge_runs_an_old_config_stops(self):
        """The edge rolled back the config that would have dropped the train, so it drives
        it from the old one; deleting the train must still stop its motor (before, the train
        ran on and its stop command answered 404)."""
        central = self.start_central("--heartbeat-interval", "1")
        edge, uuid = self.edge_up(central, "pi-del")
        self.add_train(central, uuid, "t-keep")
        self.add_train(central, uuid, "t-gone")
        self.wait_trains(edge, ["t-gone", "t-keep"])
        self.drive(central, edge, "t-gone", 40)
        mark = len(edge.events)
        r = central.put("/api/trains/t-keep", {"plugin": {"name": "warp_drive", "config": {}}})
        self.assertEqual(r.status, 200, r)
        edge.wait_event("config_rolled_back", start=mark, timeout=60)
        self.assertEqual(es.motor_speed(edge, "t-gone"), 40)
        self.assertEqual(central.delete("/api/trains/t-gone").status, 204)
        harness.wait_until(lambda: es.motor_speed(edge, "t-gone") in (0, None), timeout=30,
                           message="deleted train still driven")
        self.assertJsonError(central.post("/api/trains/t-gone/command", {"action": "stop"}), 404)

    # ------------------------------------------------------------------ emergency stop

    def test_emergency_stop_every_train(self):
        central = self.start_central()
        a, ua = self.edge_up(central, "pi-e1")
        b, ub = self.edge_up(central, "pi-e2")
        for tid, owner in (("t-e1", ua), ("t-e2", ua), ("t-e3", ub)):
            self.add_train(central, owner, tid)
        self.wait_trains(a, ["t-e1", "t-e2"])
        self.wait_trains(b, ["t-e3"])
        for tid, edge in (("t-e1", a), ("t-e2", a), ("t-e3", b)):
            self.wait_placement(central, tid, ua if edge is a else ub)
            es.command(central, tid, {"action": "setSpeed", "speed": 100})
        for tid, edge in (("t-e1", a), ("t-e2", a), ("t-e3", b)):
            harness.wait_until(lambda: (es.motor_speed(edge, tid) or 0) > 0, timeout=30,
                               message="%s moving" % tid)
        r = central.post("/api/emergency-stop", {})
        self.assertIn(r.status, (200, 202), r)
        for edge in (a, b):
            edge.wait_event("emergency_stop")
        for tid, edge in (("t-e1", a), ("t-e2", a), ("t-e3", b)):
            th = es.train_health(edge, tid)
            self.assertEqual(th["speed"], 0, th)
            self.assertEqual(th["target_speed"], 0, th)  # ramp cancelled
            self.assertEqual(th["state"], "estopped", th)
            self.assertEqual(th["motor"]["speed"], 0, th)

    # ------------------------------------------------------------------ identity

    def test_new_edge_gets_its_uuid_from_the_central(self):
        central = self.start_central()
        first_state = os.path.join(self.tmp, "state-new")
        first = self.start_edge(central, name="pi-fresh", state_dir=first_state)
        start = first.wait_event("edge_starting")
        self.assertEqual(start["identity"], "none")
        self.assertIsNone(start["uuid"])
        reg = first.wait_event("controller_registered")
        self.assertEqual(reg["status"], "registered")
        uuid = reg["uuid"]
        self.assertEqual(es.read_identity(first_state), uuid)
        first.wait_event("mqtt_connected")
        with open(os.path.join(first_state, "session.json")) as f:
            self.assertEqual(json.load(f)["session_epoch"], reg["session_epoch"])
        self.stop(first)
        harness.wait_until(lambda: es.controller(central, uuid)["status"] == "offline",
                           timeout=30, message="offline after a clean stop")

        # A rebuilt container that lost its volume: the record holds a controller secret, so
        # it is not adopted by name (no takeover by name, docs/security.md): a new record.
        lost_state = os.path.join(self.tmp, "state-lost")
        second = self.start_edge(central, name="pi-fresh", state_dir=lost_state)
        reg = second.wait_event("controller_registered")
        self.assertEqual(reg["status"], "registered")
        self.assertNotEqual(reg["uuid"], uuid)
        uuid = reg["uuid"]
        self.assertEqual(es.read_identity(lost_state), uuid)
        second.wait_event("mqtt_connected")
        self.stop(second)

        # From then on it presents that UUID.
        third = self.start_edge(central, name="pi-fresh", state_dir=lost_state)
        self.assertEqual(third.wait_event("edge_starting")["identity"], "loaded")
        reg = third.wait_event("controller_registered")
        self.assertEqual((reg["status"], reg["uuid"]), ("reactivated", uuid))
        self.stop(third)

        # identity.json lost, cache intact: the UUID comes back from the cache.
        os.unlink(os.path.join(lost_state, "identity.json"))
        fourth = self.start_edge(central, name="pi-fresh", state_dir=lost_state)
        start = fourth.wait_event("edge_starting")
        self.assertEqual((start["identity"], start["uuid"]), ("recovered", uuid))
        reg = fourth.wait_event("controller_registered")
        self.assertEqual((reg["status"], reg["uuid"]), ("reactivated", uuid))
        self.assertEqual(es.read_identity(lost_state), uuid)
        # The first record stays, offline, for the operator to delete.
        self.assertEqual(len(central.get("/api/controllers").json), 2)

    def test_registration_token(self):
        central = self.start_central("--registration-token", "s3cret-token")
        bad = self.start_edge(central, "--registration-token", "wrong", name="pi-bad",
                              state_dir=os.path.join(self.tmp, "state-bad"))
        ev = bad.wait_event("registration_failed")
        self.assertEqual(ev["http_status"], 401)
        self.assertIn("token", es.health(bad)["reason"])
        none = self.start_edge(central, name="pi-none", state_dir=os.path.join(self.tmp, "state-none"))
        self.assertEqual(none.wait_event("registration_failed")["http_status"], 401)
        good = self.start_edge(central, name="pi-good", state_dir=os.path.join(self.tmp, "state-good"),
                               env={"ROUNDHOUSE_REGISTRATION_TOKEN": "s3cret-token"})
        self.assertEqual(good.wait_event("controller_registered")["status"], "registered")
        self.assertTrue(good.wait_event("edge_starting")["registration_token"])
        self.assertEqual([c["name"] for c in central.get("/api/controllers").json], ["pi-good"])
        self.assertNotIn("s3cret-token", good.stderr_text())


if __name__ == "__main__":
    harness.main()
