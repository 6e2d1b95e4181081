#!/usr/bin/python3
"""WiThrottle load: N throttle connections, each driving its own train with speed changes R
times a second, against a real roundhouse-central and mosquitto on loopback.

Usage: bench/withrottle.py [--bin DIR] [--throttles 50] [--rate 10] [--seconds 10] [--json FILE]

Reported: the latency from a throttle's `V` line leaving the client to the central's command
arriving on the train's MQTT topic (`trains/{id}/commands`, where an edge would read it),
p50/p99/max over every command; commands sent and received; the central's CPU (user + system
time from /proc over the load, as a share of one core). The central allows 8 WiThrottle
connections per client address (docs/throttles.md), so the throttles connect from several
loopback addresses (127.0.0.2, 127.0.0.3, …), as phones on a LAN would.
"""

import argparse
import collections
import http.client as httpclient
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness  # noqa: E402  (free ports, the broker's path)

PER_IP = 8
STEPS = 126


def percent(steps):
    """The central's mapping of 126 speed steps onto 0-100 (withrottle_proto.c)."""
    return 100 if steps >= STEPS else (steps * 100 + STEPS // 2) // STEPS


def api(port, method, path, body=None):
    c = httpclient.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"} if body is not None else {})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= 300:
        raise RuntimeError("%s %s: %d %s" % (method, path, r.status, data[:200]))
    return json.loads(data) if data else None


def wait_port(port, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("a program exited early (%d)" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nothing listens on port %d after %d s" % (port, timeout))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Throttle(threading.Thread):
    """One connection driving one train: speed lines at a fixed rate, what the server sends
    read and dropped (a real throttle reads it too)."""

    def __init__(self, port, index, address, rate, seconds, sent):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                             source_address=("127.0.0.%d" % (2 + index // PER_IP), 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.address, self.rate, self.seconds, self.sent = address, rate, seconds, sent
        self.error = None
        key = "S%d" % address if address < 128 else "L%d" % address
        self.sock.sendall(("NBench %d\nHU bench-%d\nMT+%s<;>%s\n" % (index, index, key, key)).encode())
        self.sock.setblocking(False)

    def drain(self):
        try:
            while self.sock.recv(65536):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def run(self):
        try:
            time.sleep(0.5)  # acquired before the first speed
            self.drain()
            period = 1.0 / self.rate
            start = time.monotonic()
            n = 0
            while True:
                due = start + n * period
                now = time.monotonic()
                if due - start >= self.seconds:
                    break
                if due > now:
                    time.sleep(due - now)
                # Steps 20, 40, …, 120, 20, …: each differs from the one before.
                steps = 20 + 20 * (n % 6)
                t = time.monotonic()
                self.sock.sendall(("MTA*<;>V%d\n" % steps).encode())
                self.sent.append((self.address, percent(steps), t))
                self.drain()
                n += 1
        except OSError as e:
            self.error = e


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("ROUNDHOUSE_BIN_DIR",
                                                     os.path.join(REPO, "build", "bin")))
    ap.add_argument("--throttles", type=int, default=50)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    central_bin = os.path.join(args.bin, "roundhouse-central")
    if not os.access(central_bin, os.X_OK):
        sys.exit("withrottle.py: %s is missing: build it first (make build)" % central_bin)

    tmp = tempfile.mkdtemp(prefix="rh-withrottle-bench-")
    procs = []

    def start(argv, name):
        log = open(os.path.join(tmp, name + ".log"), "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True)
        procs.append(p)
        return p

    try:
        mport, hport, wport = harness.free_port(), harness.free_port(), harness.free_port()
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "set_tcp_nodelay true\n" % mport)
        wait_port(mport, start([harness.MOSQUITTO, "-c", conf], "mosquitto"))
        central = start([central_bin, "--listen", "127.0.0.1:%d" % hport,
                         "--withrottle-listen", "127.0.0.1:%d" % wport,
                         "--db", os.path.join(tmp, "db.sqlite"), "--mqtt", "127.0.0.1:%d" % mport,
                         "--log-level", "warning"], "central")
        wait_port(hport, central)
        wait_port(wport, central)

        # One controller per 8 trains, every train with its address.
        trains = {}
        ctl = None
        for i in range(args.throttles):
            if i % 8 == 0:
                ctl = api(hport, "POST", "/api/controllers/register",
                          {"name": "bench-pi-%d" % (i // 8), "address": "127.0.0.1"})["uuid"]
            tid = "bench-%d" % (i + 1)
            api(hport, "POST", "/api/trains", {"controller_uuid": ctl, "train_id": tid,
                                               "name": "Bench %d" % (i + 1), "address": i + 1})
            trains[i + 1] = tid
        by_id = {tid: a for a, tid in trains.items()}

        arrived = []
        ready = threading.Event()
        sub = mqtt.Client(client_id="rh-bench-edge")
        sub.on_connect = lambda c, u, f, rc: (c.subscribe("trains/+/commands", qos=1), ready.set())
        sub.on_message = lambda c, u, m: arrived.append((time.monotonic(), m.topic, m.payload))
        sub.connect("127.0.0.1", mport)
        sub.loop_start()
        if not ready.wait(10):
            raise RuntimeError("the MQTT subscriber did not connect")
        time.sleep(0.3)

        sent = []
        throttles = [Throttle(wport, i, i + 1, args.rate, args.seconds, sent)
                     for i in range(args.throttles)]
        cpu0, wall0 = cpu_seconds(central.pid), time.monotonic()
        for t in throttles:
            t.start()
        for t in throttles:
            t.join(args.seconds + 30)
        time.sleep(1.0)  # the last commands in flight
        cpu1, wall1 = cpu_seconds(central.pid), time.monotonic()
        sub.loop_stop()
        errors = [t.error for t in throttles if t.error]

        # Each train's commands arrive in the order they were sent: match them in order.
        pending = collections.defaultdict(collections.deque)
        for address, speed, t in sent:
            pending[address].append((speed, t))
        lat = []
        for t_arr, topic, payload in arrived:
            address = by_id.get(topic.split("/")[1])
            try:
                doc = json.loads(payload)
            except ValueError:
                continue
            if address is None or doc.get("action") != "setSpeed":
                continue
            q = pending[address]
            while q:
                speed, t_sent = q.popleft()
                if speed == doc.get("speed"):
                    lat.append((t_arr - t_sent) * 1000.0)
                    break
        lat.sort()
        result = {
            "throttles": args.throttles, "rate_per_throttle": args.rate, "seconds": args.seconds,
            "sent": len(sent), "received": len(lat),
            "p50_ms": round(statistics.median(lat), 2) if lat else None,
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2) if lat else None,
            "max_ms": round(lat[-1], 2) if lat else None,
            "central_cpu_percent": round(100.0 * (cpu1 - cpu0) / (wall1 - wall0), 1),
            "errors": [str(e) for e in errors],
        }
        print("%d throttles x %.0f speed changes/s for %.0f s: %d sent, %d on MQTT" %
              (args.throttles, args.rate, args.seconds, result["sent"], result["received"]))
        print("throttle -> MQTT command latency: p50 %s ms, p99 %s ms, max %s ms" %
              (result["p50_ms"], result["p99_ms"], result["max_ms"]))
        print("central CPU: %s %% of one core" % result["central_cpu_percent"])
        if errors:
            print("connection errors: %s" % "; ".join(result["errors"][:5]))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
        return 0 if not errors and result["received"] >= 0.99 * result["sent"] else 1
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
