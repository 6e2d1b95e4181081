"""roundhouse-fleet against a real central and mosquitto: small fleets, functional checks only.

The fleet's numbers (rates, latencies) are benchmark results and are never asserted here;
what is checked is that the simulated controllers do what an edge does on the wire: they
register without creating duplicates, reboot under the same identities, heartbeat, answer
config changes, and hand trains over when they are moved.
"""

import json
import os
import resource
import shutil
import subprocess

import harness

N = 20


class TestFleet(harness.RoundhouseTestCase):
    def run_fleet(self, central, *args, expect=0, timeout=120):
        proc = harness.run_program(
            "roundhouse-fleet", "--central", central.url, "--mqtt", "127.0.0.1:%d" % self.broker.port,
            "--boot-timeout", "60", "--json", *args, timeout=timeout)
        self.assertEqual(proc.returncode, expect, proc.stderr + proc.stdout)
        doc = json.loads(proc.stdout)
        self.assertEqual(doc["program"], "roundhouse-fleet")
        return doc

    def start_fleet_central(self):
        # A fleet registers from one address: lift the per-IP registration limit.
        return self.start_central("--register-rate", "100000/min", log_level="info")

    def test_boot_storm_then_reboot_creates_no_duplicates(self):
        central = self.start_fleet_central()
        doc = self.run_fleet(central, "--controllers", N, "--trains-per-controller", 2,
                             "--scenario", "boot-storm", "--seed", 7)
        boot = doc["boot"]
        self.assertTrue(boot["complete"], doc)
        self.assertEqual(boot["ready"], N, doc)
        self.assertEqual(boot["duplicates"], 0, doc)
        self.assertEqual(boot["missing"], 0, doc)
        self.assertEqual(boot["statuses"]["restored"], N, doc)  # UUID-first: unknown UUID kept
        for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "count", "per_second"):
            self.assertIn(key, doc["requests"]["register"])
        self.assertEqual(doc["requests"]["register"]["count"], N)

        rows = self.get_json(central, "/api/controllers")
        fleet_rows = [r for r in rows if r["name"].startswith("fleet-7-")]
        self.assertEqual(len(fleet_rows), N)
        self.assertEqual(len({r["id"] for r in fleet_rows}), N)
        trains = self.get_json(central, "/api/trains")
        self.assertEqual(len([t for t in trains if t["id"].startswith("fl7-")]), 2 * N)
        for row in fleet_rows:
            self.assertEqual(row["applied_config_version"], row["config_version"], row)
            self.assertEqual(len(row["trains"]), 2, row)

        # The same seed again is a reboot with cached identities: same records, no new ones.
        doc = self.run_fleet(central, "--controllers", N, "--trains-per-controller", 2,
                             "--scenario", "boot-storm", "--seed", 7)
        self.assertEqual(doc["boot"]["statuses"]["reactivated"], N, doc)
        self.assertEqual(doc["boot"]["duplicates"], 0, doc)
        rows = self.get_json(central, "/api/controllers")
        self.assertEqual(len([r for r in rows if r["name"].startswith("fleet-7-")]), N)

    def test_trained_controllers_only_the_first_carry_trains(self):
        central = self.start_fleet_central()
        doc = self.run_fleet(central, "--controllers", N, "--trains-per-controller", 2,
                             "--trained-controllers", 5, "--seed", 8)
        self.assertTrue(doc["boot"]["complete"], doc)
        self.assertEqual(doc["boot"]["ready"], N, doc)
        self.assertEqual(doc["trained_controllers"], 5, doc)
        rows = [r for r in self.get_json(central, "/api/controllers") if r["name"].startswith("fleet-8-")]
        self.assertEqual(len(rows), N)
        for row in rows:
            index = int(row["name"].rsplit("-", 1)[1])
            self.assertEqual(len(row["trains"]), 2 if index < 5 else 0, row)
        trains = [t for t in self.get_json(central, "/api/trains") if t["id"].startswith("fl8-")]
        self.assertEqual(len(trains), 10)

    def test_steady_heartbeats(self):
        central = self.start_fleet_central()
        doc = self.run_fleet(central, "--controllers", N, "--scenario", "steady", "--duration", 2,
                             "--heartbeat-interval", "0.5", "--central-pid", central.pid)
        steady = doc["steady"]
        self.assertGreater(steady["heartbeat"]["count"], 0, doc)
        self.assertEqual(steady["errors"], 0, doc)
        self.assertEqual(doc["central"]["pid"], central.pid)
        self.assertGreater(doc["central"]["rss_kib"], 0)
        ctl = self.get_json(central, "/api/controllers")[0]
        self.assertIsNotNone(ctl["last_seen"])

    def test_reassign_moves_reach_new_owner(self):
        central = self.start_fleet_central()
        doc = self.run_fleet(central, "--controllers", 6, "--trains-per-controller", 1,
                             "--scenario", "reassign", "--duration", 2, "--reassign-inflight", 2)
        ra = doc["reassign"]
        self.assertGreater(ra["moves"], 0, doc)
        self.assertEqual(ra["completed"], ra["moves"], doc)
        self.assertEqual(ra["timeouts"], 0, doc)
        self.assertEqual(ra["refused"], 0, doc)
        self.assertEqual(ra["latency"]["count"], ra["completed"])
        self.assertGreater(doc["mqtt"]["config_updates"], 0, doc)
        # Every move was reported back by its new owner, so no train was left half-moved.
        for t in self.get_json(central, "/api/trains"):
            self.assertEqual(t["desired_controller_id"], t["actual_controller_id"], t)

    def test_commands_are_answered_with_a_status(self):
        central = self.start_fleet_central()
        with harness.MqttClient(self.broker.port) as mq:
            mq.subscribe("trains/fl3-c0-t0/status")
            fleet = subprocess.Popen(
                [harness.binary("roundhouse-fleet"), "--central", central.url, "--mqtt",
                 "127.0.0.1:%d" % self.broker.port, "--controllers", "2", "--seed", "3",
                 "--scenario", "steady", "--duration", "20", "--json"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=harness._clean_env())
            try:
                harness.wait_until(
                    lambda: (self.get_json(central, "/api/trains/fl3-c0-t0")["actual_controller_id"]
                             is not None), timeout=30)
                # The controller may report the train a moment before its subscription to the
                # command topic is acknowledged (a command then is lost, as with a real edge
                # that is still connecting): send again, a bounded number of times.
                doc = None
                for _ in range(10):
                    r = central.post("/api/trains/fl3-c0-t0/command", {"action": "setSpeed", "speed": 42})
                    self.assertEqual(r.status, 202, r)
                    try:
                        doc, _ = mq.wait_message("trains/fl3-c0-t0/status",
                                                 where=lambda d: d.get("speed") == 42, timeout=3)
                        break
                    except AssertionError:
                        continue
                self.assertIsNotNone(doc, "no status answered the command")
                self.assertEqual(doc["train_id"], "fl3-c0-t0")
                self.assertEqual(doc["state"], "running")
            finally:
                fleet.terminate()
                out, err = fleet.communicate(timeout=30)
        self.assertNotIn(b"AddressSanitizer", err)
        report = json.loads(out)
        self.assertTrue(report["interrupted"])
        self.assertGreaterEqual(report["mqtt"]["commands"], 1)

    def test_usage(self):
        proc = harness.run_program("roundhouse-fleet", "--help")
        self.assertEqual(proc.returncode, 0)
        self.assertIn("--scenario", proc.stdout)
        proc = harness.run_program("roundhouse-fleet", "--version")
        self.assertEqual(proc.returncode, 0)
        self.assertTrue(proc.stdout.startswith("roundhouse-fleet "))
        for args in (["--controllers", "5"],
                     ["--central", "http://127.0.0.1:1", "--mqtt", "127.0.0.1:1", "--controllers", "0"],
                     ["--central", "ftp://x", "--mqtt", "127.0.0.1:1", "--controllers", "1"],
                     ["--central", "http://127.0.0.1:1", "--mqtt", "127.0.0.1:1", "--controllers", "1",
                      "--scenario", "nope"],
                     ["--central", "http://127.0.0.1:1", "--mqtt", "127.0.0.1:1", "--controllers", "1",
                      "--scenario", "reassign"],
                     # more trains than the central's addresses 1-9999
                     ["--central", "http://127.0.0.1:1", "--mqtt", "127.0.0.1:1", "--controllers",
                      "10000"],
                     ["--central", "http://127.0.0.1:1", "--mqtt", "127.0.0.1:1", "--controllers", "5",
                      "--trained-controllers", "6"],
                     ["--bogus"]):
            proc = harness.run_program("roundhouse-fleet", *args)
            self.assertEqual(proc.returncode, 2, (args, proc.stderr))
            self.assertIn("roundhouse-fleet:", proc.stderr)

    def test_too_many_controllers_for_the_fd_limit(self):
        def low_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

        prefix = []
        if os.geteuid() == 0:
            # Root may raise the hard limit itself: take that capability away for the run.
            if shutil.which("setpriv") is None:
                self.skipTest("setpriv (util-linux) needed to drop CAP_SYS_RESOURCE")
            prefix = ["setpriv", "--bounding-set", "-sys_resource"]
        proc = subprocess.run(
            prefix + [harness.binary("roundhouse-fleet"), "--central", "http://127.0.0.1:1", "--mqtt",
                      "127.0.0.1:1", "--controllers", "1000"],
            capture_output=True, text=True, timeout=30, preexec_fn=low_limit, env=harness._clean_env())
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("limit is 128", proc.stderr)


if __name__ == "__main__":
    harness.main()
