#!/usr/bin/env python3
"""Failover time of the cluster-wide duties (presence sweeper, MQTT ingestion) between
centrals on one PostgreSQL database: kill -9 the instance that holds them, and measure until
another logs cluster_duty_acquired (and, optionally, until it stores a train status again).

Usage: bench/cluster_failover.py [--rounds N] [--instances K] [--bin DIR] [--json FILE]

Starts a throwaway PostgreSQL cluster (tests/support/pg-cluster.sh), one mosquitto and K
centrals on kernel-picked loopback ports in a temp directory; each round kills the holder
and starts a replacement, so K instances run throughout. Both times are taken from the log
timestamps of the programs against the moment of the kill; nothing is asserted. See
docs/performance.md ("Several centrals: duty failover").
"""

import argparse
import calendar
import json
import random
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import harness  # noqa: E402


def log_seconds(ts):
    whole = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
    return whole + (float("0" + ts[19:].rstrip("Z")) if len(ts) > 20 else 0.0)


def start_central(tmp, db, broker, n):
    argv = [harness.binary("roundhouse-central"), "--listen", "127.0.0.1:0", "--db", db,
            "--mqtt", "127.0.0.1:%d" % broker.port, "--withrottle-listen", "off",
            "--advertise", "off", "--log-level", "info"]
    c = harness.Central(argv, harness._clean_env(), tmp, os.path.join(tmp, "central-%d.log" % n),
                        db, [])
    c.wait_ready()
    c.wait_event("cluster_connected")
    return c


def holder_of(cs, timeout=30):
    def find():
        for c in cs:
            r = c.get("/health")
            if r.status == 200 and r.json.get("cluster", {}).get("duty"):
                return c
        return None
    return harness.wait_until(find, timeout=timeout, interval=0.05, message="no holder")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument("--bin", help="directory with the programs (default build/bin)")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()
    if args.bin:
        os.environ["ROUNDHOUSE_BIN_DIR"] = os.path.abspath(args.bin)
    tmp = tempfile.mkdtemp(prefix="rh-failover-")
    procs = []
    try:
        db = harness.create_pg_database()
        broker = harness.Mosquitto.start(tmp)
        procs.append(broker)
        cs = []
        for n in range(max(2, args.instances)):
            cs.append(start_central(tmp, db, broker, n))
        procs.extend(cs)
        uuid = cs[0].post("/api/controllers/register", {"name": "pi-bench", "address": "10.0.0.1"}).json["uuid"]
        r = cs[0].post("/api/controllers/%s/trains" % uuid, {"train_id": "t-bench", "name": "Bench"})
        assert r.status in (200, 201), r
        mq = harness.MqttClient(broker.port)
        acquired, ingesting = [], []
        started = len(cs)
        for rnd in range(args.rounds):
            holder = holder_of(cs)
            rest = [c for c in cs if c is not holder]
            marks = [len(c.events) for c in rest]
            # At a random moment of the standbys' lock attempts (every 0.5 s), not in step
            # with the start of the replacement.
            time.sleep(random.uniform(0.0, 1.5))
            killed_at = time.time()
            holder.send_signal(signal.SIGKILL)
            holder.stop()
            cs = rest
            ev, taker = None, None
            deadline = time.monotonic() + 30
            while ev is None and time.monotonic() < deadline:
                for c, m in zip(cs, marks):
                    got = [e for e in c.events[m:] if e.get("event") == "cluster_duty_acquired"]
                    if got:
                        ev, taker = got[0], c
                        break
                time.sleep(0.01)
            if ev is None:
                raise RuntimeError("round %d: no instance took the duty within 30 s" % rnd)
            acquired.append(log_seconds(ev["ts"]) - killed_at)
            # Status goes on being stored: publish until the new holder has stored one.
            speed = (rnd % 90) + 5

            def stored():
                mq.publish("trains/t-bench/status", {"train_id": "t-bench", "speed": speed,
                                                     "direction": "FORWARD", "state": "running",
                                                     "controller_id": uuid}, qos=0)
                r = taker.get("/api/trains/t-bench/status")
                return r.status == 200 and r.json.get("speed") == speed
            harness.wait_until(stored, timeout=30, interval=0.02, message="status never stored")
            ingesting.append(time.time() - killed_at)
            c = start_central(tmp, db, broker, started)
            started += 1
            cs.append(c)
            procs.append(c)
        mq.close()
        result = {
            "rounds": args.rounds, "instances": len(cs),
            "duty_acquired_s": {"median": statistics.median(acquired), "max": max(acquired),
                                "min": min(acquired)},
            "status_stored_again_s": {"median": statistics.median(ingesting), "max": max(ingesting)},
        }
        print("duty failover after kill -9, %d rounds, %d instances:" % (args.rounds, len(cs)))
        print("  kill -> cluster_duty_acquired: median %.3f s, min %.3f s, max %.3f s"
              % (result["duty_acquired_s"]["median"], min(acquired), max(acquired)))
        print("  kill -> a train status stored by the new holder: median %.3f s, max %.3f s"
              % (result["status_stored_again_s"]["median"], max(ingesting)))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
    finally:
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
