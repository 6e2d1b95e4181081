"""The machine's floors beside Roundhouse, for bench.py (docs/performance.md).

Run through bench.py: `bench/run-all.sh --only floors,idle`.

floors: the HTTP floor is nginx from Debian on loopback (one worker, keep-alive, access log
off, `return 200` with a small JSON body), loaded with the same wrk settings as the central
(-t2 -c16, the registration's POST). The central's re-registration, heartbeat, runtime
config GET and /api/ping are measured in the same rounds, interleaved with the floor, so
that whatever else the machine runs weighs on both alike. Each route's ratio to the floor
is taken per round and the median over rounds is reported.

The MQTT floor is three clients through the same mosquitto: a sender publishes at QoS 1 (as
the central publishes a command), an echo answers every message at QoS 0 (as an edge
publishes its status), and a listener times the answer (as the UI's client does). These are
the two broker hops of a REST command → status, without the central's HTTP and the edge's
work; bench.py's command row reports its ratio to this floor.

idle: the central with 10 controllers and an edge with one train, both idle for a while:
CPU (utime + stime from /proc), wake-ups per second (context switches of all threads) and
RSS.
"""

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import threading
import time

import harness

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def nginx_binary():
    """Debian's nginx: the installed one, or the package unpacked under build/bench-tools.

    Unpacked rather than installed: installing the package starts a system nginx on port 80,
    which a benchmark has no business doing. The binary needs only libraries every Debian
    machine with the build's dependencies has (libssl, libpcre2, zlib)."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found:
        return found
    tools = os.path.join(REPO, "build", "bench-tools")
    binary = os.path.join(tools, "usr", "sbin", "nginx")
    if not os.access(binary, os.X_OK):
        os.makedirs(tools, exist_ok=True)
        subprocess.run(["apt-get", "download", "nginx"], cwd=tools, check=True,
                       capture_output=True, timeout=300)
        debs = sorted(f for f in os.listdir(tools) if f.startswith("nginx_") and f.endswith(".deb"))
        if not debs:
            raise RuntimeError("apt-get download nginx gave no package")
        subprocess.run(["dpkg", "-x", os.path.join(tools, debs[-1]), tools], check=True, timeout=120)
    return binary


def start_nginx(bench_mod, env):
    """nginx on a free loopback port in env.tmp; returns (proc, url)."""
    nginx = nginx_binary()
    root = os.path.join(env.tmp, "nginx")
    os.makedirs(os.path.join(root, "logs"), exist_ok=True)
    for _ in range(5):
        port = harness.free_port()
        conf = os.path.join(root, "nginx.conf")
        temp = "".join("%s_temp_path %s/%s;\n    " % (k, root, k)
                       for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(conf, "w") as f:
            f.write("""daemon off;
worker_processes 1;
pid %(root)s/nginx.pid;
error_log %(root)s/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    %(temp)s
    server {
        listen 127.0.0.1:%(port)d;
        location / {
            default_type application/json;
            return 200 '{"status":"ok"}';
        }
    }
}
""" % {"root": root, "port": port, "temp": temp})
        p = bench_mod.Proc("nginx", [nginx, "-p", root, "-c", conf, "-e", root + "/logs/error.log"],
                           env.tmp)
        if harness.wait_tcp("127.0.0.1", port, timeout=10, alive=lambda: p.p.poll() is None):
            return p, "http://127.0.0.1:%d" % port
        p.stop(timeout=2)
    raise RuntimeError("nginx did not start")


def http_floors(bench, bench_mod):
    """Rows: each route's rate, p50, p99 and its median ratio to nginx over the rounds."""
    rounds = 1 if bench.quick else 3
    secs = 3 if bench.quick else 10
    env = bench_mod.Env(bench, "floors")
    try:
        env.start_broker()
        env.start_central()
        bench_mod.fleet(bench, env, "--controllers", 100, "--scenario", "boot-storm",
                        "--seed", 19, "--boot-timeout", 120)
        rows = bench_mod.controller_rows(env, "fleet-19-")
        ids = bench_mod.ids_file(env, rows, "ids-floors")
        nginx, nginx_url = start_nginx(bench_mod, env)
        targets = [("nginx (floor)", "register", nginx_url),
                   ("re-registration", "register", env.central.url),
                   ("heartbeat", "heartbeat", env.central.url),
                   ("runtime config GET", "config", env.central.url),
                   ("/api/ping", "ping", env.central.url)]
        runs = {name: [] for name, _, _ in targets}
        for _ in range(rounds):
            for name, mode, url in targets:
                runs[name].append(bench_mod.wrk(bench, env, mode, ids, secs, connections=16,
                                                url=url))
        nginx.stop()
        floor = runs["nginx (floor)"]
        out = {}
        for name, _, _ in targets:
            r = runs[name]
            ratios = [a["rps"] / b["rps"] for a, b in zip(r, floor)]
            out[name] = {"runs": r, "ratio_median": statistics.median(ratios),
                         "rps_median": statistics.median(x["rps"] for x in r),
                         "p99_ms_max": max(x["p99_us"] for x in r) / 1e3,
                         "errors": sum(x["errors"] for x in r)}
        bench.details["http_floors"] = out
        goals = {"re-registration": 0.5, "heartbeat": 0.5, "runtime config GET": 0.6}
        for name, _, _ in targets:
            d = out[name]
            rates = "-".join("{:,.0f}".format(x["rps"]) for x in sorted(d["runs"], key=lambda x: x["rps"]))
            result = "%s/s, p99 <= %.2f ms, %.2f of the floor, %d errors" % (
                rates, d["p99_ms_max"], d["ratio_median"], d["errors"])
            goal = goals.get(name)
            if goal is None:
                bench.row("wrk -t2 -c16: %s" % name, result)
            else:
                bench.row("wrk -t2 -c16: %s" % name, result,
                          ">= %.0f %% of nginx, p99 < 5 ms" % (goal * 100),
                          d["ratio_median"] >= goal and d["p99_ms_max"] < 5 and d["errors"] == 0)
    finally:
        env.close()


def nodelay(client):
    """TCP_NODELAY on a harness.MqttClient's socket, as the central and the edge set it."""
    client._c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def mqtt_floor(broker_port, count, gap=0.02):
    """Round trips (ms) through the broker shaped like a command and its status: a sender
    publishes at QoS 1 (the central, TCP_NODELAY), an echo answers at QoS 0 (the edge,
    TCP_NODELAY), a listener that only subscribes times the answer (the UI's client). gap:
    the idle seconds before each message; compare a path with the floor at the same gap, since
    every process here wakes from a longer sleep more slowly."""
    sender = harness.MqttClient(broker_port)
    echo = harness.MqttClient(broker_port)
    listener = harness.MqttClient(broker_port)
    got = []
    cond = threading.Condition()
    try:
        nodelay(sender)
        nodelay(echo)

        def answer(c, u, msg):
            c.publish("floor/pong", msg.payload, qos=0)
        echo._c.on_message = answer
        echo.subscribe("floor/ping")

        def arrived(c, u, msg):
            t = time.perf_counter()
            with cond:
                got.append((t, msg.payload))
                cond.notify_all()
        listener._c.on_message = arrived
        listener.subscribe("floor/pong", qos=0)
        lat = []
        for i in range(count):
            time.sleep(gap)
            body = json.dumps({"n": i}).encode()
            with cond:
                start_idx = len(got)
            t0 = time.perf_counter()
            sender._c.publish("floor/ping", body, qos=1)
            deadline = time.monotonic() + 5
            with cond:
                found = None
                while found is None and time.monotonic() < deadline:
                    found = next((t for t, p in got[start_idx:] if p == body), None)
                    if found is None:
                        cond.wait(0.05)
            if found is None:
                raise RuntimeError("the MQTT floor lost message %d" % i)
            lat.append((found - t0) * 1000)
        return lat
    finally:
        for c in (sender, echo, listener):
            c.close()


# ---- idle

def proc_sample(pid):
    """(cpu seconds, context switches of all threads, RSS KiB) of a process now."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    switches = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                text = f.read()
        except OSError:
            continue  # a thread that ended meanwhile
        switches += sum(int(v) for v in re.findall(r"ctxt_switches:\s+(\d+)", text))
    with open("/proc/%d/status" % pid) as f:
        rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    return cpu, switches, rss


def idle_over(pid, seconds):
    c0, s0, _ = proc_sample(pid)
    time.sleep(seconds)
    c1, s1, rss = proc_sample(pid)
    return {"cpu_percent": (c1 - c0) / seconds * 100, "wakeups_per_s": (s1 - s0) / seconds,
            "rss_kib": rss}


def idle(bench, bench_mod):
    secs = 5 if bench.quick else 30
    env = bench_mod.Env(bench, "idle")
    try:
        env.start_broker()
        central = env.start_central()
        bench_mod.fleet(bench, env, "--controllers", 10, "--scenario", "boot-storm",
                        "--seed", 23, "--boot-timeout", 60)
        state = os.path.join(env.tmp, "edge")
        edge = bench_mod.Proc("edge", [bench.bin("roundhouse-edge"), "--central", central.url,
                                       "--state-dir", state, "--health-listen", "off",
                                       "--simulate", "--name", "idle-edge", "--log-level", "info"],
                              env.tmp, env={"TRAIN_ID": "idle1", "TRAIN_NAME": "Idle",
                                            "MOTOR_PORT": "1"}, pipe=True)
        edge.wait_line(r'"event":"mqtt_connected"', 30)
        time.sleep(2)  # past the first heartbeat and config fetch
        # Both at once: the same window, the edge's heartbeats included in the central's.
        res = {}
        threads = [threading.Thread(target=lambda k=k, p=p: res.__setitem__(k, idle_over(p, secs)))
                   for k, p in (("central", central.pid), ("edge", edge.pid))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(secs + 30)
        bench.details["idle"] = res
        for k in ("central", "edge"):
            d = res[k]
            bench.row("idle %s (%s)" % (k, "10 controllers" if k == "central" else "1 train"),
                      "CPU %.2f %%, %.1f wake-ups/s, RSS %.1f MiB (%d s)" % (
                          d["cpu_percent"], d["wakeups_per_s"], d["rss_kib"] / 1024, secs))
        edge.stop()
    finally:
        env.close()
