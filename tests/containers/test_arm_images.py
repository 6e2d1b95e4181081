"""The Raspberry Pi images (scripts/build-images, Dockerfile.cross) on this x86-64 machine.

Started by tests/containers/run.sh after the compose scenario, with its private dockerd
(DOCKER_HOST), the amd64 images (PREFIX-TARGET:TAG) and the ARM images it just built
(PREFIX-TARGET:TAG-ARCH, archives in ARM_DIST, OCI layouts in ARM_OCI). Environment:
ROUNDHOUSE_IMAGE_PREFIX, ROUNDHOUSE_TAG, ARM_ARCHES ("arm64 armhf"), ARM_DIST, ARM_OCI.

1. Every image has the platform of its architecture in `docker image inspect` (linux, arm64/v8
   or arm/v7), and its programs (copied out of the image) are ARM ELF files of that width.
2. Each ARM image's runtime configuration (entry point, user, volumes, health check, stop
   signal, environment, title) is the amd64 image's: Dockerfile.cross repeats ./Dockerfile's.
3. The `docker save | gzip` archives name their image and load back to the same image id.
4. The OCI layouts' index lists one manifest per architecture with its platform, every blob
   present with its digest, each manifest's configuration of that architecture.
5. Under emulation without binfmt_misc: the images' own ARM programs started through
   qemu-user-static as the container's entry point (no kernel setting needed): the arm64
   broker and central, an arm64 and an armhf edge. Each edge answers --version, serves
   /health, registers its train with the central (both listed, online), and stops with exit 0
   and `edge_stopped` on `docker stop`. Skipped when qemu-user-static is not installed.
6. With binfmt_misc (a qemu-aarch64 entry with the F flag): the arm64 edge image runs as is,
   and docker's own HEALTHCHECK (bash under emulation) reports it healthy. Skipped with the
   reason otherwise (this machine has binfmt_misc unmounted; registering an interpreter would
   change the whole host, which a test must not do).
"""
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402  (HttpClient, wait_until, free_port)

PREFIX = os.environ.get("ROUNDHOUSE_IMAGE_PREFIX", "roundhouse")
TAG = os.environ.get("ROUNDHOUSE_TAG", "test")
ARCHES = os.environ.get("ARM_ARCHES", "arm64 armhf").split()
DIST = os.environ.get("ARM_DIST", "")
OCI = os.environ.get("ARM_OCI", "")
TARGETS = ["edge", "central", "mosquitto"]
PLATFORM = {"arm64": ("arm64", "v8"), "armhf": ("arm", "v7")}
ELF = {"arm64": ("ELF 64-bit LSB", "ARM aarch64"), "armhf": ("ELF 32-bit LSB", "ARM, EABI5")}
QEMU = {"arm64": "/usr/bin/qemu-aarch64-static", "armhf": "/usr/bin/qemu-arm-static"}
PROGRAMS = {"edge": ["roundhouse-edge"], "central": ["roundhouse-central", "roundhouse"],
            "mosquitto": []}
CMD_TIMEOUT = 300
WAIT = 90  # a program under emulation up and registered
LABEL = "org.roundhouse.test=arm%d" % os.getpid()


def run(argv, timeout=CMD_TIMEOUT, check=True, quiet=False):
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if not quiet:
        print("  $ %s  (%.1f s, exit %d)" % (" ".join(argv), time.monotonic() - t0, p.returncode),
              flush=True)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (argv, p.returncode, p.stdout[-3000:],
                                                         p.stderr[-3000:]))
    return p


def ref(target, arch=None):
    return "%s-%s:%s%s" % (PREFIX, target, TAG, "-" + arch if arch else "")


def inspect(image):
    return json.loads(run(["docker", "image", "inspect", image], quiet=True).stdout)[0]


def binfmt_entry():
    """(usable, reason): a registered qemu-aarch64 interpreter that containers can use."""
    base = "/proc/sys/fs/binfmt_misc"
    if not os.path.exists(os.path.join(base, "status")):
        return False, "binfmt_misc is not mounted on %s" % base
    for name in sorted(os.listdir(base)):
        if "aarch64" not in name:
            continue
        try:
            with open(os.path.join(base, name)) as f:
                text = f.read()
        except OSError:
            continue
        flags = next((l.split(":", 1)[1].strip() for l in text.splitlines()
                      if l.startswith("flags:")), "")
        if text.startswith("enabled") and "F" in flags:
            return True, name
        return False, "binfmt_misc entry %s is disabled or lacks the F (fix binary) flag" % name
    return False, "binfmt_misc has no qemu-aarch64 entry (update-binfmts or systemd-binfmt)"


class ArmImages(unittest.TestCase):
    def setUp(self):
        self.containers = []

    def tearDown(self):
        ids = run(["docker", "ps", "-aq", "--filter", "label=" + LABEL], quiet=True).stdout.split()
        for cid in ids:
            if self._outcome_failed():
                p = run(["docker", "logs", "--tail", "30", cid], check=False, quiet=True)
                print("---- %s ----\n%s%s" % (cid[:12], p.stdout, p.stderr))
        if ids:
            run(["docker", "rm", "-f", "-v"] + ids, check=False, quiet=True)

    def _outcome_failed(self):
        outcome = getattr(self, "_outcome", None)
        errors = getattr(outcome, "errors", None) or getattr(getattr(outcome, "result", None),
                                                             "errors", [])
        return bool(errors) or bool(getattr(getattr(outcome, "result", None), "failures", []))

    def docker_run(self, image, *args, env=None, qemu=None, detach=True, extra=()):
        argv = ["docker", "run", "--network", "host", "--label", LABEL]
        argv += ["-d"] if detach else ["--rm"]
        for k, v in (env or {}).items():
            argv += ["-e", "%s=%s" % (k, v)]
        if qemu:
            # The static x86-64 emulator as the entry point: it loads the image's ARM program
            # and the image's ARM libraries; no binfmt_misc needed. The image's health check
            # (an ARM bash) cannot run this way.
            argv += ["-v", "%s:/qemu:ro" % qemu, "--entrypoint", "/qemu", "--no-healthcheck"]
        argv += list(extra) + [image] + list(args)
        return run(argv)

    # 1 --------------------------------------------------------------------------------------
    def test_1_platform_and_elf(self):
        tmp = tempfile.mkdtemp(prefix="rh-arm-")
        for arch in ARCHES:
            for t in TARGETS:
                doc = inspect(ref(t, arch))
                self.assertEqual((doc["Os"], doc["Architecture"], doc.get("Variant", "")),
                                 ("linux",) + PLATFORM[arch], ref(t, arch))
                print("  %s: %s/%s/%s, %.1f MB" % (ref(t, arch), doc["Os"], doc["Architecture"],
                                                   doc.get("Variant", ""), doc["Size"] / 1e6))
                if not PROGRAMS[t]:
                    continue
                cid = run(["docker", "create", "--label", LABEL, ref(t, arch)]).stdout.strip()
                for p in PROGRAMS[t]:
                    dest = os.path.join(tmp, "%s-%s" % (p, arch))
                    run(["docker", "cp", "%s:/usr/local/bin/%s" % (cid, p), dest], quiet=True)
                    kind = run(["file", "-b", dest], quiet=True).stdout
                    for want in ELF[arch]:
                        self.assertIn(want, kind, "%s in %s" % (p, ref(t, arch)))
                    self.assertIn(", stripped", kind, p)
                    os.unlink(dest)
                run(["docker", "rm", cid], quiet=True)
        os.rmdir(tmp)

    # 2 --------------------------------------------------------------------------------------
    def test_2_config_as_amd64(self):
        fields = ["Entrypoint", "Cmd", "User", "Volumes", "Healthcheck", "StopSignal",
                  "WorkingDir", "ExposedPorts"]

        def runtime(image):
            c = inspect(image)["Config"]
            out = {f: c.get(f) for f in fields}
            out["Env"] = sorted(e for e in c.get("Env") or []
                                if not e.startswith(("PATH=", "DEBIAN_FRONTEND=")))
            out["title"] = (c.get("Labels") or {}).get("org.opencontainers.image.title")
            return out

        for t in TARGETS:
            want = runtime(ref(t))
            for arch in ARCHES:
                self.assertEqual(runtime(ref(t, arch)), want, "%s against %s" % (ref(t, arch), ref(t)))

    # 3 --------------------------------------------------------------------------------------
    def test_3_archives(self):
        if not DIST:
            self.skipTest("ARM_DIST not set")
        for arch in ARCHES:
            for t in TARGETS:
                path = os.path.join(DIST, "%s-%s-%s-%s.tar.gz" % (PREFIX, t, TAG, arch))
                with gzip.open(path) as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
                    manifest = None
                    for member in tar:
                        if member.name == "manifest.json":
                            manifest = json.load(tar.extractfile(member))
                self.assertEqual(manifest[0]["RepoTags"], [ref(t, arch)], path)
                print("  %s: %.1f MB" % (os.path.basename(path), os.path.getsize(path) / 1e6))
        # The way the Ansible role ships it: the image gone, `docker load` brings it back.
        arch = ARCHES[0]
        image_id = inspect(ref("edge", arch))["Id"]
        run(["docker", "rmi", ref("edge", arch)])
        run(["docker", "load", "--input",
             os.path.join(DIST, "%s-edge-%s-%s.tar.gz" % (PREFIX, TAG, arch))])
        doc = inspect(ref("edge", arch))
        self.assertEqual(doc["Id"], image_id)
        self.assertEqual((doc["Architecture"], doc.get("Variant", "")), PLATFORM[arch])

    # 4 --------------------------------------------------------------------------------------
    def test_4_oci_index(self):
        if not OCI:
            self.skipTest("ARM_OCI not set")
        for t in TARGETS:
            layout = os.path.join(OCI, "%s-%s" % (PREFIX, t))

            def blob(digest):
                algo, hexd = digest.split(":", 1)
                with open(os.path.join(layout, "blobs", algo, hexd), "rb") as f:
                    data = f.read()
                self.assertEqual(hashlib.sha256(data).hexdigest(), hexd, "blob " + digest)
                return data

            with open(os.path.join(layout, "oci-layout")) as f:
                self.assertEqual(json.load(f)["imageLayoutVersion"], "1.0.0")
            with open(os.path.join(layout, "index.json")) as f:
                top = json.load(f)
            self.assertEqual(len(top["manifests"]), 1)
            entry = top["manifests"][0]
            self.assertEqual(entry["mediaType"], "application/vnd.oci.image.index.v1+json")
            self.assertEqual(entry["annotations"]["org.opencontainers.image.ref.name"], TAG)
            index = json.loads(blob(entry["digest"]))
            seen = {}
            for m in index["manifests"]:
                p = m["platform"]
                manifest = json.loads(blob(m["digest"]))
                config = json.loads(blob(manifest["config"]["digest"]))
                self.assertEqual((config["architecture"], config.get("variant", "")),
                                 (p["architecture"], p.get("variant", "")))
                for layer in manifest["layers"]:
                    self.assertTrue(os.path.exists(os.path.join(
                        layout, "blobs", "sha256", layer["digest"].split(":", 1)[1])))
                seen[(p["os"], p["architecture"], p.get("variant", ""))] = m["digest"]
            self.assertEqual(sorted(seen), sorted(("linux",) + PLATFORM[a] for a in ARCHES), layout)
            # What a registry push would read: skopeo picks one platform of the index and
            # hands it to docker, which gets the very image that was built.
            if not shutil.which("skopeo"):
                print("  skopeo not installed: the layout is not read back")
                continue
            arch = ARCHES[-1]
            arch_name, variant = PLATFORM[arch]
            copy = "%s-%s:oci-%s" % (PREFIX, t, arch)
            run(["skopeo", "--override-os", "linux", "--override-arch", arch_name,
                 "--override-variant", variant, "copy", "--dest-daemon-host",
                 os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
                 "oci:%s:%s" % (layout, TAG), "docker-daemon:" + copy])
            try:
                self.assertEqual(inspect(copy)["Id"], inspect(ref(t, arch))["Id"], copy)
            finally:
                run(["docker", "rmi", copy], check=False, quiet=True)

    # 5 --------------------------------------------------------------------------------------
    def test_5_emulated_stack(self):
        missing = [q for a, q in QEMU.items() if a in ARCHES and not os.access(q, os.X_OK)]
        if missing:
            self.skipTest("qemu-user-static is not installed (%s)" % ", ".join(missing))
        arch0 = "arm64" if "arm64" in ARCHES else ARCHES[0]
        for arch in ARCHES:
            out = self.docker_run(ref("edge", arch), "/usr/local/bin/roundhouse-edge", "--version",
                                  qemu=QEMU[arch], detach=False).stdout
            self.assertTrue(out.startswith("roundhouse-edge "), out)

        mqtt_port, central_port = harness.free_port(), harness.free_port()
        conf_dir = tempfile.mkdtemp(prefix="rh-arm-mqtt-")
        with open(os.path.join(conf_dir, "mosquitto.conf"), "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\nlog_dest stderr\n" % mqtt_port)
        os.chmod(conf_dir, 0o755)
        try:
            # The broker's own entry point is a shell script whose `exec mosquitto` the kernel
            # cannot run without binfmt_misc: qemu starts mosquitto itself.
            self.docker_run(ref("mosquitto", arch0), "/usr/sbin/mosquitto", "-c", "/conf/mosquitto.conf",
                            qemu=QEMU[arch0], extra=["-v", conf_dir + ":/conf:ro"])
            self.docker_run(ref("central", arch0), "/usr/local/bin/roundhouse-central", qemu=QEMU[arch0],
                            env={"ROUNDHOUSE_LISTEN": "127.0.0.1:%d" % central_port,
                                 "MQTT_BROKER_HOST": "127.0.0.1", "MQTT_BROKER_PORT": mqtt_port})
            central = harness.HttpClient("127.0.0.1", central_port)
            harness.wait_until(lambda: central.get("/health").status == 200, timeout=WAIT,
                               interval=0.5, message="the %s central's /health" % arch0)
            edges = {}
            for i, arch in enumerate(ARCHES):
                port = harness.free_port()
                name = "pi-%s" % arch
                cid = self.docker_run(
                    ref("edge", arch), "/usr/local/bin/roundhouse-edge", qemu=QEMU[arch],
                    env={"CENTRAL_API_URL": "http://127.0.0.1:%d" % central_port,
                         "HEALTH_LISTEN": "127.0.0.1:%d" % port, "SIMULATION_MODE": "true",
                         "CONTROLLER_NAME": name, "TRAIN_ID": "train-%s" % arch,
                         "MOTOR_PORT": str(i + 1)}).stdout.strip()
                edges[name] = (cid, harness.HttpClient("127.0.0.1", port))
            for name, (cid, health) in edges.items():
                h = harness.wait_until(lambda: health.get("/health"), timeout=WAIT, interval=0.5,
                                       message=name + " /health")
                self.assertIn(h.status, (200, 503), name)

            def listed():
                ctrl = central.get("/api/controllers").json
                ctrl = ctrl.get("controllers", ctrl) if isinstance(ctrl, dict) else ctrl
                online = {c["name"] for c in ctrl if c.get("status") == "online"}
                return set(edges) <= online

            harness.wait_until(listed, timeout=WAIT, interval=0.5,
                               message="both emulated edges listed online by the central")
            ctrl = central.get("/api/controllers").json
            for c in ctrl.get("controllers", ctrl) if isinstance(ctrl, dict) else ctrl:
                print("  central (%s, emulated): %s %s %s" % (arch0, c.get("name"), c.get("id"),
                                                             c.get("status")))
            for name, (cid, health) in edges.items():
                harness.wait_until(lambda: health.get("/health").status == 200, timeout=WAIT,
                                   interval=0.5, message=name + " healthy")
                trains = health.get("/health").json.get("trains", [])
                self.assertEqual([tr.get("train_id") or tr.get("id") for tr in trains],
                                 ["train-" + name.split("-", 1)[1]], name)
            for name, (cid, health) in edges.items():
                run(["docker", "stop", "--time", "20", cid])
                self.assertEqual(run(["docker", "inspect", "-f", "{{.State.ExitCode}}", cid],
                                     quiet=True).stdout.strip(), "0", name + " exit code")
                logs = run(["docker", "logs", cid], quiet=True)
                self.assertIn('"edge_stopped"', logs.stdout + logs.stderr, name)
        finally:
            for n in os.listdir(conf_dir):
                os.unlink(os.path.join(conf_dir, n))
            os.rmdir(conf_dir)

    # 6 --------------------------------------------------------------------------------------
    def test_6_binfmt_native_run(self):
        usable, why = binfmt_entry()
        if not usable:
            self.skipTest("the arm64 image as is under binfmt_misc: " + why)
        port = harness.free_port()
        cid = self.docker_run(ref("edge", "arm64"), env={"HEALTH_LISTEN": "127.0.0.1:%d" % port,
                                                         "SIMULATION_MODE": "true",
                                                         "CENTRAL_API_URL": "http://127.0.0.1:9"}
                              ).stdout.strip()
        harness.wait_until(
            lambda: run(["docker", "inspect", "-f", "{{.State.Health.Status}}", cid],
                        quiet=True).stdout.strip() == "healthy",
            timeout=WAIT, interval=1.0, message="the arm64 edge healthy under binfmt_misc")


if __name__ == "__main__":
    unittest.main(verbosity=2)
