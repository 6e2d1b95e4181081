#!/usr/bin/env python3
"""Instructions and system calls per request of roundhouse-central, per route.

Usage: bench/callgrind.py [--bin DIR] [--requests N] [--json FILE]

Instruction counts are stable on a busy machine, where request rates are not: this is the
measure docs/performance.md reports for the handler's own cost. For each route the central
(under `valgrind --tool=callgrind --instr-atstart=no`) gets N requests on one kept-alive
connection with instrumentation switched on (`callgrind_control -i on`); the same wall time
with no request is measured as well and subtracted (the central's timers and threads), and
the difference is divided by N. System calls are counted the same way with `strace -c -f`
attached to a central that runs without valgrind.

`--keep DIR` keeps each route's busy-window dump as DIR/<route>.out for
`callgrind_annotate --inclusive=yes`; `--only WORD` measures only the routes whose name
contains WORD.

Routes: re-registration (same name and UUID), heartbeat (with a `trains` list), runtime
config GET (no If-None-Match, the whole document every time), /api/ping, and a REST command
to the controller's train (setSpeed: read, checked and published to the broker at QoS 1).
"""

import argparse
import http.client as httpclient
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness  # noqa: E402  (free ports, the broker's path)

UUID = "5e1f0c2a-7b1d-4c1e-9a55-0f3c2d9b8a61"


def heartbeat_body(epoch):
    """A heartbeat of the edge's session epoch (an older one is only answered "ignored")."""
    return json.dumps({"config_version": 2, "session_epoch": epoch, "version": "0.1.0",
                       "trains": [{"train_id": "bench-1", "speed": 0,
                                   "direction": "FORWARD"}]}).encode()


def routes(only=None):
    """(name, method, path, body) of each measured request (those whose name holds only).
    The heartbeat's body is made once its epoch is known (current_body)."""
    reg = json.dumps({"name": "pi-bench", "uuid": UUID, "address": "127.0.0.1",
                      "version": "0.1.0", "platform": "linux"}).encode()
    hb = None
    every = [
        ("re-registration", "POST", "/api/controllers/register", reg),
        ("heartbeat", "POST", "/api/controllers/%s/heartbeat" % UUID, hb),
        ("runtime config GET", "GET", "/api/controllers/%s/config" % UUID, None),
        ("/api/ping", "GET", "/api/ping", None),
        ("REST command", "POST", "/api/trains/bench-1/command",
         json.dumps({"action": "setSpeed", "speed": 10}).encode()),
    ]
    return [r for r in every if only is None or only in r[0]]


def send(conn, method, path, body):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 400:
        raise RuntimeError("%s %s answered %d" % (method, path, r.status))
    return data


def current_body(conn, name, body):
    """The request's body: for the heartbeat, one of the session the registration before it
    opened (each registration starts a new one)."""
    if name != "heartbeat":
        return body
    reg = routes("re-registration")[0]
    answer = json.loads(send(conn, reg[1], reg[2], reg[3]))
    return heartbeat_body(answer["session_epoch"])


def start(cmd, tmp, name):
    log = open(os.path.join(tmp, name + ".log"), "wb")
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)


def wait_ping(port, timeout, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the central exited (%d): see its log" % proc.returncode)
        try:
            c = httpclient.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/api/ping")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the central did not answer /api/ping within %d s" % timeout)


def central_argv(binary, port, tmp, broker_port):
    return [binary, "--listen", "127.0.0.1:%d" % port, "--db", os.path.join(tmp, "db.sqlite"),
            "--mqtt", "127.0.0.1:%d" % broker_port, "--withrottle-listen", "off",
            "--log-level", "info", "--register-rate", "1000000"]


def prepare(port):
    """One controller with one train, so that heartbeats and configs carry real content."""
    conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=60)
    for name, method, path, body in routes()[:1]:
        send(conn, method, path, body)
    body = json.dumps({"train_id": "bench-1", "name": "Bench", "controller_uuid": UUID,
                       "plugin": {"name": "dc_motor_hat", "config": {"motor_port": 1}}}).encode()
    send(conn, "POST", "/api/trains", body)
    conn.close()


def callgrind_total(ctl, pid, outdir, before):
    """Dumps the counters and returns the instruction total of the new dump files."""
    subprocess.run([ctl, "-d", str(pid)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    total = 0
    for f in sorted(os.listdir(outdir)):
        path = os.path.join(outdir, f)
        if not f.startswith("cg.") or path in before:
            continue
        before.add(path)
        with open(path, errors="replace") as fh:
            for line in fh:
                m = re.match(r"^totals:\s+(\d+)", line)
                if m:
                    total += int(m.group(1))
                    break
    return total


def window(ctl, pid, outdir, seen, work):
    subprocess.run([ctl, "-z", str(pid)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    subprocess.run([ctl, "-i", "on", str(pid)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    work()
    elapsed = time.monotonic() - t0
    subprocess.run([ctl, "-i", "off", str(pid)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return callgrind_total(ctl, pid, outdir, seen), elapsed


def keep_dump(outdir, seen_before, keep, name):
    """Copies the dump files written since seen_before into keep/<name>.out."""
    fresh = [f for f in sorted(os.listdir(outdir))
             if f.startswith("cg.") and os.path.join(outdir, f) not in seen_before]
    if keep and fresh:
        os.makedirs(keep, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        shutil.copy(os.path.join(outdir, fresh[-1]), os.path.join(keep, slug + ".out"))


def measure_instructions(binary, broker_port, tmp, n, keep=None, only=None):
    valgrind, ctl = shutil.which("valgrind"), shutil.which("callgrind_control")
    if not valgrind or not ctl:
        raise RuntimeError("valgrind (Debian package valgrind) is needed")
    outdir = os.path.join(tmp, "callgrind")
    os.makedirs(outdir)
    port = harness.free_port()
    p = start([valgrind, "--tool=callgrind", "--instr-atstart=no",
               "--callgrind-out-file=%s/cg.%%p" % outdir] +
              central_argv(binary, port, tmp, broker_port), tmp, "central-callgrind")
    try:
        wait_ping(port, 120, p)
        prepare(port)
        seen = set()
        out = {}
        for name, method, path, body in routes(only):
            conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=60)
            body = current_body(conn, name, body)
            # The answer says the heartbeat was recorded, not ignored.
            if name == "heartbeat":
                assert json.loads(send(conn, method, path, body))["status"] == "ok"
            send(conn, method, path, body)  # the connection is open before counting starts

            def load():
                for _ in range(n):
                    send(conn, method, path, body)
            before = set(seen)
            busy, elapsed = window(ctl, p.pid, outdir, seen, load)
            keep_dump(outdir, before, keep, name)
            idle, _ = window(ctl, p.pid, outdir, seen, lambda: time.sleep(elapsed))
            conn.close()
            out[name] = max(0, busy - idle) / n
        return out
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def measure_syscalls(binary, broker_port, tmp, n, only=None):
    strace = shutil.which("strace")
    if not strace:
        return {}
    port = harness.free_port()
    p = start(central_argv(binary, port, tmp, broker_port), tmp, "central-strace")
    out = {}
    try:
        wait_ping(port, 30, p)
        prepare(port)
        for name, method, path, body in routes(only):
            conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=30)
            body = current_body(conn, name, body)
            send(conn, method, path, body)
            counts = os.path.join(tmp, "strace-%d.txt" % len(out))
            s = subprocess.Popen([strace, "-c", "-f", "-q", "-o", counts, "-p", str(p.pid)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # attached to every thread
            t0 = time.monotonic()
            for _ in range(n):
                send(conn, method, path, body)
            busy = time.monotonic() - t0
            time.sleep(max(0.0, 1.0 - busy))
            s.send_signal(signal.SIGINT)
            s.wait(30)
            conn.close()
            total = 0
            with open(counts) as fh:
                for line in fh:
                    m = re.match(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?total$", line)
                    if m:
                        total = int(m.group(1))
            out[name] = total / n
        return out
    except (OSError, subprocess.SubprocessError):
        return out
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("ROUNDHOUSE_BIN_DIR",
                                                     os.path.join(REPO, "build", "bin")))
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--json")
    ap.add_argument("--keep", help="keep each route's callgrind dump in this directory")
    ap.add_argument("--only", help="only the routes whose name contains this")
    args = ap.parse_args()
    binary = os.path.join(args.bin, "roundhouse-central")
    if not os.access(binary, os.X_OK):
        sys.exit("callgrind.py: %s is missing: build it first (make build)" % binary)
    tmp = tempfile.mkdtemp(prefix="rh-callgrind-")
    broker_port = harness.free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % broker_port)
    broker = start([harness.MOSQUITTO, "-c", conf], tmp, "mosquitto")
    try:
        time.sleep(0.5)
        instr = measure_instructions(binary, broker_port, tmp, args.requests, args.keep, args.only)
        calls = measure_syscalls(binary, broker_port, tmp, args.requests, args.only)
    finally:
        broker.send_signal(signal.SIGTERM)
        broker.wait(10)
    print("%-20s %14s %14s" % ("route", "instr/request", "syscalls/req"))
    for name, _, _, _ in routes(args.only):
        sc = calls.get(name)
        print("%-20s %14s %14s" % (name, "{:,.0f}".format(instr[name]),
                                   "%.1f" % sc if sc is not None else "-"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"instructions": instr, "syscalls": calls, "requests": args.requests}, f, indent=1)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
