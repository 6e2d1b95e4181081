#!/usr/bin/env python3
"""Roundhouse benchmarks: start the real programs on loopback, load them, print one table.

Usage: bench/bench.py [--quick] [--only NAME[,NAME...]] [--json FILE] [--bin DIR]

Every benchmark starts its own mosquitto and roundhouse-central (kernel-picked or free
loopback ports, a private temp directory), is bounded in time, and stops everything it
started, also on failure or Ctrl-C. Binaries come from --bin, $ROUNDHOUSE_BIN_DIR or
<repo>/build/bin. wrk (Debian package `wrk`) is needed for the throughput rows; the MQTT
command/status row needs python3-paho-mqtt. See docs/performance.md.
"""

import argparse
import atexit
import hashlib
import http.client as httpclient
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid as uuidlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import edge_support  # noqa: E402  (state directories in the edge's cache format)
import floors  # noqa: E402  (nginx and MQTT floors, idle cost: bench/floors.py)
import harness  # noqa: E402  (free ports, bounded waits, HTTP client)

WRK_SCRIPT = os.path.join(HERE, "wrk", "roundhouse.lua")
MOSQUITTO = harness.MOSQUITTO

# Targets from issue 7 and the earlier Python system's figures, side by side in the table.
EARLIER = {
    "register_2": "778/s, p99 39 ms",
    "register_10k": "~10/s at 800 ctl",
    "heartbeat": "1,007/s, p99 620 ms",
    "command_status": "p50 7.6 ms",
    "reassign": "never arrived",
    "edge_ready_up": "0.15 s",
    "edge_ready_down": "8.2 s",
    "edge_ready_hung": "33 s",
    "edge_rss": "32 MB",
}


# --------------------------------------------------------------------------- processes

class Proc:
    """A started program; stderr goes to a file (and optionally through a pipe we read)."""

    ALL = []
    STARTED = 0  # log names count every start: a restarted process must not overwrite a log

    def __init__(self, name, argv, tmp, env=None, pipe=False, stdout=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        Proc.STARTED += 1
        self.log = os.path.join(tmp, "%s-%d.log" % (name, Proc.STARTED))
        self.lines = []
        self._cond = threading.Condition()
        env2 = harness._clean_env(env)
        self._logf = open(self.log, "wb")
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                  stdout=stdout if stdout is not None else subprocess.DEVNULL,
                                  stderr=subprocess.PIPE if pipe else self._logf, env=env2,
                                  start_new_session=True)
        self.pid = self.p.pid
        Proc.ALL.append(self)
        self._reader = None
        if pipe:
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()

    def _read(self):
        for raw in iter(self.p.stderr.readline, b""):
            t = time.monotonic()
            self._logf.write(raw)
            with self._cond:
                self.lines.append((t, raw.decode("utf-8", "replace")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, pattern, timeout):
        """Monotonic time at which a stderr line matching pattern arrived (pipe mode)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        idx = 0
        with self._cond:
            while True:
                while idx < len(self.lines):
                    t, line = self.lines[idx]
                    idx += 1
                    if rx.search(line):
                        return t
                left = deadline - time.monotonic()
                if left <= 0 or self.p.poll() is not None:
                    raise RuntimeError("%s: no line matching %r within %.0f s (log %s)" %
                                       (self.name, pattern, timeout, self.log))
                self._cond.wait(min(left, 0.2))

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=10):
        if self.p.poll() is None:
            try:
                self.p.send_signal(signal.SIGTERM)
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=5)
        self._logf.close()
        if self in Proc.ALL:
            Proc.ALL.remove(self)


RUNNING = []  # roundhouse-fleet processes being waited for


def stop_all():
    for p in list(RUNNING):
        if p.poll() is None:
            p.terminate()
    for p in list(RUNNING):
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    for p in list(reversed(Proc.ALL)):
        try:
            p.stop(timeout=5)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(stop_all)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        text = f.read()
    rss = int(re.search(r"VmRSS:\s+(\d+)", text).group(1))
    hwm = int(re.search(r"VmHWM:\s+(\d+)", text).group(1))
    return rss, hwm


class Env:
    """One benchmark's world: temp dir, mosquitto, central."""

    def __init__(self, bench, name):
        self.bench = bench
        self.tmp = tempfile.mkdtemp(prefix="rh-bench-%s-" % name)
        self.broker_port = None
        self.central = None
        self.broker = None
        self.db = os.path.join(self.tmp, "roundhouse.db")

    def start_broker(self, nodelay=False):
        for _ in range(5):
            port = harness.free_port()
            conf = os.path.join(self.tmp, "mosquitto.conf")
            with open(conf, "w") as f:
                f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % port)
                f.write("log_dest stderr\nlog_type error\nlog_type warning\n")
                f.write("max_queued_messages 100000\n")
                if nodelay:
                    f.write("set_tcp_nodelay true\n")
            b = Proc("mosquitto", [MOSQUITTO, "-c", conf], self.tmp)
            if harness.wait_tcp("127.0.0.1", port, timeout=10, alive=lambda: b.p.poll() is None):
                self.broker, self.broker_port = b, port
                return
            b.stop(timeout=2)
        raise RuntimeError("mosquitto did not start")

    def start_leaf_broker(self):
        """A mosquitto bridged to the main broker (the protocol's topics), for fleets larger
        than one broker's descriptor limit: the fleet's controllers connect to leaves, the
        central to the main broker. Returns its port."""
        for _ in range(5):
            port = harness.free_port()
            conf = os.path.join(self.tmp, "leaf-%d.conf" % port)
            with open(conf, "w") as f:
                f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % port)
                f.write("log_dest stderr\nlog_type error\nlog_type warning\n")
                f.write("max_queued_messages 100000\n")
                # Only what crosses between edges and the central (protocol.h): with "# both"
                # every leaf would also get every other leaf's presence and statuses.
                f.write("connection main\naddress 127.0.0.1:%d\ncleansession true\nclientid leaf-%d\n"
                        % (self.broker_port, port))
                for t in ("trains/+/status", "controllers/+/presence", "controllers/+/estop-ack"):
                    f.write("topic %s out 1\n" % t)
                for t in ("trains/+/commands", "controllers/+/config/update", "roundhouse/emergency-stop"):
                    f.write("topic %s in 1\n" % t)
            b = Proc("leaf", [MOSQUITTO, "-c", conf], self.tmp)
            if harness.wait_tcp("127.0.0.1", port, timeout=10, alive=lambda: b.p.poll() is None):
                return port
            b.stop(timeout=2)
        raise RuntimeError("leaf mosquitto did not start")

    def start_central(self, *flags):
        # The broker listens first: before fb30664 the central never retried a first MQTT
        # connection that failed (docs/performance.md, findings).
        argv = [self.bench.bin("roundhouse-central"), "--listen", "127.0.0.1:0", "--db", self.db,
                "--mqtt", "127.0.0.1:%d" % self.broker_port, "--register-rate", "1000000000/min",
                # the whole simulated fleet speaks from 127.0.0.1
                "--max-connections-per-ip", "1000",
                "--log-level", "info", "--withrottle-listen", "127.0.0.1:0"] + list(flags)
        c = Proc("central", argv, self.tmp)
        deadline = time.monotonic() + 30
        port = None
        while time.monotonic() < deadline and port is None:
            m = re.search(r'"event":"http_listening".*?"port":(\d+)', c.log_text())
            if m:
                port = int(m.group(1))
                break
            if c.p.poll() is not None:
                raise RuntimeError("central exited:\n" + c.log_text()[-2000:])
            time.sleep(0.02)
        if port is None:
            raise RuntimeError("central did not start")
        c.port = port
        c.url = "http://127.0.0.1:%d" % port
        c.http = harness.HttpClient("127.0.0.1", port, timeout=120)
        harness.wait_until(lambda: c.http.get("/health").json.get("mqtt_connected"), timeout=20,
                           message="central connected to the broker")
        self.central = c
        return c

    def restart_central(self, *flags):
        self.central.stop()
        return self.start_central(*flags)

    def close(self):
        for p in list(reversed(Proc.ALL)):
            if p.log.startswith(self.tmp):
                p.stop()
        if not self.bench.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------- tools

def fleet(bench, env, *args, timeout=600, central=None, mqtt_port=None):
    central = central or env.central
    argv = [bench.bin("roundhouse-fleet"), "--central", central.url, "--mqtt",
            "127.0.0.1:%d" % (mqtt_port or env.broker_port), "--central-pid", central.pid, "--json"]
    argv += [str(a) for a in args]
    p = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=harness._clean_env(), stdin=subprocess.DEVNULL,
                         start_new_session=True)
    RUNNING.append(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.terminate()
        out, err = p.communicate(timeout=30)
    finally:
        RUNNING.remove(p)
    if p.returncode not in (0, 1) or not out.strip():
        raise RuntimeError("roundhouse-fleet failed (%d): %s" % (p.returncode, err[-2000:]))
    return json.loads(out)


def shards_needed(n):
    """Processes needed for n simulated controllers: libmosquitto holds 3 descriptors per
    client (socket + socketpair), and RLIMIT_NOFILE's hard limit may be below 3 n."""
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return 1
    per = max(1, (hard - 500) // 3)
    return max(1, -(-n // per))


def trained(n):
    """--trained-controllers for a fleet of n with one train each: the central numbers at most
    9,999 trains (addresses 1-9999), so from 10,000 on the rest boot without a train."""
    return ("--trained-controllers", min(n, 9999))


def fleet_sharded(bench, env, n, *args, timeout=600, centrals=None, shards=None, brokers=None):
    """roundhouse-fleet for n controllers, split into --shard K/M processes started together
    when one process cannot hold them; the results are merged conservatively (times and
    percentiles: the worst shard; counts: summed). With centrals (several instances on one
    database), shard K talks to centrals[K % len(centrals)] only; shards fixes M; with
    brokers (ports), shard K connects to brokers[K % len(brokers)]."""
    m = shards or shards_needed(n)
    if centrals:
        m = max(m, len(centrals))
    if m == 1:
        return fleet(bench, env, "--controllers", n, *args, timeout=timeout,
                     central=centrals[0] if centrals else None)
    out = [None] * m
    errs = []

    # Together as many connections as one process would open: libmicrohttpd (Debian 12's
    # 0.9.75, epoll mode) nearly stops serving at exactly 128 open connections (performance.md).
    conns = max(8, 64 // m)

    def one(k):
        try:
            out[k] = fleet(bench, env, "--controllers", n, "--shard", "%d/%d" % (k, m),
                           "--http-connections", conns, *args, timeout=timeout,
                           central=centrals[k % len(centrals)] if centrals else None,
                           mqtt_port=brokers[k % len(brokers)] if brokers else None)
        except Exception as exc:  # noqa: BLE001 - reported below
            errs.append(exc)
    ts = [threading.Thread(target=one, args=(k,)) for k in range(m)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 60)
    if errs or any(o is None for o in out):
        raise RuntimeError("sharded fleet failed: %s" % (errs[:1],))
    d = json.loads(json.dumps(out[0]))
    d["shards"] = m
    d["shard_results"] = out
    b = d["boot"]
    for key in ("duration_s", "registered_s"):
        b[key] = max(o["boot"][key] for o in out)
    for key in ("registered", "configured", "ready", "mqtt_up", "errors", "status_429"):
        b[key] = sum(o["boot"][key] for o in out)
    b["complete"] = all(o["boot"]["complete"] for o in out)
    dups = [o["boot"]["duplicates"] for o in out]
    b["duplicates"] = None if None in dups else max(dups)
    b["statuses"] = {k: sum(o["boot"]["statuses"][k] for o in out) for k in b["statuses"]}
    b["registrations_per_s"] = b["registered"] / b["registered_s"] if b["registered_s"] else 0
    for name, q in d["requests"].items():
        for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
            q[key] = max(o["requests"].get(name, {}).get(key, 0) for o in out)
        for key in ("count", "ok", "errors", "status_429", "per_second"):
            q[key] = sum(o["requests"].get(name, {}).get(key, 0) for o in out)
    if "steady" in d:
        st = d["steady"]
        st["heartbeats_per_s"] = sum(o["steady"]["heartbeats_per_s"] for o in out)
        st["errors"] = sum(o["steady"]["errors"] for o in out)
        for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
            st["heartbeat"][key] = max(o["steady"]["heartbeat"][key] for o in out)
        st["heartbeat"]["count"] = sum(o["steady"]["heartbeat"]["count"] for o in out)
    return d


def raise_nofile(want):
    """Raises this process's open-file limit (inherited by the broker, the centrals and the
    fleet) towards want: beyond the hard limit only as root. Returns the limits before."""
    import resource
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft, hard = before
    try:
        with open("/proc/sys/fs/nr_open") as f:
            want = min(want, int(f.read()))
    except OSError:
        pass
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return before
        except (ValueError, OSError):
            want = hard
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return before


def restore_nofile(before):
    import resource
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)
    except (ValueError, OSError):
        pass


def ids_file(env, rows, name):
    """The identities file of bench/wrk/roundhouse.lua: uuid name train|- version secret|-."""
    path = os.path.join(env.tmp, name)
    with open(path, "w") as f:
        for r in rows:
            f.write("%s %s %s %d %s\n" % (r[0], r[1], r[2] or "-", r[3], r[4] or "-"))
    return path


def fleet_secret(name):
    """The secret roundhouse-fleet presents for its controller `fleet-{seed}-{index}`: it
    derives from the seed and the index (src/fleet/fleet.c), so wrk can present it too."""
    m = re.match(r"^fleet-(\d+)-(\d+)$", name)
    if not m:
        return None
    return hashlib.sha256(("roundhouse-fleet-secret/%s/%s" % m.groups()).encode()).hexdigest()


def controller_rows(env, prefix=""):
    """(uuid, name, first train or None, config_version, secret or None) of the controllers
    whose name starts with prefix."""
    r = env.central.http.get("/api/controllers")
    out = []
    for c in r.json:
        if c["name"].startswith(prefix):
            train = c["trains"][0]["id"] if c["trains"] else None
            out.append((c["id"], c["name"], train, c["config_version"] or 0, fleet_secret(c["name"])))
    return out


def wrk(bench, env, mode, ids, seconds, connections=64, threads=2, url=None):
    """wrk with bench/wrk/roundhouse.lua against the central (or url) in one RH_MODE."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk not installed (apt-get install wrk)")
    argv = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds, "--latency",
            "--timeout", "10s", "-s", WRK_SCRIPT, url or env.central.url]
    e = dict(os.environ, RH_MODE=mode, RH_IDS_FILE=ids)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, env=e)
    m = re.search(r"WRKJSON (\{.*\})", p.stdout)
    if p.returncode != 0 or not m:
        raise RuntimeError("wrk failed: %s %s" % (p.stdout[-1500:], p.stderr[-1500:]))
    d = json.loads(m.group(1))
    d["rps"] = d["requests"] / (d["duration_us"] / 1e6)
    d["errors"] = d["non_2xx"] + d["connect_errors"] + d["read_errors"] + d["write_errors"] + d["timeouts"]
    return d


def log_span_ms(proc, first, last):
    """Milliseconds between two structured log events of proc, by their own "ts"."""
    ts = {}
    for _t, line in proc.lines:
        m = re.search(r'"ts":"[^"]*T(\d\d):(\d\d):(\d\d\.\d+)Z".*?"event":"(\w+)"', line)
        if m and m.group(4) in (first, last) and m.group(4) not in ts:
            ts[m.group(4)] = (int(m.group(1)) * 60 + int(m.group(2))) * 60 + float(m.group(3))
    return (ts[last] - ts[first]) * 1000 if first in ts and last in ts else float("nan")


def spawn_baseline_ms(runs=20):
    """Median time to spawn and reap /bin/true from here: the share of the figures that is
    process creation by the benchmark itself."""
    ts = []
    for _ in range(runs):
        t = time.monotonic()
        subprocess.run(["/bin/true"], check=False)
        ts.append((time.monotonic() - t) * 1000)
    return statistics.median(ts)


HIST_RE = re.compile(r'^roundhouse_http_request_duration_seconds_bucket\{method="([^"]*)",'
                     r'route="([^"]*)",le="([^"]*)"\} (\d+)$', re.M)


def central_histogram(central, method, route):
    """The central's own latency histogram for one route, from /metrics: {le: count}."""
    r = central.http.get("/metrics")
    return {le: int(n) for m, rt, le, n in HIST_RE.findall(r.body.decode())
            if m == method and rt == route}


def histogram_share(before, after, le):
    """Share of the requests between two scrapes that took at most `le` seconds, and how
    many there were."""
    total = after.get("+Inf", 0) - before.get("+Inf", 0)
    within = after.get(le, 0) - before.get(le, 0)
    return (within / total if total else float("nan")), total


def pct(values, p):
    """Nearest-rank percentile (same rule as roundhouse-fleet)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


# --------------------------------------------------------------------------- benchmarks

# The idle seconds before each command of b_command and each message of its MQTT floor.
COMMAND_GAP = 0.25


class Bench:
    def __init__(self, args):
        self.quick = args.quick
        self.keep = args.keep
        self.bindir = args.bin or os.environ.get("ROUNDHOUSE_BIN_DIR") or os.path.join(REPO, "build", "bin")
        self.rows = []       # (benchmark, result, target, met, earlier)
        self.details = {}

    def bin(self, name):
        path = os.path.join(self.bindir, name)
        if not os.access(path, os.X_OK):
            raise RuntimeError("%s missing: build it or pass --bin" % path)
        return path

    def row(self, name, result, target="", met=None, earlier=""):
        self.rows.append((name, result, target, met, earlier))
        mark = "" if met is None else (" [met]" if met else " [MISSED]")
        print("  %-44s %s%s" % (name, result, mark), file=sys.stderr, flush=True)

    # ---- wrk: registration and heartbeat throughput

    def b_register(self):
        secs = 3 if self.quick else 10
        env = Env(self, "register")
        try:
            env.start_broker()
            env.start_central()
            two = [(str(uuidlib.uuid4()), "wrk-%d" % i, None, 0, None) for i in range(2)]
            d = wrk(self, env, "register", ids_file(env, two, "ids2"), secs)
            self.details["register_2"] = d
            self.row("registration, 2 controllers (wrk -c64)",
                     "%.0f/s, p50 %.2f ms, p99 %.2f ms, %d errors" % (d["rps"], d["p50_us"] / 1e3, d["p99_us"] / 1e3, d["errors"]),
                     ">= 20,000/s", d["rps"] >= 20000 and d["errors"] == 0, EARLIER["register_2"])
        finally:
            env.close()

    # ---- boot storms (and, on the 10k registry, the throughput rows and the central's RSS)

    def b_boot(self, n, with_registry_rows=False):
        env = Env(self, "boot%d" % n)
        try:
            env.start_broker()
            env.start_central()
            first = fleet_sharded(self, env, n, "--scenario", "boot-storm", "--seed", 11,
                                  "--boot-timeout", 300, *trained(n))
            central = env.restart_central()
            d = fleet_sharded(self, env, n, "--scenario", "boot-storm", "--seed", 11,
                              "--boot-timeout", 300, *trained(n))
            self.details["boot_%d_first" % n] = first
            self.details["boot_%d" % n] = d
            b = d["boot"]
            reg = d["requests"].get("register", {})
            res = "%.2f s, %d/%d ready, %d duplicates, %d errors, %d x 429; register p99 %.1f ms%s" % (
                b["duration_s"], b["ready"], n, b["duplicates"] if b["duplicates"] is not None else -1,
                b["errors"], b["status_429"], reg.get("p99_ms", float("nan")),
                " (%d fleet processes)" % d["shards"] if d.get("shards") else "")
            if n >= 10000:
                self.row("boot-storm %d (reboot after central restart)" % n, res, "< 10 s, 0 duplicates",
                         b["complete"] and b["duration_s"] < 10 and b["duplicates"] == 0)
            else:
                self.row("boot-storm %d (reboot after central restart)" % n, res, "0 duplicates",
                         b["complete"] and b["duplicates"] == 0)
            fb = first["boot"]
            self.row("boot-storm %d (first boot, empty registry)" % n,
                     "%.2f s, %d/%d ready, %d duplicates" % (fb["duration_s"], fb["ready"], n,
                                                             fb["duplicates"] if fb["duplicates"] is not None else -1))
            if not with_registry_rows:
                return
            rss, hwm = rss_kib(central.pid)
            self.details["central_rss_10k"] = {"rss_kib": rss, "hwm_kib": hwm}
            self.row("central RSS, %d controllers online" % n, "%.1f MiB (peak %.1f MiB)" % (rss / 1024, hwm / 1024),
                     "< 64 MiB", hwm < 64 * 1024)
            rows = controller_rows(env, "fleet-11-")
            secs = 3 if self.quick else 10
            ids = ids_file(env, rows, "ids-n")
            r = wrk(self, env, "register", ids, secs)
            self.details["register_%d" % n] = r
            base = self.details.get("register_2", {}).get("rps")
            within = base is not None and r["rps"] >= 0.9 * base
            self.row("registration, %d registered (wrk -c64)" % n,
                     "%.0f/s, p50 %.2f ms, p99 %.2f ms, %d errors" % (r["rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3, r["errors"]),
                     ">= 20,000/s, within 10 % of 2", r["rps"] >= 20000 and within and r["errors"] == 0,
                     EARLIER["register_10k"])
            h = wrk(self, env, "heartbeat", ids, secs)
            self.details["heartbeat_%d" % n] = h
            self.row("heartbeat, %d controllers (wrk -c64)" % n,
                     "%.0f/s, p50 %.2f ms, p99 %.2f ms, %d errors" % (h["rps"], h["p50_us"] / 1e3, h["p99_us"] / 1e3, h["errors"]),
                     "", None, EARLIER["heartbeat"])
            h8 = wrk(self, env, "heartbeat", ids, secs, connections=8, threads=1)
            self.details["heartbeat_%d_c8" % n] = h8
            self.row("heartbeat, %d controllers (wrk -c8)" % n,
                     "%.0f/s, p50 %.2f ms, p99 %.2f ms, %d errors" % (h8["rps"], h8["p50_us"] / 1e3, h8["p99_us"] / 1e3, h8["errors"]),
                     "p99 < 5 ms", h8["p99_us"] < 5000 and h8["errors"] == 0)
            # Heartbeats from the simulated fleet at a real cadence, with the central's CPU.
            for interval in ((2,) if self.quick else (10, 2)):
                hist0 = central_histogram(central, "POST", "/api/controllers/*/heartbeat")
                s = fleet_sharded(self, env, n, "--scenario", "steady", "--seed", 11, *trained(n),
                                  "--duration", 5 if self.quick else 20, "--heartbeat-interval", interval,
                                  "--boot-timeout", 300)
                # The fleet's latency includes its own event loop (10,000 MQTT clients in the
                # same two cores); the central's histogram shows its side alone.
                share, count = histogram_share(
                    hist0, central_histogram(central, "POST", "/api/controllers/*/heartbeat"), "0.005")
                s["central_within_5ms"] = {"share": share, "count": count}
                self.details["steady_%d_%ds" % (n, interval)] = s
                st = s["steady"]
                hb = st["heartbeat"]
                c = s.get("central") or {}
                self.row("steady, %d controllers every %d s (fleet)" % (n, interval),
                         "%.0f/s, p50 %.2f ms, p99 %.2f ms, %d errors; central CPU %.0f %%, RSS %.1f MiB; "
                         "in the central: %.2f %% within 5 ms" % (
                             st["heartbeats_per_s"], hb["p50_ms"], hb["p99_ms"], st["errors"],
                             c.get("cpu_percent", float("nan")), c.get("rss_kib", 0) / 1024, share * 100),
                         "p99 < 5 ms", hb["p99_ms"] < 5 and st["errors"] == 0)
        finally:
            env.close()

    # ---- reassignment propagation

    def b_reassign(self):
        n = 50 if self.quick else 200
        secs = 5 if self.quick else 15
        for nodelay in (False, True):
            env = Env(self, "reassign")
            try:
                env.start_broker(nodelay=nodelay)
                env.start_central()
                d = fleet(self, env, "--controllers", n, "--trains-per-controller", 2, "--scenario",
                          "reassign", "--duration", secs, "--reassign-inflight", 4)
                self.details["reassign_nodelay" if nodelay else "reassign"] = d
                ra = d["reassign"]
                lat = ra["latency"]
                self.row("reassign PUT -> new owner, %d ctl%s" % (n, ", broker set_tcp_nodelay" if nodelay else ""),
                         "p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (%d/%d moves, %d timeouts)" % (
                             lat["p50_ms"], lat["p90_ms"], lat["p99_ms"], lat["max_ms"], ra["completed"],
                             ra["moves"], ra["timeouts"]),
                         "p99 < 50 ms", lat["p99_ms"] < 50 and ra["timeouts"] == 0 and ra["completed"] > 0,
                         "" if nodelay else EARLIER["reassign"])
            finally:
                env.close()

    # ---- REST command -> MQTT status through a real edge

    def b_command(self):
        if not harness.HAVE_PAHO:
            self.row("REST command -> status (edge --simulate)", "skipped: python3-paho-mqtt missing")
            return
        for nodelay in (False, True):
            self.command_run(nodelay, measure_rss=not nodelay)

    def command_run(self, nodelay, measure_rss):
        count = 30 if self.quick else 200
        env = Env(self, "command-nodelay" if nodelay else "command")
        try:
            env.start_broker(nodelay=nodelay)
            env.start_central()
            state = os.path.join(env.tmp, "edge")
            edge = Proc("edge", [self.bin("roundhouse-edge"), "--central", env.central.url, "--state-dir", state,
                                 "--health-listen", "off", "--simulate", "--name", "bench-edge", "--log-level", "info"],
                        env.tmp, env={"TRAIN_ID": "bench1", "TRAIN_NAME": "Bench", "MOTOR_PORT": "1"}, pipe=True)
            edge.wait_line(r'"event":"mqtt_connected"', 30)
            # Subscribed to the train once the edge reports running it (heartbeat after apply).
            harness.wait_until(lambda: env.central.http.get("/api/trains/bench1").json.get("actual_controller_id"),
                               timeout=30, message="edge runs bench1")
            time.sleep(0.5)
            got = []
            cond = threading.Condition()
            mq = harness.MqttClient(env.broker_port)
            # One kept-alive connection, as the web UI has: the latency is the command's, not
            # a TCP handshake's.
            http = httpclient.HTTPConnection("127.0.0.1", env.central.http.port, timeout=10)
            try:
                orig = mq._c.on_message

                def on_msg(c, u, msg):
                    t = time.perf_counter()
                    try:
                        doc = json.loads(msg.payload)
                    except ValueError:
                        return
                    with cond:
                        got.append((t, doc))
                        cond.notify_all()
                    orig(c, u, msg)
                mq._c.on_message = on_msg
                mq.subscribe("trains/bench1/status")
                lat = []
                for i in range(count):
                    if i % 2 == 0:
                        body = {"action": "setSpeed", "speed": 10 + (i // 2) % 80}
                        want = lambda d, s=body["speed"]: d.get("target_speed") == s and d.get("state") != "estopped"
                    else:
                        body = {"action": "emergencyStop"}
                        want = lambda d: d.get("state") == "estopped"
                    time.sleep(COMMAND_GAP)  # the edge rate-limits a ramp's statuses to 10/s
                    with cond:
                        start_idx = len(got)
                    payload = json.dumps(body).encode()
                    t0 = time.perf_counter()
                    http.request("POST", "/api/trains/bench1/command", payload,
                                 {"Content-Type": "application/json"})
                    r = http.getresponse()
                    r.read()
                    if r.status != 202:
                        raise RuntimeError("command refused: %d" % r.status)
                    deadline = time.monotonic() + 5
                    with cond:
                        found = None
                        while found is None and time.monotonic() < deadline:
                            for t, doc in got[start_idx:]:
                                if want(doc):
                                    found = t
                                    break
                            if found is None:
                                cond.wait(0.05)
                    if found is None:
                        raise RuntimeError("no status for command %d" % i)
                    lat.append((found - t0) * 1000)
            finally:
                http.close()
                mq.close()
            key = "command_status_nodelay" if nodelay else "command_status"
            self.details[key] = {"count": len(lat), "p50_ms": pct(lat, 50), "p90_ms": pct(lat, 90),
                                 "p99_ms": pct(lat, 99), "max_ms": max(lat)}
            # The floor of the same two broker hops, through the same broker, right after, with
            # the same idle gap before each message (at 20 ms gaps it was 0.47 against 0.58 ms
            # at 250 ms: a process woken from a longer sleep answers later, the floor's too).
            fl = floors.mqtt_floor(env.broker_port, count, gap=COMMAND_GAP)
            self.details[key + "_floor"] = {"count": len(fl), "p50_ms": pct(fl, 50),
                                            "p99_ms": pct(fl, 99)}
            ratio = pct(lat, 50) / pct(fl, 50)
            self.row("MQTT floor: QoS 1 out, QoS 0 back, %d ms gaps%s" % (
                         COMMAND_GAP * 1000, ", set_tcp_nodelay" if nodelay else ""),
                     "p50 %.2f ms, p99 %.2f ms; the command's p50 is %.1f x this" % (
                         pct(fl, 50), pct(fl, 99), ratio),
                     "command p50 <= 2 x floor", ratio <= 2)
            self.row("REST command -> status (edge --simulate%s)" % (", broker set_tcp_nodelay" if nodelay else ""),
                     "p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (n=%d)" % (
                         pct(lat, 50), pct(lat, 90), pct(lat, 99), max(lat), len(lat)),
                     "p99 < 3 ms", pct(lat, 99) < 3, "" if nodelay else EARLIER["command_status"])
            if not measure_rss:
                edge.stop()
                return
            # RSS of the edge: idle now, then while ramping (setSpeed keeps it ramping for 3 s).
            idle = rss_kib(edge.pid)[0]
            peak = idle
            for speed in (100, 0, 80):
                env.central.http.post("/api/trains/bench1/command", {"action": "setSpeed", "speed": speed})
                end = time.monotonic() + 1.0
                while time.monotonic() < end:
                    peak = max(peak, rss_kib(edge.pid)[0])
                    time.sleep(0.05)
            hwm = rss_kib(edge.pid)[1]
            with open("/proc/%d/status" % edge.pid) as f:
                st = dict(re.findall(r"^(Rss\w+):\s+(\d+)", f.read(), re.M))
            anon, files = int(st.get("RssAnon", 0)), int(st.get("RssFile", 0))
            # PSS shares each library page among the processes that map it: on a controller
            # libc and libcrypto are mapped by many.
            with open("/proc/%d/smaps_rollup" % edge.pid) as f:
                pss = int(re.search(r"^Pss:\s+(\d+)", f.read(), re.M).group(1))
            self.details["edge_rss"] = {"idle_kib": idle, "ramping_kib": peak, "hwm_kib": hwm,
                                        "anon_kib": anon, "file_kib": files, "pss_kib": pss}
            self.row("edge RSS idle / ramping / peak",
                     "%.2f / %.2f / %.2f MiB (private %.2f MiB, library pages %.2f MiB; PSS %.2f MiB)" % (
                         idle / 1024, peak / 1024, hwm / 1024, anon / 1024, files / 1024, pss / 1024),
                     "< 4 MiB", hwm < 4 * 1024, EARLIER["edge_rss"])
            edge.stop()
        finally:
            env.close()

    # ---- edge start-up from a valid cache

    def b_edge_ready(self):
        runs = 5 if self.quick else 20
        env = Env(self, "edgeready")
        hung_sock = None
        try:
            env.start_broker()
            central = env.start_central()
            # "hung": accepts connections (kernel backlog) and never answers.
            hung_sock = socket.socket()
            hung_sock.bind(("127.0.0.1", 0))
            hung_sock.listen(128)
            hung_url = "http://127.0.0.1:%d" % hung_sock.getsockname()[1]
            down_url = "http://127.0.0.1:%d" % harness.free_port()
            results = {}
            base = spawn_baseline_ms()
            for case, url in (("up", central.url), ("down", down_url), ("hung", hung_url)):
                times, inner = [], []
                for i in range(runs):
                    uid = str(uuidlib.uuid4())
                    state = os.path.join(env.tmp, "edge-%s-%d" % (case, i))
                    cfg = edge_support.runtime_config(uid, env.broker_port, trains=[("r%d" % i, {})],
                                                      version=3, name="ready-%d" % i)
                    edge_support.write_state(state, uid, cfg)
                    e = Proc("edge", [self.bin("roundhouse-edge"), "--central", url, "--state-dir", state,
                                      "--health-listen", "off", "--simulate", "--log-level", "info"],
                             env.tmp, pipe=True)
                    try:
                        t = e.wait_line(r'"event":"mqtt_connected"', 60)
                        times.append((t - e.t0) * 1000)
                        inner.append(log_span_ms(e, "edge_starting", "mqtt_connected"))
                    finally:
                        e.stop()
                results[case] = times
                key = "edge_ready_" + case
                self.details[key] = {"runs": runs, "p50_ms": statistics.median(times), "max_ms": max(times),
                                     "in_process_p50_ms": statistics.median(inner), "in_process_max_ms": max(inner),
                                     "spawn_baseline_ms": base}
                self.row("edge ready from cache, central %s" % case,
                         "median %.1f ms, max %.1f ms from spawn (spawn of /bin/true: %.1f ms); "
                         "first log line -> ready: median %.0f ms, max %.0f ms (n=%d)" % (
                             statistics.median(times), max(times), base, statistics.median(inner), max(inner), runs),
                         "< 20 ms", max(times) < 20, EARLIER[key])
        finally:
            if hung_sock is not None:
                hung_sock.close()
            env.close()

    # ---- registrations against 100,000 registered: the slowest, and why

    def b_register100k(self):
        """wrk's re-registrations over all of a registry of 100,000 (seeded straight into the
        database, as for the paged lists): the rate, the latency up to the slowest request,
        and the central's own account of its slowest ones (the controller_registered lines'
        duration_ms, the handler's time, the wait for the store's lock included) with what else
        it logged in the same second. The sweeper's presence changes (each controller that was
        offline comes online) are counted, not listed."""
        n = 5000 if self.quick else 100000
        secs = 3 if self.quick else 10
        env = Env(self, "register100k")
        try:
            env.start_broker()
            env.start_central()  # creates the schema
            env.central.stop()
            now = int(time.time())
            # harness.db_execute closes its connection: the central does not start while
            # another process has the file open.
            for sql in self.paging_seed_sql(n, now, False):
                harness.db_execute(env.db, sql)
            central = env.start_central("--stale-after", "3600", "--offline-after", "7200")
            rows = [("00000000-0000-4000-8000-%012d" % i, "ctl-%06d" % ((i * 7919) % n), None,
                     0, None) for i in range(n)]
            d = wrk(self, env, "register", ids_file(env, rows, "ids-100k"), secs)
            self.details["register_100k"] = d
            handled, others, presence = [], {}, {}
            for line in central.log_text().splitlines():
                m = re.search(r'"ts":"[^"]*T(\d\d:\d\d:\d\d)[^"]*".*?"event":"(\w+)"', line)
                if not m:
                    continue
                if m.group(2) == "controller_registered":
                    ms = re.search(r'"duration_ms":(\d+)', line)
                    handled.append((int(ms.group(1)) if ms else 0, m.group(1)))
                elif m.group(2) == "controller_presence_changed":
                    presence[m.group(1)] = presence.get(m.group(1), 0) + 1
                else:
                    others.setdefault(m.group(1), []).append(m.group(2))
            handled.sort(reverse=True)
            slowest = [{"duration_ms": ms, "second": sec, "also_logged": sorted(set(others.get(sec, []))),
                        "presence_changes": presence.get(sec, 0)} for ms, sec in handled[:5]]
            self.details["register_100k_slowest"] = slowest
            self.row("registration, %d registered (wrk -c64)" % n,
                     "%.0f/s, p50 %.2f ms, p99 %.2f ms, max %.1f ms, %d errors; slowest handler %d ms"
                     % (d["rps"], d["p50_us"] / 1e3, d["p99_us"] / 1e3, d["max_us"] / 1e3,
                        d["errors"], handled[0][0] if handled else -1))
            for x in slowest:
                print("    slow registration: %d ms at %s; also logged then: %s; %d presence changes"
                      % (x["duration_ms"], x["second"], ", ".join(x["also_logged"]) or "nothing",
                         x["presence_changes"]), file=sys.stderr, flush=True)
        finally:
            env.close()

    # ---- paged lists at 100,000 controllers (docs/api.md "Paged lists")

    @staticmethod
    def paging_seed_sql(n, now, pg):
        """Controllers and trains straight into the database (a fleet of 100,000 simulated
        edges would need 300,000 descriptors): names in an order unrelated to creation, 10 %
        online, 0.1 % stale, 1 % never seen, the rest offline; a train on every 10th."""
        if pg:
            seq, name = "generate_series(0, %d) AS s(i)" % (n - 1), "'ctl-' || lpad(((i * 7919) %% %d)::text, 6, '0')" % n
            cid = "'00000000-0000-4000-8000-' || lpad(i::text, 12, '0')"
            tname, tid = "'train-' || lpad(i::text, 5, '0')", "'t' || i"
            head, tseq = "", "generate_series(0, %d) AS s(i)" % (min(n // 10, 9999) - 1)
            tcid = "'00000000-0000-4000-8000-' || lpad((i * 10)::text, 12, '0')"
        else:
            head = "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < %d) " % (n - 1)
            seq, name = "seq", "printf('ctl-%%06d', (i * 7919) %% %d)" % n
            cid = "printf('00000000-0000-4000-8000-%012d', i)"
            tname, tid = "printf('train-%05d', i)", "'t' || i"
            tseq = "seq WHERE i < %d" % min(n // 10, 9999)
            tcid = "printf('00000000-0000-4000-8000-%012d', i * 10)"
        # The central runs with --stale-after 3600 --offline-after 7200: these states hold for
        # the whole run.
        last_seen = ("CASE WHEN i %% 100 = 99 THEN NULL WHEN i %% 10 = 0 THEN %d "
                     "WHEN i %% 1000 = 501 THEN %d ELSE %d END" % (now, now - 5000, now - 86400))
        ctl = ("%sINSERT INTO controllers (id, name, address, last_seen, first_seen, created_at, "
               "updated_at) SELECT %s, %s, '10.0.0.1', %s, %d, %d + i, %d FROM %s"
               % (head, cid, name, last_seen, now - 90000, now - 90000, now, seq))
        trn = ("%sINSERT INTO trains (id, name, plugin_name, desired_controller_id, address, "
               "created_at, updated_at) SELECT %s, %s, 'simulator', %s, i + 1, %d, %d FROM %s"
               % (head if not pg else "", tid, tname, tcid, now, now, tseq))
        return [ctl, trn]

    def b_paging(self, pg=False):
        import random
        n = 5000 if self.quick else 100000
        reqs = 50 if self.quick else 300
        env = Env(self, "paging-pg" if pg else "paging")
        try:
            if pg:
                env.db = harness.create_pg_database()
            env.start_broker()
            env.start_central()  # creates the schema
            env.central.stop()
            now = int(time.time())
            if pg:
                for sql in self.paging_seed_sql(n, now, pg):
                    harness.psql(env.db, sql)
            else:
                for sql in self.paging_seed_sql(n, now, pg):
                    harness.db_execute(env.db, sql)
            if pg:
                harness.psql(env.db, "ANALYZE")
            central = env.start_central("--stale-after", "3600", "--offline-after", "7200")
            http = central.http
            label = "PostgreSQL" if pg else "SQLite"

            def timed(path):
                t0 = time.perf_counter()
                r = http.get(path)
                ms = (time.perf_counter() - t0) * 1e3
                if r.status != 200:
                    raise RuntimeError("%s: HTTP %d %s" % (path, r.status, r.body[:200]))
                return ms, r

            # The whole list a page of 1000 at a time: its cursors are the places to start
            # the measured pages from.
            cursors, total, t0, cursor = [], 0, time.perf_counter(), None
            for _ in range(n // 1000 + 2):
                _, r = timed("/api/controllers?limit=1000" + ("&cursor=" + cursor if cursor else ""))
                total += len(r.json["items"])
                cursor = r.json["next_cursor"]
                if cursor is None:
                    break
                cursors.append(cursor)
            walk_s = time.perf_counter() - t0
            if total != n:
                raise RuntimeError("the pages held %d controllers, not %d" % (total, n))
            rnd = random.Random(7)
            cases = [
                ("first page", lambda: "/api/controllers?limit=100"),
                ("a page anywhere (cursor)", lambda: "/api/controllers?limit=100&cursor=" + rnd.choice(cursors)),
                ("name filter (10 match)", lambda: "/api/controllers?limit=100&name=CTL-04200"),
                ("presence=online (10 %)", lambda: "/api/controllers?limit=100&presence=online&cursor=" + rnd.choice(cursors)),
                ("presence=stale (0.1 %)", lambda: "/api/controllers?limit=100&presence=stale"),
                ("trains, first page", lambda: "/api/trains?limit=100"),
            ]
            results = {}
            for name, path in cases:
                times = [timed(path())[0] for _ in range(reqs)]
                results[name] = {"p50_ms": pct(times, 50), "p99_ms": pct(times, 99), "max_ms": max(times)}
            self.details["paging_%s" % ("pg" if pg else "sqlite")] = {
                "controllers": n, "walk_1000_s": walk_s, "requests_per_case": reqs, "cases": results}
            for name, r in results.items():
                key = name in ("first page", "a page anywhere (cursor)")
                self.row("page of 100, %d controllers, %s: %s" % (n, label, name),
                         "p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (r["p50_ms"], r["p99_ms"], r["max_ms"]),
                         "< 10 ms" if key else "", (r["p99_ms"] < 10) if key else None)
            self.row("all %d controllers in pages of 1000, %s" % (n, label), "%.2f s" % walk_s)
            t_all, r = timed("/api/controllers")
            self.row("the unpaged list, %d controllers, %s" % (n, label),
                     "%.2f s, %.0f MB" % (t_all / 1e3, len(r.body) / 1e6))
        finally:
            env.close()

    # ---- boot storms across backends and instance counts (issue 18)

    def start_instances(self, env, k, flags=()):
        """k centrals on env.db; with PostgreSQL they are instances of one central."""
        cs = [env.start_central(*flags) for _ in range(k)]
        env.central = cs[0]
        return cs

    @staticmethod
    def db_counts(env, pg, n, seed):
        """(rows, duplicates, missing, trains) of the simulated fleet, read in the database:
        a duplicate is a second row for one simulated controller (its name), missing are
        simulated controllers with no row."""
        prefix = "fleet-%d-" % seed
        sql = ("SELECT COUNT(*), COUNT(DISTINCT name), (SELECT COUNT(*) FROM trains WHERE id LIKE "
               "'fl%d-c%%') FROM controllers WHERE name LIKE '%s%%'" % (seed, prefix))
        if pg:
            rows, names, trains = (int(v) for v in harness.psql(env.db, sql).strip().split("|"))
        else:
            # The running central holds its file locked: read the copy it sends.
            r = env.central.http.get("/api/backup")
            if r.status != 200:
                raise RuntimeError("GET /api/backup: %r" % (r,))
            copy = env.db + ".counted"
            with open(copy, "wb") as f:
                f.write(r.body)
            try:
                ((rows, names, trains),) = harness.db_execute(copy, sql)
            finally:
                os.unlink(copy)
        return rows, rows - names, n - names, trains

    def b_storm(self, pg, instances, n, with_load_rows=False, flags=()):
        """Boot storm of n simulated controllers against `instances` centrals on one database
        (PostgreSQL; SQLite has one): a first boot into an empty registry, then a reboot with
        the cached identities after every instance was restarted. The fleet runs as 2 (or
        more) --shard processes; with 2 instances, shard K talks to instance K only, as edges
        given one address each. Duplicates are counted by the fleet and in the database."""
        label = "%s %d instance%s" % ("PostgreSQL" if pg else "SQLite", instances, "s" if instances > 1 else "")
        if flags:
            label += ", central " + " ".join(flags)
        key = "storm_%s%s_%d" % ("pg" if pg else "sqlite", instances if instances > 1 else "", n)
        want = 3 * n + 20000
        saved = raise_nofile(want)
        env = Env(self, key)
        try:
            if pg:
                env.db = harness.create_pg_database()
            env.start_broker()
            cs = self.start_instances(env, instances, flags)
            shards = max(2, instances, shards_needed(n))
            # One broker holds one descriptor per client: beyond its limit the controllers
            # connect to leaf brokers bridged to the main one (the central stays on the main).
            import resource
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            leaves = None
            if hard != resource.RLIM_INFINITY and n > hard - 2000:
                per_leaf = max(1, (hard - 2000) // -(-n // shards))
                leaves = [env.start_leaf_broker() for _ in range(-(-shards // per_leaf))]
            timeout = 300 if n <= 10000 else 900
            args = ("--scenario", "boot-storm", "--seed", 11, "--boot-timeout", timeout) + trained(n)
            if n > 10000:
                # 100,000 clients pinging every 5 s (the edge's keepalive) are 20,000 pings a
                # second for the brokers and fleet processes, none of it the central's work.
                args += ("--mqtt-keepalive", 60)
            load0 = os.getloadavg()
            first = fleet_sharded(self, env, n, *args, timeout=timeout + 120, centrals=cs, shards=shards,
                                  brokers=leaves)
            load1 = os.getloadavg()
            first_peak = [rss_kib(c.pid)[1] for c in cs]
            broker_first = rss_kib(env.broker.pid)
            for c in cs:
                c.stop()
            cs = self.start_instances(env, instances, flags)
            load2 = os.getloadavg()
            d = fleet_sharded(self, env, n, *args, timeout=timeout + 120, centrals=cs, shards=shards,
                              brokers=leaves)
            load3 = os.getloadavg()
            rss = [rss_kib(c.pid) for c in cs]
            rows, dups, missing, trains = self.db_counts(env, pg, n, 11)
            detail = {"controllers": n, "instances": instances, "backend": "pg" if pg else "sqlite",
                      "central_flags": list(flags),
                      "shards": shards, "nofile": saved[1], "leaf_brokers": len(leaves or []),
                      "first": first, "reboot": d,
                      "load_first": [load0, load1], "load_reboot": [load2, load3],
                      "central_peak_first_kib": first_peak,
                      "central_rss_reboot_kib": [r[0] for r in rss],
                      "central_peak_reboot_kib": [r[1] for r in rss],
                      "broker_rss_kib": broker_first,
                      "db": {"rows": rows, "duplicates": dups, "missing": missing, "trains": trains}}
            self.details[key] = detail

            def res(b, peaks, load):
                return ("registered %.2f s, ready %.2f s (%d/%d), %d x 429, %d errors; fleet dup %s; "
                        "central peak %s MiB; load %.1f -> %.1f" % (
                            b["registered_s"], b["duration_s"], b["ready"], n, b["status_429"],
                            b["errors"], b["duplicates"], "/".join("%.1f" % (k / 1024) for k in peaks),
                            load[0][0], load[1][0]))
            self.row("boot-storm %d, %s, first boot" % (n, label),
                     res(first["boot"], first_peak, (load0, load1)))
            self.row("boot-storm %d, %s, reboot after restart" % (n, label),
                     res(d["boot"], [r[1] for r in rss], (load2, load3)) +
                     "; in the database %d rows, %d duplicates, %d missing, %d trains" % (rows, dups, missing, trains),
                     "0 duplicates", d["boot"]["complete"] and first["boot"]["complete"] and dups == 0 and missing == 0)
            if not with_load_rows:
                return
            # Steady heartbeats from the whole fleet, with each instance's CPU and RSS.
            for interval in (10, 2):
                la = os.getloadavg()
                st = fleet_sharded(self, env, n, "--scenario", "steady", "--seed", 11, *trained(n),
                                   "--duration", 5 if self.quick else 20, "--heartbeat-interval", interval,
                                   "--boot-timeout", timeout, timeout=timeout + 120, centrals=cs, shards=shards,
                                   brokers=leaves)
                lb = os.getloadavg()
                per = [o.get("central") or {} for o in st.get("shard_results", [st])][:instances]
                hb = st["steady"]["heartbeat"]
                detail["steady_%d" % interval] = st
                self.row("steady %d, heartbeat every %d s, %s" % (n, interval, label),
                         "%.0f/s, fleet-measured p50 %.2f ms, p99 %.2f ms, %d errors; central CPU %s %% of a core, "
                         "RSS %s MiB; load %.1f -> %.1f" % (
                             st["steady"]["heartbeats_per_s"], hb["p50_ms"], hb["p99_ms"], st["steady"]["errors"],
                             " / ".join("%.0f" % c.get("cpu_percent", float("nan")) for c in per),
                             " / ".join("%.1f" % (c.get("rss_kib", 0) / 1024) for c in per), la[0], lb[0]))
            # Registration throughput, per instance and (with two) on both at once.
            secs = 3 if self.quick else 10
            ids = ids_file(env, controller_rows(env, "fleet-11-"), "ids-n")
            # Alone with the same wrk as the other rows (-t2 -c64), and as each of the two
            # wrk of "at once" (-t1 -c32), so that the two-instance row has its like alone.
            for c in cs:
                for threads, conns in ((2, 64), (1, 32)):
                    la = os.getloadavg()
                    r = wrk(self, env, "register", ids, secs, connections=conns, threads=threads, url=c.url)
                    detail.setdefault("register_alone_c%d" % conns, []).append(r)
                    self.row("registration, %d registered, %s, one instance alone (wrk -t%d -c%d)" % (
                        n, label, threads, conns),
                             "%.0f/s, p50 %.2f ms, p99 %.2f ms, %d errors; load %.1f" % (
                                 r["rps"], r["p50_us"] / 1e3, r["p99_us"] / 1e3, r["errors"], la[0]))
            if instances > 1:
                out = [None] * instances
                la = os.getloadavg()
                ts = [threading.Thread(target=lambda k=k: out.__setitem__(
                    k, wrk(self, env, "register", ids, secs, connections=32, threads=1, url=cs[k].url)))
                    for k in range(instances)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join()
                detail["register_together"] = out
                self.row("registration, %d registered, %s at once (wrk -t1 -c32 each)" % (n, label),
                         "%.0f/s together (%s), p99 %s ms, %d errors; load %.1f" % (
                             sum(r["rps"] for r in out), " + ".join("%.0f" % r["rps"] for r in out),
                             " / ".join("%.2f" % (r["p99_us"] / 1e3) for r in out),
                             sum(r["errors"] for r in out), la[0]))
        finally:
            env.close()
            restore_nofile(saved)

    # ---- driver

    ALL = ("register", "boot1k", "boot10k", "reassign", "command", "edge_ready", "paging",
           "paging_pg", "floors", "idle", "sqlite_boot10k", "pg_boot10k", "pg2_boot10k")
    # Run only when named in --only: 100,000 simulated controllers take minutes each and
    # 300,000 descriptors (root raises the limit; docs/performance.md).
    BY_NAME = ("sqlite_boot100k", "pg_boot100k", "pg2_boot100k", "register100k")
    # 100,000 on PostgreSQL with a 60 s heartbeat interval: at the default 10 s the fleet
    # asks for 10,000 heartbeats a second, more than one instance answered here, and the
    # storm never settled (controllers went stale and offline again; docs/performance.md).
    # Presence thresholds scaled with it (the defaults 25 / 50 s are 2.5 and 5 intervals of 10 s).
    HB60 = ("--heartbeat-interval", "60", "--stale-after", "150", "--offline-after", "300")
    STORMS = {"sqlite_boot10k": (False, 1, 10000, ()), "pg_boot10k": (True, 1, 10000, ()),
              "pg2_boot10k": (True, 2, 10000, ()), "sqlite_boot100k": (False, 1, 100000, ()),
              "pg_boot100k": (True, 1, 100000, HB60), "pg2_boot100k": (True, 2, 100000, HB60)}

    def run(self, only):
        todo = [b for b in self.ALL + self.BY_NAME if b in only or (not only and b in self.ALL)]
        for name in todo:
            print("== %s" % name, file=sys.stderr, flush=True)
            try:
                if name == "register":
                    self.b_register()
                elif name == "register100k":
                    self.b_register100k()
                elif name == "floors":
                    floors.http_floors(self, sys.modules[__name__])
                elif name == "idle":
                    floors.idle(self, sys.modules[__name__])
                elif name == "boot1k":
                    self.b_boot(200 if self.quick else 1000)
                elif name == "boot10k":
                    self.b_boot(500 if self.quick else 10000, with_registry_rows=True)
                elif name == "reassign":
                    self.b_reassign()
                elif name == "command":
                    self.b_command()
                elif name == "edge_ready":
                    self.b_edge_ready()
                elif name == "paging":
                    self.b_paging()
                elif name == "paging_pg":
                    self.b_paging(pg=True)
                elif name in self.STORMS:
                    pg, k, n, flags = self.STORMS[name]
                    if self.quick:
                        n //= 20
                    self.b_storm(pg, k, n, with_load_rows=n <= 10000, flags=flags)
            except Exception as exc:  # noqa: BLE001 - one failed benchmark must not hide the rest
                self.row(name, "FAILED: %s" % str(exc).splitlines()[0][:200], "", False)
            finally:
                stop_all()


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "loadavg_at_start": open("/proc/loadavg").read().split()[:3]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and short runs (development)")
    ap.add_argument("--only", default="", help="comma-separated: " + ",".join(Bench.ALL + Bench.BY_NAME))
    ap.add_argument("--json", help="write all results to this file")
    ap.add_argument("--bin", help="directory with the programs (default build/bin)")
    ap.add_argument("--keep", action="store_true", help="keep temporary directories")
    args = ap.parse_args()
    only = [s for s in args.only.split(",") if s]
    for s in only:
        if s not in Bench.ALL + Bench.BY_NAME:
            ap.error("unknown benchmark %r" % s)
    def on_term(*_a):
        stop_all()
        sys.exit(143)
    signal.signal(signal.SIGTERM, on_term)
    m = machine()
    b = Bench(args)
    t0 = time.monotonic()
    b.run(only)
    m["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
    m["wall_s"] = round(time.monotonic() - t0, 1)
    print("\nRoundhouse benchmarks (%s): %d x %s, kernel %s, load %s -> %s, %.0f s%s\n" % (
        time.strftime("%Y-%m-%d"), m["nproc"], m["cpu"], m["kernel"], "/".join(m["loadavg_at_start"]),
        "/".join(m["loadavg_at_end"]), m["wall_s"], ", QUICK sizes" if args.quick else ""))
    w = max(len(r[0]) for r in b.rows) if b.rows else 10
    print("%-*s  %-6s  %-32s  %s" % (w, "benchmark", "target", "", "earlier system"))
    print("%-*s    %s" % (w, "", "result"))
    print("-" * (w + 70))
    for name, result, target, met, earlier in b.rows:
        verdict = "" if met is None else ("met" if met else "MISSED")
        print("%-*s  %-6s  %-32s  %s" % (w, name, verdict, target, earlier))
        print("%-*s    %s" % (w, "", result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": m, "quick": args.quick,
                       "rows": [dict(zip(("benchmark", "result", "target", "met", "earlier"), r)) for r in b.rows],
                       "details": b.details}, f, indent=2)
    return 0 if all(r[3] is not False or "FAILED" not in r[1] for r in b.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
