"""The owner's container scenario, against the compose stack of deploy/compose.yaml.

Started by tests/containers/run.sh (make test-containers), which provides a private dockerd
(DOCKER_HOST), the images built from a local Debian 12 base, and the environment of the
stack: COMPOSE_PROJECT_NAME, ROUNDHOUSE_TAG, loopback ports (CENTRAL_PORT, MQTT_PORT,
MOTOR1_HEALTH_PORT, MOTOR2_HEALTH_PORT), ROUNDHOUSE_SIMULATE=true, PI_NAME, and COMPOSE (the
compose command). The steps depend on each other, so they run as one test, in order:

1. up: two edge containers of one Pi register as two controllers, one train each; every
   container becomes healthy; a train driven over the API moves; SIGTERM stops it (exit 0).
2. scripts/teardown (default) removes the containers and keeps the volumes; the edge image is
   rebuilt (a new image id); up: the same two UUIDs, "reactivated", still two controllers.
3. scripts/teardown --export FILE --remove-db: the central's volume is gone, the edges' kept;
   up: each edge presents its UUID and is "restored"; still two controllers, each with its
   train again (TRAIN_ID). --import FILE brings back what only the export had.
4. One edge's state volume removed: that edge has no UUID and no controller secret, and
   registers by name; the old record holds a secret, so the central gives the edge a new
   controller ("registered", a new UUID) and keeps the old one offline. Deleting the old
   record and restarting the edges gives two controllers again, each with its train.
5. scripts/teardown --remove-volumes --yes removes every volume of the stack.

Every wait is bounded in time; the stack is removed at the end, also on failure.
"""
import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402  (HttpClient, wait_until)

PROJECT = os.environ["COMPOSE_PROJECT_NAME"]
COMPOSE = os.environ.get("COMPOSE", "docker-compose").split()
FILES = ["-f", os.path.join(ROOT, "deploy", "compose.yaml")]
TEARDOWN = os.path.join(ROOT, "scripts", "teardown")
PI = os.environ.get("PI_NAME", "pi")
NAMES = {PI + "-motor1": "train-1", PI + "-motor2": "train-2"}
EDGES = ["edge-motor1", "edge-motor2"]
CMD_TIMEOUT = 300  # any one docker / compose command
UP_TIMEOUT = 120  # the stack healthy and registered after `up`


def run(argv, timeout=CMD_TIMEOUT, check=True, input=None, quiet=False):
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
    if not quiet:
        print("  $ %s  (%.1f s, exit %d)" % (" ".join(argv), time.monotonic() - t0, p.returncode),
          flush=True)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (argv, p.returncode, p.stdout[-3000:],
                                                         p.stderr[-3000:]))
    return p


def compose(*args, **kw):
    return run(COMPOSE + ["-p", PROJECT] + FILES + list(args), **kw)


def teardown(*args, **kw):
    return run([TEARDOWN, "-p", PROJECT] + list(args), **kw)


def container(service):
    out = run(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=" + PROJECT,
               "--filter", "label=com.docker.compose.service=" + service],
              quiet=True).stdout.split()
    return out[0] if out else None


def inspect(ref, fmt):
    return run(["docker", "inspect", "-f", fmt, ref], quiet=True).stdout.strip()


def volumes():
    out = run(["docker", "volume", "ls", "-q", "--filter",
               "label=com.docker.compose.project=" + PROJECT], quiet=True).stdout.split()
    return sorted(v[len(PROJECT) + 1:] for v in out)


def log_events(cid, event):
    p = run(["docker", "logs", cid], check=False, quiet=True)
    found = []
    for line in (p.stdout + p.stderr).splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("event") == event:
            found.append(doc)
    return found


class ComposeScenario(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.central = harness.HttpClient("127.0.0.1", int(os.environ["CENTRAL_PORT"]))
        cls.health = {
            "edge-motor1": harness.HttpClient("127.0.0.1", int(os.environ["MOTOR1_HEALTH_PORT"])),
            "edge-motor2": harness.HttpClient("127.0.0.1", int(os.environ["MOTOR2_HEALTH_PORT"])),
        }
        cls.export_file = os.path.join(os.environ.get("W", "/tmp"), PROJECT + "-registry.json")

    @classmethod
    def tearDownClass(cls):
        compose("down", "--volumes", "--timeout", "20", check=False)
        if os.path.exists(cls.export_file):
            os.unlink(cls.export_file)

    def dump_logs(self):
        for s in ["mosquitto", "central"] + EDGES:
            cid = container(s)
            if cid:
                p = run(["docker", "logs", "--tail", "40", cid], check=False, quiet=True)
                print("---- %s ----\n%s%s" % (s, p.stdout, p.stderr))

    def run(self, result=None):
        # The containers' logs when the scenario fails.
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            self.dump_logs()
        return out

    def up_and_registered(self, expected_status, two_controllers=True, args=("up", "-d", "--no-build")):
        """`up`, then wait until every container is healthy and each edge has registered
        with the central; returns {service: (uuid, registration status)}."""
        # A restart keeps the containers and their logs: wait for a registration after it.
        before = {s: len(log_events(container(s), "controller_registered")) if container(s) else 0
                  for s in EDGES}
        compose(*args)
        for s in ["mosquitto", "central"] + EDGES:
            cid = container(s)
            harness.wait_until(lambda: inspect(cid, "{{.State.Health.Status}}") == "healthy",
                               timeout=UP_TIMEOUT, interval=1.0, message=s + " healthy")
        seen = {}
        for s in EDGES:
            cid = container(s)
            reg = harness.wait_until(
                lambda: (lambda r: r if len(r) > before[s] else None)(
                    log_events(cid, "controller_registered")),
                timeout=UP_TIMEOUT, interval=0.5, message=s + " registered")
            uuid = self.health[s].get("/health").json["controller_uuid"]
            self.assertEqual(reg[-1]["uuid"], uuid)
            want = expected_status if isinstance(expected_status, str) else expected_status[s]
            self.assertEqual(reg[-1]["status"], want, "%s: %r" % (s, reg))
            seen[s] = uuid
        if two_controllers:
            self.assert_two_controllers(seen)
        return seen

    def assert_two_controllers(self, seen):
        """Two controllers, one per motor container, each running its own train."""
        def listed():
            ctrl = self.central.get("/api/controllers").json
            trains = self.central.get("/api/trains").json
            if len(ctrl) != 2 or len(trains) != 2:
                return None
            if any(c["status"] != "online" for c in ctrl):
                return None
            return ctrl, trains
        ctrl, trains = harness.wait_until(listed, timeout=60, interval=0.5,
                                          message="two online controllers with a train each")
        self.assertEqual(sorted(c["id"] for c in ctrl), sorted(seen.values()))
        by_uuid = {c["id"]: c["name"] for c in ctrl}
        self.assertEqual(sorted(by_uuid.values()), sorted(NAMES))
        for t in trains:
            self.assertEqual(NAMES[by_uuid[t["controller_id"]]], t["id"])

    def test_scenario(self):
        t0 = time.monotonic()
        print("\n1. up: two motor containers, two controllers", flush=True)
        first = self.up_and_registered("registered")
        self.assertNotEqual(first["edge-motor1"], first["edge-motor2"])
        self.assertEqual(inspect(container("edge-motor1"), "{{.Config.User}}"), "roundhouse")
        r = self.central.post("/api/trains/train-1/command", {"action": "setSpeed", "speed": 40})
        self.assertLess(r.status, 300, r)
        harness.wait_until(
            lambda: self.health["edge-motor1"].get("/health").json["trains"][0]["speed"] > 0,
            timeout=30, interval=0.2, message="train-1 moving")
        cid = container("edge-motor1")
        compose("stop", "--timeout", "15", "edge-motor1")
        self.assertEqual(inspect(cid, "{{.State.ExitCode}}"), "0")
        stopped = log_events(cid, "edge_stopped")
        self.assertEqual([e.get("trains_stopped") for e in stopped], [1])
        self.assertEqual(sorted(volumes()), sorted(
            ["central-db", "edge-motor1-state", "edge-motor2-state", "mosquitto-data"]))

        print("2. teardown (default), rebuild the edge image, up: same UUIDs", flush=True)
        image = "%s-edge:%s" % (os.environ.get("ROUNDHOUSE_IMAGE_PREFIX", "roundhouse"),
                                os.environ["ROUNDHOUSE_TAG"])
        old_image = inspect(image, "{{.Id}}")
        teardown()
        self.assertIsNone(container("central"))
        self.assertEqual(len(volumes()), 4)
        run(["docker", "build", "--pull=false", "--network", "host", "-q",
             "--build-arg", "BASE_IMAGE=" + os.environ["BASE_TAG"],
             "--build-arg", "ROUNDHOUSE_BUILD_ID=rebuild-%d" % time.time(),
             "--target", "edge", "-t", image, ROOT])
        new_image = inspect(image, "{{.Id}}")
        self.assertNotEqual(new_image, old_image)
        second = self.up_and_registered("reactivated")
        self.assertEqual(second, first)
        self.assertEqual(inspect(container("edge-motor1"), "{{.Image}}"), new_image)

        print("3. teardown --export --remove-db, up: UUIDs restored; --import", flush=True)
        r = self.central.patch("/api/controllers/" + first["edge-motor1"],
                               {"description": "motor port 1 of the yard Pi"})
        self.assertEqual(r.status, 200, r)
        teardown("--export", self.export_file, "--remove-db")
        with open(self.export_file, encoding="utf-8") as f:
            exported = json.load(f)
        self.assertEqual(len(exported["controllers"]), 2)
        self.assertEqual(volumes(), ["edge-motor1-state", "edge-motor2-state", "mosquitto-data"])
        third = self.up_and_registered("restored")
        self.assertEqual(third, first)
        c1 = self.central.get("/api/controllers/" + first["edge-motor1"]).json
        self.assertIsNone(c1.get("description"))
        teardown("--import", self.export_file)
        c1 = self.central.get("/api/controllers/" + first["edge-motor1"]).json
        self.assertEqual(c1.get("description"), "motor port 1 of the yard Pi")
        self.assert_two_controllers(first)

        print("4. one edge's state volume lost: a new controller; the old record deleted",
              flush=True)
        # The old record holds the controller secret the lost volume had, so the central does
        # not hand its UUID to an edge that registers by name only (docs/security.md).
        teardown()
        run(["docker", "volume", "rm", PROJECT + "_edge-motor2-state"])
        fourth = self.up_and_registered({"edge-motor1": "reactivated", "edge-motor2": "registered"},
                                        two_controllers=False)
        self.assertEqual(fourth["edge-motor1"], first["edge-motor1"])
        self.assertNotEqual(fourth["edge-motor2"], first["edge-motor2"])
        old = self.central.get("/api/controllers/" + first["edge-motor2"]).json
        self.assertNotEqual(old["status"], "online")
        self.assertEqual(old["name"], PI + "-motor2")
        # The operator's recovery: delete the old record (its train becomes unassigned), then
        # restart the edge, whose TRAIN_ID registration takes the train.
        r = self.central.delete("/api/controllers/" + first["edge-motor2"])
        self.assertEqual(r.status, 204, r.body)
        fifth = self.up_and_registered({"edge-motor1": "reactivated", "edge-motor2": "reactivated"},
                                       args=("restart", "edge-motor1", "edge-motor2"))
        self.assertEqual(fifth, fourth)

        print("5. teardown --remove-volumes --yes", flush=True)
        p = teardown("--remove-volumes", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(len(volumes()), 4)
        teardown("--remove-volumes", "--yes")
        self.assertEqual(volumes(), [])
        self.assertIsNone(container("central"))
        print("scenario: %.1f s" % (time.monotonic() - t0), flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
