#!/usr/bin/env python3
"""One host against the central: does it take the API down for everyone else?

Four attacks, each from one attacker address (default 127.0.0.2; all of 127.0.0.0/8 is
loopback on Linux) while a victim at 127.0.0.1 sends a controller heartbeat every 100 ms
on a fresh connection, as an edge does:

  slow    1000 connections that send a partial request and then one byte every 5 s
  events  300 open GET /api/events streams (and the victim then opens one of its own)
  list    100 parallel loops of GET /api/controllers with 10,000 controllers registered
  import  one 24 MB POST /api/import

Reported per attack: the victim's heartbeat latency (p50, p99, max; a heartbeat that
failed or took over 10 s counts as 10 s, the edge's timeout), what the attacker got, and
the central's RSS before, at its peak and --settle seconds after the attack (target: p99
under 100 ms, RSS back within 20 % of the value before). Loopback only; every loop is
bounded in count and time.

  python3 bench/attack.py [--bin build/bin] [--settle 60] [--duration 15] [--only list,import]
                          [--central-flag=--max-connections-per-ip=128 ...]
"""

import argparse
import json
import multiprocessing
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid as uuidlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402  (free ports, HTTP client)

EDGE_TIMEOUT = 10.0


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def http(port, method, path, body=None, source=None, timeout=EDGE_TIMEOUT):
    """One request on a fresh connection; returns (status, body bytes)."""
    data = b"" if body is None else body
    head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (method, path)
    if body is not None:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
    r = harness.raw_request(port, head.encode() + b"\r\n" + data, source=source, timeout=timeout)
    return r.status, r.body


class Central:
    def __init__(self, args, tmp):
        self.log = open(os.path.join(tmp, "central.log"), "wb")
        argv = [os.path.join(args.bin, "roundhouse-central"), "--listen", "127.0.0.1:0",
                "--db", os.path.join(tmp, "rh.db"), "--mqtt", "127.0.0.1:%d" % harness.free_port(),
                "--register-rate", "1000000000/min", "--log-level", "info",
                "--withrottle-listen", "127.0.0.1:0"] + args.central_flag
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        self.path = self.log.name
        deadline = time.monotonic() + 30
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            with open(self.path) as f:
                m = re.search(r'"event":"http_listening".*?"port":(\d+)', f.read())
            if m:
                self.port = int(m.group(1))
            elif self.p.poll() is not None:
                raise RuntimeError("central exited")
            time.sleep(0.05)
        if self.port is None:
            raise RuntimeError("central did not start")

    def rss(self):
        return rss_kib(self.p.pid)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()


def victim_loop(port, cid, source, halt, out):
    lat, failed = [], 0
    body = json.dumps({"applied_config_version": 0}).encode()
    for _ in range(100000):
        if halt.is_set():
            break
        t0 = time.monotonic()
        try:
            st, _ = http(port, "POST", "/api/controllers/%s/heartbeat" % cid, body, source=source)
            ok = st == 200
        except OSError:
            ok = False
        dt = time.monotonic() - t0
        if not ok:
            failed += 1
            dt = EDGE_TIMEOUT
        lat.append(min(dt, EDGE_TIMEOUT))
        halt.wait(max(0.0, 0.1 - (time.monotonic() - t0)))
    out.send((lat, failed))


class Victim:
    """Heartbeats from 127.0.0.1 every 100 ms, each on a new connection, from a process of
    its own (in the attacker's process the GIL alone delayed them by tens of ms)."""

    def __init__(self, port, cid, source):
        self.halt = multiprocessing.Event()
        self.rx, tx = multiprocessing.Pipe(duplex=False)
        self.p = multiprocessing.Process(target=victim_loop,
                                         args=(port, cid, source, self.halt, tx), daemon=True)
        self.lat, self.failed = [], 0

    def start(self):
        self.p.start()

    def stop(self):
        self.halt.set()
        if self.rx.poll(EDGE_TIMEOUT + 5):
            self.lat, self.failed = self.rx.recv()
        self.p.join(5)


def attack_slow(c, args, until):
    socks, refused = [], 0
    for i in range(1000):
        try:
            s = socket.create_connection(("127.0.0.1", c.port), timeout=2,
                                         source_address=(args.attacker, 0))
            s.sendall(b"GET /api/ping HTTP/1.1\r\nHost: a\r\n")
            socks.append(s)
        except OSError:
            refused += 1
    closed = 0
    while time.monotonic() < until:
        time.sleep(min(5.0, max(0.0, until - time.monotonic())))
        alive = []
        for s in socks:
            try:
                s.sendall(b"X")
                alive.append(s)
            except OSError:
                closed += 1
                s.close()
        socks = alive
    for s in socks:
        s.close()
    return "1000 tried, %d refused at connect, %d closed by the server, %d still open at the end" % (
        refused, closed, len(socks))


def attack_events(c, args, until):
    socks, codes = [], {}
    for _ in range(300):
        try:
            s = socket.create_connection(("127.0.0.1", c.port), timeout=5,
                                         source_address=(args.attacker, 0))
            s.sendall(b"GET /api/events HTTP/1.1\r\nHost: a\r\n\r\n")
            head = s.recv(4096)
            m = re.match(rb"HTTP/1\.1 (\d+)", head)
            code = int(m.group(1)) if m else 0
            codes[code] = codes.get(code, 0) + 1
            socks.append(s)
        except OSError:
            codes[0] = codes.get(0, 0) + 1
    # The victim's UI opens its stream now.
    mine = "failed"
    try:
        s = socket.create_connection(("127.0.0.1", c.port), timeout=5,
                                     source_address=(args.victim, 0))
        s.sendall(b"GET /api/events HTTP/1.1\r\nHost: a\r\n\r\n")
        m = re.match(rb"HTTP/1\.1 (\d+)", s.recv(4096))
        mine = m.group(1).decode() if m else "no answer"
        s.close()
    except OSError:
        pass
    time.sleep(max(0.0, until - time.monotonic()))
    for s in socks:
        s.close()
    attack_events.victim_ok = mine == "200"
    return "attacker's 300 streams: %s; victim's stream: %s" % (
        ", ".join("%s x%d" % (k, v) for k, v in sorted(codes.items())), mine)


def attack_list(c, args, until):
    codes, lock = {}, threading.Lock()

    def loop():
        for _ in range(100000):
            if time.monotonic() >= until:
                return
            try:
                st, _ = http(c.port, "GET", "/api/controllers", source=args.attacker, timeout=60)
            except OSError:
                st = 0
            with lock:
                codes[st] = codes.get(st, 0) + 1

    ts = [threading.Thread(target=loop, daemon=True) for _ in range(100)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    return "answers: " + ", ".join("%s x%d" % (k, v) for k, v in sorted(codes.items()))


def attack_import(c, args, until):
    ctrls = []
    size = 0
    while size < 24 * 1024 * 1024:
        e = {"id": str(uuidlib.uuid4()), "name": "big-%d" % len(ctrls),
             "description": "x" * 300, "metadata": {"k": "v" * 100}}
        ctrls.append(e)
        size += len(json.dumps(e)) + 2
    body = json.dumps({"format": "roundhouse-registry", "format_version": 1,
                       "controllers": ctrls}).encode()
    try:
        st, reply = http(c.port, "POST", "/api/import", body, source=args.attacker, timeout=120)
    except OSError as e:
        st, reply = 0, str(e).encode()
    time.sleep(max(0.0, until - time.monotonic()))
    return "%.1f MB import: %s %s" % (len(body) / 1e6, st, reply[:80].decode("utf-8", "replace"))


ATTACKS = {"slow": attack_slow, "events": attack_events, "list": attack_list,
           "import": attack_import}


def setup(c, n):
    """n controllers through one import (below the 8 MiB limit), and the victim's own."""
    ctrls = [{"id": str(uuidlib.uuid4()), "name": "pi-%05d" % i, "address": "10.9.%d.%d" % (
        i // 250, i % 250)} for i in range(n)]
    body = json.dumps({"format": "roundhouse-registry", "controllers": ctrls}).encode()
    st, reply = http(c.port, "POST", "/api/import", body, timeout=300)
    if st != 200:
        raise RuntimeError("setup import: %s %s" % (st, reply[:200]))
    st, reply = http(c.port, "POST", "/api/controllers/register",
                     json.dumps({"name": "victim", "address": "127.0.0.1"}).encode())
    if st != 200:
        raise RuntimeError("victim register: %s %s" % (st, reply[:200]))
    return json.loads(reply)["uuid"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "bin"))
    ap.add_argument("--controllers", type=int, default=10000)
    ap.add_argument("--duration", type=float, default=15.0, help="seconds of each attack")
    ap.add_argument("--settle", type=float, default=60.0,
                    help="seconds after an attack before RSS is read again")
    ap.add_argument("--only", default="slow,events,list,import")
    ap.add_argument("--attacker", default="127.0.0.2")
    ap.add_argument("--victim", default="127.0.0.1")
    ap.add_argument("--central-flag", action="append", default=[],
                    help="extra flag for the central (repeatable; use --central-flag=--x=y)")
    args = ap.parse_args()
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    rows = []
    for name in args.only.split(","):
        tmp = tempfile.mkdtemp(prefix="rh-attack-")
        c = Central(args, tmp)
        try:
            cid = setup(c, args.controllers)
            time.sleep(2)
            before = c.rss()
            v = Victim(c.port, cid, args.victim)
            v.start()
            time.sleep(2)  # a baseline of heartbeats
            until = time.monotonic() + args.duration
            peak = [before]
            stop_rss = threading.Event()

            def watch():
                while not stop_rss.wait(0.2):
                    peak[0] = max(peak[0], c.rss())

            w = threading.Thread(target=watch, daemon=True)
            w.start()
            what = ATTACKS[name](c, args, until)
            time.sleep(2)
            v.stop()
            stop_rss.set()
            time.sleep(args.settle)
            after = c.rss()
            row = {"attack": name, "heartbeats": len(v.lat), "failed": v.failed,
                   "p50_ms": round(pct(v.lat, 50) * 1000, 1),
                   "p99_ms": round(pct(v.lat, 99) * 1000, 1),
                   "max_ms": round(max(v.lat) * 1000, 1) if v.lat else None,
                   "rss_before_mib": round(before / 1024, 1), "rss_peak_mib": round(peak[0] / 1024, 1),
                   "rss_after_mib": round(after / 1024, 1), "attacker": what}
            row["met"] = (row["p99_ms"] < 100 and after <= before * 1.2 and
                          (name != "events" or getattr(attack_events, "victim_ok", False)))
            rows.append(row)
            print(json.dumps(row), flush=True)
        finally:
            c.stop()
    print()
    print("| attack | heartbeats (failed) | p50 ms | p99 ms | max ms | RSS before / peak / "
          "after %ds MiB | met | attacker got |" % args.settle)
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d (%d) | %s | %s | %s | %s / %s / %s | %s | %s |" % (
            r["attack"], r["heartbeats"], r["failed"], r["p50_ms"], r["p99_ms"], r["max_ms"],
            r["rss_before_mib"], r["rss_peak_mib"], r["rss_after_mib"],
            "yes" if r["met"] else "no", r["attacker"]))


if __name__ == "__main__":
    main()
