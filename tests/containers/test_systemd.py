"""The systemd units of deploy/ under a real systemd, PID 1 of a container.

Started by tests/containers/run.sh after the compose scenario, with its private dockerd
(DOCKER_HOST) and the image of tests/containers/Dockerfile.systemd (SYSTEMD_IMAGE):
Debian 12 with systemd, mosquitto, an i2c group and the programs of the images just built,
the two units copied as shipped. SYSTEMD_CONTAINER names the container. The test writes only what a user writes, the settings files the units
and the programs read (/etc/default/roundhouse-central, /etc/default/roundhouse-edge,
/etc/roundhouse/edge-controller.conf, a mosquitto conf.d file), with loopback ports the
kernel picked: the container uses the host's network. The steps depend on each other, so
they run as one test, in order:

1. The units in the container are deploy/'s, without drop-ins; both are enabled.
2. First boot, no cache, central stopped: `systemctl start roundhouse-edge` returns once
   READY=1 arrived (Type=notify): active (running), STATUS= "waiting for the central API".
   The sandbox is in force and the program runs in it: a dynamic user, no capabilities,
   no_new_privs, a seccomp filter, its own mount namespace with / read-only and only its
   state directory writable.
3. `systemctl start roundhouse-central`: active (running) once READY=1 came, the same
   sandbox checks; its SQLite file in its state directory, owned by its dynamic user. The
   edge registers, and its STATUS= text changes to what it runs (config, train, broker
   connected): the first boot's waiting text does not stay. A train driven over the API
   moves (a command through the broker).
4. Both feed their watchdog (WatchdogSec=): the last ping time advances.
5. kill -9 of the edge's main PID: systemd restarts it (Restart=always), the new process has
   the same UUID (StateDirectory= kept) and is active (running) again.
6. `systemctl stop roundhouse-edge`, then the central: each exits by itself with status 0
   within TimeoutStopSec (Result=success, no SIGKILL); the edge stopped its train.
7. Over the whole run no watchdog timeout and no restart other than step 5's.
8. Without the i2c group (a machine without the HAT) the edge cannot start (216/GROUP);
   the drop-in of docs/deploy.md (an empty SupplementaryGroups=) lets it run.

Every wait is bounded in time; the container is removed at the end, also on failure.
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
import harness  # noqa: E402  (HttpClient, wait_until, free_port)

IMAGE = os.environ.get("SYSTEMD_IMAGE", "roundhouse-systemd:test")
NAME = os.environ.get("SYSTEMD_CONTAINER", "rhsystemd%d" % os.getpid())
UNITS = ["roundhouse-central.service", "roundhouse-edge.service"]
EDGE, CENTRAL = "roundhouse-edge", "roundhouse-central"
CMD_TIMEOUT = 120  # any one docker command (systemctl start waits for READY=1)
BOOT_TIMEOUT = 60  # systemd up in the container
WAIT = 30  # a unit's state, a registration
WAITING_TEXT = "waiting for the central API"


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


def sh(*argv, **kw):
    """A command in the container."""
    return run(["docker", "exec", "-i", NAME] + list(argv), **kw)


def write(path, text):
    sh("sh", "-c", 'mkdir -p "$(dirname "$1")" && cat >"$1"', "-", path, input=text, quiet=True)


def show(unit, *props):
    out = sh("systemctl", "show", unit, *["-p" + p for p in props], quiet=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def cursor():
    out = sh("journalctl", "--show-cursor", "-n", "0", quiet=True).stdout
    return [line[len("-- cursor: "):] for line in out.splitlines()
            if line.startswith("-- cursor: ")][0]


def journal(unit, after=None):
    """The unit's journal entries (its own lines and systemd's about it), oldest first."""
    argv = ["journalctl", "-u", unit, "-o", "json", "--no-pager"]
    if after:
        argv.append("--after-cursor=" + after)
    out = sh(*argv, quiet=True, check=False).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def messages(entries):
    return [e.get("MESSAGE") for e in entries if isinstance(e.get("MESSAGE"), str)]


def events(entries, event):
    found = []
    for m in messages(entries):
        try:
            doc = json.loads(m)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("event") == event:
            found.append(doc)
    return found


def proc_status(pid):
    text = sh("cat", "/proc/%s/status" % pid, quiet=True).stdout
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def mount_options(pid):
    """{mount point: options} of the process's mount namespace (/proc/PID/mountinfo)."""
    text = sh("cat", "/proc/%s/mountinfo" % pid, quiet=True).stdout
    return {f[4]: f[5].split(",") for f in (line.split() for line in text.splitlines())}


class SystemdUnits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ports = set()
        while len(ports) < 3:
            ports.add(harness.free_port())
        cls.mqtt_port, cls.central_port, cls.health_port = sorted(ports)
        # systemd as PID 1: /run and /run/lock tmpfs; CAP_SYS_ADMIN for the mount namespaces
        # of ProtectSystem= & co.; the host's cgroup tree writable so that systemd makes its
        # own cgroups under the container's (cgroupns host; on this machine's v1 hierarchies
        # docker mounts them read-only otherwise). Not --privileged: /proc/sys stays
        # read-only, so neither PID 1 nor systemd-sysctl changes the host's kernel settings.
        cls.addClassCleanup(run, ["docker", "rm", "-f", NAME], check=False)
        run(["docker", "run", "-d", "--name", NAME, "--network", "host", "--tmpfs", "/run",
             "--tmpfs", "/run/lock", "--cgroupns", "host", "--cap-add", "SYS_ADMIN",
             "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", IMAGE])

        def booted():
            p = sh("systemctl", "is-system-running", check=False, quiet=True)
            return p.stdout.strip() in ("running", "degraded") and p.stdout.strip()
        state = harness.wait_until(booted, timeout=BOOT_TIMEOUT, interval=0.5,
                                   message="systemd booted")
        print("  systemd in the container: %s" % state, flush=True)

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            p = sh("journalctl", "--no-pager", "-o", "short-monotonic", "-n", "150",
                   check=False, quiet=True)
            print("---- journal ----\n%s%s" % (p.stdout, p.stderr))
        return out

    def configure(self):
        central_url = "http://127.0.0.1:%d" % self.central_port
        write("/etc/mosquitto/conf.d/roundhouse-test.conf",
              "listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
              % self.mqtt_port)
        write("/etc/default/roundhouse-central",
              "ROUNDHOUSE_LISTEN=127.0.0.1:%d\nMQTT_BROKER_HOST=127.0.0.1\n"
              "MQTT_BROKER_PORT=%d\nROUNDHOUSE_WITHROTTLE_LISTEN=127.0.0.1:0\n"
              % (self.central_port, self.mqtt_port))
        write("/etc/default/roundhouse-edge",
              "CENTRAL_API_URL=%s\nHEALTH_LISTEN=127.0.0.1:%d\nSIMULATION_MODE=true\n"
              % (central_url, self.health_port))
        write("/etc/roundhouse/edge-controller.conf",
              "controller_name: systemd-pi\ntrain_id: train-sd\ntrain_name: Systemd express\n"
              "motor_port: 1\n")
        sh("systemctl", "enable", *UNITS)
        sh("systemctl", "start", "mosquitto.service")

    def assert_running(self, unit):
        p = show(unit, "Type", "ActiveState", "SubState", "MainPID", "StatusText", "NRestarts",
                 "WatchdogUSec")
        self.assertEqual(p["Type"], "notify", p)
        self.assertEqual((p["ActiveState"], p["SubState"]), ("active", "running"), p)
        self.assertNotEqual(p["MainPID"], "0", p)
        return p

    def assert_sandboxed(self, unit, state_dir):
        """The unit's sandbox as the program sees it: systemd applied it, and the program
        runs inside it (it is active and has served by the time this is called)."""
        pid = show(unit, "MainPID")["MainPID"]
        st = proc_status(pid)
        uid = int(st["Uid"].split()[0])
        self.assertTrue(61184 <= uid <= 65519, "%s: not a dynamic user: %s" % (unit, st["Uid"]))
        self.assertEqual(int(st["CapEff"], 16), 0, st)
        self.assertEqual(int(st["CapBnd"], 16), 0, st)
        self.assertEqual(st["NoNewPrivs"].strip(), "1", st)
        self.assertEqual(st["Seccomp"].strip(), "2", st)  # filter mode
        # The container's / is writable: read-only here means a mount namespace of its own.
        self.assertIn("rw", mount_options("self")["/"])
        mounts = mount_options(pid)
        self.assertIn("ro", mounts["/"], "ProtectSystem=strict: / not read-only")
        private = "/var/lib/private/" + state_dir
        self.assertIn("rw", mounts.get(private, []), "%s not writable: %r" % (private, mounts))
        owner = sh("stat", "-c", "%U %a", private, quiet=True).stdout.split()
        self.assertEqual(owner, [unit, "750"])  # DynamicUser= names the user after the unit
        return uid

    def test_units(self):
        t0 = time.monotonic()
        central = harness.HttpClient("127.0.0.1", self.central_port)
        health = harness.HttpClient("127.0.0.1", self.health_port)
        start_cursor = cursor()

        print("\n1. the units as shipped, enabled", flush=True)
        for unit in UNITS:
            with open(os.path.join(ROOT, "deploy", unit), encoding="utf-8") as f:
                self.assertEqual(sh("cat", "/etc/systemd/system/" + unit, quiet=True).stdout,
                                 f.read())
            self.assertEqual(show(unit, "DropInPaths")["DropInPaths"], "")
        self.configure()

        print("2. first boot, no cache, central stopped: the edge starts", flush=True)
        self.assertNotEqual(sh("test", "-e", "/var/lib/private/roundhouse-edge",
                               check=False).returncode, 0)
        sh("systemctl", "start", EDGE)  # returns once READY=1 came
        edge = self.assert_running(EDGE)
        self.assertIn(WAITING_TEXT, edge["StatusText"])
        self.assertEqual(edge["WatchdogUSec"], "20s")
        self.assertEqual(events(journal(EDGE), "edge_ready")[-1]["systemd"], True)
        self.assertEqual(show(CENTRAL, "ActiveState")["ActiveState"], "inactive")
        edge_uid = self.assert_sandboxed(EDGE, "roundhouse-edge")

        print("3. the central starts; the edge registers and its status follows", flush=True)
        sh("systemctl", "start", CENTRAL)
        cent = self.assert_running(CENTRAL)
        self.assertIn("serving on 127.0.0.1:%d" % self.central_port, cent["StatusText"])
        self.assertEqual(cent["WatchdogUSec"], "30s")
        central_uid = self.assert_sandboxed(CENTRAL, "roundhouse")
        self.assertNotEqual(central_uid, edge_uid)
        owner = sh("stat", "-c", "%U", "/var/lib/private/roundhouse/roundhouse.db",
                   quiet=True).stdout.strip()
        self.assertEqual(owner, CENTRAL)

        def registered():
            text = show(EDGE, "StatusText")["StatusText"]
            return WAITING_TEXT not in text and "connected" in text and text
        text = harness.wait_until(registered, timeout=WAIT, interval=0.5,
                                  message="the edge's STATUS= after its registration")
        print("  edge status: %s" % text, flush=True)
        self.assertIn("1 train(s)", text)
        self.assertNotIn("not connected", text)
        uuid = health.get("/health").json["controller_uuid"]
        ctrl = harness.wait_until(
            lambda: [c for c in central.get("/api/controllers").json
                     if c["id"] == uuid and c["status"] == "online"],
            timeout=WAIT, interval=0.5, message="the edge online at the central")
        self.assertEqual(ctrl[0]["name"], "systemd-pi")
        # A command through the broker, under both system-call filters.
        r = central.post("/api/trains/train-sd/command", {"action": "setSpeed", "speed": 40})
        self.assertLess(r.status, 300, r)
        harness.wait_until(lambda: health.get("/health").json["trains"][0]["speed"] > 0,
                           timeout=WAIT, interval=0.2, message="train-sd moving")
        reg = events(journal(EDGE), "controller_registered")
        self.assertEqual([(r["uuid"], r["status"]) for r in reg], [(uuid, "registered")])

        print("4. both feed their watchdog", flush=True)
        for unit in (EDGE, CENTRAL):
            first = int(show(unit, "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"])
            self.assertGreater(first, 0, "%s: no WATCHDOG=1 yet" % unit)
            harness.wait_until(
                lambda: int(show(unit, "WatchdogTimestampMonotonic")
                            ["WatchdogTimestampMonotonic"]) > first,
                timeout=10, interval=0.5, message=unit + ": WATCHDOG=1 again")

        print("5. kill -9 of the edge's main PID: restarted, same UUID", flush=True)
        old_pid = show(EDGE, "MainPID")["MainPID"]
        sh("bash", "-c", "kill -KILL %s" % old_pid)

        def restarted():
            p = show(EDGE, "MainPID", "ActiveState", "SubState", "NRestarts")
            return (p["MainPID"] not in ("0", old_pid) and p["ActiveState"] == "active"
                    and p["SubState"] == "running" and p)
        p = harness.wait_until(restarted, timeout=WAIT, interval=0.5,
                               message="the edge restarted by systemd")
        self.assertEqual(p["NRestarts"], "1", p)
        self.assert_running(EDGE)
        again = harness.wait_until(
            lambda: events(journal(EDGE), "controller_registered")[1:],
            timeout=WAIT, interval=0.5, message="the restarted edge registered")
        self.assertEqual(again[0]["uuid"], uuid, again)
        self.assertEqual(again[0]["status"], "reactivated", again)
        self.assertEqual(health.get("/health").json["controller_uuid"], uuid)
        harness.wait_until(lambda: "connected" in show(EDGE, "StatusText")["StatusText"]
                           and WAITING_TEXT not in show(EDGE, "StatusText")["StatusText"],
                           timeout=WAIT, interval=0.5, message="the restarted edge's status")
        self.assertEqual(len(central.get("/api/controllers").json), 1)

        print("6. systemctl stop: clean exits, no SIGKILL", flush=True)
        for unit in (EDGE, CENTRAL):
            before = cursor()
            t = time.monotonic()
            sh("systemctl", "stop", unit)
            print("  %s stopped in %.1f s" % (unit, time.monotonic() - t), flush=True)
            p = show(unit, "ActiveState", "Result", "ExecMainCode", "ExecMainStatus",
                     "TimeoutStopUSec")
            # ExecMainCode 1 is CLD_EXITED (2 would be killed by a signal).
            self.assertEqual((p["ActiveState"], p["Result"], p["ExecMainCode"],
                              p["ExecMainStatus"]), ("inactive", "success", "1", "0"), p)
            said = messages(journal(unit, after=before))
            self.assertFalse([m for m in said if "SIGKILL" in m or "Killing" in m
                              or "timed out" in m], said)
            if unit == EDGE:
                stopped = events(journal(unit, after=before), "edge_stopped")
                self.assertEqual([e.get("trains_stopped") for e in stopped], [1])

        print("7. no watchdog timeout, no other restart", flush=True)
        for unit in (EDGE, CENTRAL):
            said = messages(journal(unit, after=start_cursor))
            self.assertFalse([m for m in said if "atchdog timeout" in m], said)
            self.assertEqual(len([m for m in said if "Scheduled restart job" in m]),
                             1 if unit == EDGE else 0, said)

        print("8. no i2c group (a machine without the HAT): 216/GROUP; the drop-in", flush=True)
        sh("groupdel", "i2c")
        self.assertNotEqual(sh("systemctl", "start", EDGE, check=False).returncode, 0)
        p = show(EDGE, "ExecMainStatus")
        sh("systemctl", "stop", EDGE)  # no more restarts of a unit that cannot start
        sh("systemctl", "reset-failed", EDGE)
        self.assertEqual(p["ExecMainStatus"], "216", p)
        write("/etc/systemd/system/roundhouse-edge.service.d/simulated.conf",
              "[Service]\nSupplementaryGroups=\n")
        sh("systemctl", "daemon-reload")
        sh("systemctl", "start", EDGE)
        self.assert_running(EDGE)
        self.assertEqual(health.get("/health").json["controller_uuid"], uuid)
        sh("systemctl", "stop", EDGE)
        self.assertEqual(show(EDGE, "Result")["Result"], "success")
        print("systemd units: %.1f s" % (time.monotonic() - t0), flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
