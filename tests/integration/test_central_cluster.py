#!/usr/bin/env python3
"""Several centrals on one PostgreSQL database behave as one central (docs/architecture.md,
"Several centrals on one database"): what is changed through one instance is seen on the
others' event streams and long polls, a registration storm spread over two instances makes
no duplicate, config versions rise one at a time with one config/update message each, a stop
of the layout holds on every instance, a restart of the database server cuts the instances apart
only for a moment, and the presence sweeper runs on exactly one instance
and moves to another after a kill -9 (the time it took is printed, not asserted).

Always on PostgreSQL: the test starts its own throwaway cluster (tests/support/pg-cluster.sh)
whatever ROUNDHOUSE_TEST_DB says; ctest runs it as integration_pg_test_central_cluster."""
import calendar
import collections
import json
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import harness
from test_central_live import EventStream


def iso_seconds(ts):
    """The log's ISO-8601 timestamp ("2026-11-27T10:15:00.123Z") as seconds since the epoch."""
    whole = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
    return whole + (float("0" + ts[19:].rstrip("Z")) if len(ts) > 20 else 0.0)


class ClusterTest(harness.RoundhouseTestCase):

    def setUp(self):
        super().setUp()
        self.db = harness.create_pg_database()

    def start_instances(self, n, *flags):
        """n centrals on this test's database; returns them once each has its cluster session
        and one of them holds the duty."""
        cs = [self.start_central(*flags, db=self.db) for _ in range(n)]
        for c in cs:
            c.wait_event("cluster_connected")
        harness.wait_until(lambda: self.holders(cs), timeout=20, interval=0.1,
                           message="no instance took the duty")
        return cs

    def cluster(self, c):
        return self.get_json(c, "/health")["cluster"]

    def holders(self, cs):
        return [c for c in cs if c.alive and self.cluster(c)["duty"]]

    def wait_interest(self, c, n=1):
        """Until c knows that n other instances have event streams open (it then builds the
        events its hot paths skip when nobody watches)."""
        harness.wait_until(lambda: self.cluster(c)["peers_streaming"] >= n, timeout=20,
                           interval=0.05, message="the other instance's stream was never announced")

    def rename(self, c, uuid, name):
        r = c.patch("/api/controllers/%s" % uuid, {"name": name})
        self.assertEqual(r.status, 200, r)
        return r.json["config_version"]

    def test_changes_through_one_are_seen_on_the_other(self):
        a, b = self.start_instances(2)
        for c in (a, b):
            self.assertFalse(c.find_events("cluster_disconnected"), c.stderr_text())
        stream_b = EventStream(b)
        self.addCleanup(stream_b.close)
        stream_a = EventStream(a)
        self.addCleanup(stream_a.close)
        self.wait_interest(a)
        self.wait_interest(b)

        u = self.register(a, "pi-seen", "10.60.0.1")["uuid"]
        stream_b.wait("controller", lambda d: d.get("id") == u and d.get("status") == "online")
        self.add_train(a, u, "t-seen")
        stream_b.wait("train", lambda d: d.get("id") == "t-seen" and d.get("controller_id") == u)
        r = b.put("/api/trains/t-seen", {"name": "Renamed on b"})
        self.assertEqual(r.status, 200, r)
        stream_a.wait("train", lambda d: d.get("id") == "t-seen" and d.get("name") == "Renamed on b")
        self.rename(b, u, "pi-seen-2")
        stream_a.wait("controller", lambda d: d.get("id") == u and d.get("name") == "pi-seen-2")
        self.assertEqual(a.delete("/api/trains/t-seen").status, 204)
        stream_b.wait("train", lambda d: d.get("id") == "t-seen" and d.get("deleted") is True)

        # A status from the broker is taken by one instance (a shared subscription), stored
        # once and shown on every stream once.
        self.add_train(a, u, "t-status")
        with harness.MqttClient(self.broker.port) as mq:
            for speed in (11, 22, 33):
                mq.publish("trains/t-status/status",
                           {"train_id": "t-status", "speed": speed, "direction": "FORWARD",
                            "state": "running", "controller_id": u})
        for s in (stream_a, stream_b):
            s.wait("status", lambda d: d.get("train_id") == "t-status" and d.get("speed") == 33)
        self.assertEqual(self.get_json(b, "/api/trains/t-status/status")["speed"], 33)
        # Any second copy would have come with the first: the stream is in order, and the
        # marker below is published after the statuses.
        self.rename(a, u, "pi-seen-marker")
        for s in (stream_a, stream_b):
            s.wait("controller", lambda d: d.get("name") == "pi-seen-marker")
            with s.lock:
                speeds = [e[2].get("speed") for e in s.events
                          if e[1] == "status" and e[2].get("train_id") == "t-status"]
            self.assertEqual(collections.Counter(speeds), {11: 1, 22: 1, 33: 1}, speeds)

    def test_long_poll_on_one_answers_a_change_through_the_other(self):
        a, b = self.start_instances(2)
        u = self.register(a, "pi-poll", "10.60.1.1")["uuid"]
        version = self.get_json(b, "/api/controllers/%s" % u)["config_version"]
        result = {}

        def poll():
            result["resp"] = b.get("/api/controllers/%s/config?wait=50&version=%d" % (u, version),
                                   timeout=60)

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)  # let it park; the answer does not depend on this
        self.assertTrue(t.is_alive(), "the request should still be parked")
        self.add_train(a, u, "t-poll")
        # Well before the 50 s wait ends: only the wake-up from a answers this early.
        t.join(timeout=20)
        self.assertFalse(t.is_alive(), "the parked request on b was not woken by a's change")
        r = result["resp"]
        self.assertEqual(r.status, 200, r)
        self.assertGreater(r.json["version"], version)
        self.assertEqual(r.json["train_id"], "t-poll")

    def test_registration_storm_over_both_makes_no_duplicate(self):
        a, b = self.start_instances(2, "--register-rate", "100000/min")
        uuids = [harness.new_uuid() for _ in range(40)]

        def register(job):
            c, u, i = job
            return u, c.post("/api/controllers/register",
                             {"name": "pi-storm-%d" % i, "address": "10.61.0.%d" % (i + 1), "uuid": u})

        # Each controller at once through both instances: as an edge whose first answer was
        # lost retries through the other one behind a load balancer.
        jobs = [(c, u, i) for i, u in enumerate(uuids) for c in (a, b)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(register, jobs))
        by_uuid = collections.defaultdict(list)
        for u, r in answers:
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["uuid"], u)
            by_uuid[u].append(r.json)
        for u, got in by_uuid.items():
            # One created it (the database was empty: "restored", with the UUID it brought),
            # the other found it: never two creations, and two sessions one after the other.
            self.assertEqual(sorted(x["status"] for x in got), ["reactivated", "restored"], got)
            self.assertEqual(len({x["session_epoch"] for x in got}), 2, got)
        self.assertEqual(harness.db_execute(self.db, "SELECT COUNT(*) FROM controllers"),
                         [(str(len(uuids)),)])
        listed = self.get_json(b, "/api/controllers")
        self.assertEqual(sorted(x["id"] for x in listed), sorted(uuids))

    def test_config_versions_rise_once_each_with_one_notification(self):
        a, b = self.start_instances(2)
        u = self.register(a, "pi-ver", "10.62.0.1")["uuid"]
        start = self.get_json(a, "/api/controllers/%s" % u)["config_version"]
        received = []
        lock = threading.Lock()
        with harness.MqttClient(self.broker.port) as mq:
            topic = "controllers/%s/config/update" % u
            mq.subscribe(topic)

            def versions():
                with lock:
                    del received[:]
                    received.extend(json.loads(m[1])["version"] for m in mq.messages
                                    if m[0] == topic and m[1])
                    return list(received)

            # One after the other, through a and b in turn.
            answered = [self.rename((a, b)[i % 2], u, "pi-ver-%d" % i) for i in range(10)]
            self.assertEqual(answered, list(range(start + 1, start + 11)))
            harness.wait_until(lambda: answered[-1] in versions(), timeout=15, interval=0.05,
                               message="the last version was never announced")
            # Both instances ingest nothing of this; give a stray second copy time to show.
            time.sleep(1.0)
            self.assertEqual(collections.Counter(versions()), collections.Counter(answered))

            # At the same moment through both: every rename commits (a conflict runs the
            # request again), each as its own version, and each commit sends one message.
            def renames(c, tag):
                return [self.rename(c, u, "pi-ver-%s-%d" % (tag, i)) for i in range(10)]

            with ThreadPoolExecutor(max_workers=2) as pool:
                ra, rb = pool.submit(renames, a, "a"), pool.submit(renames, b, "b")
                concurrent = ra.result() + rb.result()
            final = start + 30
            self.assertEqual(sorted(concurrent), list(range(start + 11, final + 1)))
            for c in (a, b):
                self.assertEqual(self.get_json(c, "/api/controllers/%s" % u)["config_version"], final)
            harness.wait_until(lambda: len(versions()) >= 30, timeout=15, interval=0.05,
                               message="not every commit was announced")
            time.sleep(1.0)
            got = versions()
        self.assertEqual(len(got), 30, got)
        self.assertEqual(max(got), final)
        later = got[10:]
        self.assertTrue(set(later) <= set(concurrent), later)
        # A commit's message names the version read right after it: when the other instance
        # committed in between, both name the newer one (edges act on the newest anyway).
        print("\nconcurrent renames: %d commits, %d messages, %d distinct versions announced"
              % (len(concurrent), len(later), len(set(later))), file=sys.stderr)

    def test_layout_stop_through_one_holds_on_the_other(self):
        a, b = self.start_instances(2)
        u = self.register(a, "pi-stop", "10.63.0.1")["uuid"]
        self.add_train(a, u, "t-stop")
        r = a.post("/api/emergency-stop", {})
        self.assertEqual(r.status, 202, r)
        harness.wait_until(lambda: self.get_json(b, "/api/layout")["stopped"], timeout=15,
                           interval=0.05, message="b never heard of the stop")
        b.wait_event("layout_changed_elsewhere", where=lambda e: e.get("stopped") is True)
        r = b.post("/api/trains/t-stop/command", {"action": "setSpeed", "speed": 40})
        self.assertJsonError(r, 409, error="layout_stopped")
        r = b.post("/api/layout/resume", {})
        self.assertEqual(r.status, 200, r)
        harness.wait_until(lambda: not self.get_json(a, "/api/layout")["stopped"], timeout=15,
                           interval=0.05, message="a never heard of the resume")
        r = a.post("/api/trains/t-stop/command", {"action": "setSpeed", "speed": 40})
        self.assertEqual(r.status, 202, r)

    def test_database_restart_cuts_the_cluster_sessions_and_they_come_back(self):
        a, b = self.start_instances(2)
        marks = [len(a.events), len(b.events)]
        harness.restart_postgres()
        for c, m in zip((a, b), marks):
            c.wait_event("cluster_disconnected", start=m)
            c.wait_event("cluster_resync", timeout=30, start=m)
        harness.wait_until(lambda: len(self.holders([a, b])) == 1, timeout=20, interval=0.1,
                           message="no instance took the duty again")
        self.assertEqual(len(self.holders([a, b])), 1)
        stream = EventStream(b)
        self.addCleanup(stream.close)
        self.wait_interest(a)
        u = self.register(a, "pi-after-restart", "10.65.0.1")["uuid"]
        stream.wait("controller", lambda d: d.get("id") == u)
        for c in (a, b):
            self.assertEqual(self.get_json(c, "/health")["status"], "healthy")

    def test_sweeper_duty_runs_once_and_fails_over_after_kill_9(self):
        flags = ("--stale-after", "1", "--offline-after", "2")
        cs = self.start_instances(2, *flags)
        holders = self.holders(cs)
        self.assertEqual(len(holders), 1, [self.cluster(c) for c in cs])
        holder = holders[0]
        standby = cs[1] if holder is cs[0] else cs[0]
        held_by = self.cluster(holder)["instance"]
        seen = standby.wait_event("cluster_duty_standby")
        self.assertEqual(seen["holder"], "roundhouse-central cluster " + held_by, seen)

        stream = EventStream(standby)
        self.addCleanup(stream.close)
        self.wait_interest(holder)
        u = self.register(standby, "pi-sweep", "10.64.0.1")["uuid"]
        # The holder notices the silence; the standby's stream shows it all the same.
        holder.wait_event("controller_presence_changed", timeout=20,
                          where=lambda e: e.get("uuid") == u and e.get("to") == "offline")
        stream.wait("controller", lambda d: d.get("id") == u and d.get("status") == "offline")
        self.assertEqual(standby.find_events("controller_presence_changed"), [])

        before = len(standby.events)
        killed_at = time.time()
        holder.send_signal(signal.SIGKILL)
        holder.stop()  # reaps it; the kill is the point here, not a failure
        took = standby.wait_event("cluster_duty_acquired", timeout=30, start=before)
        v = self.register(standby, "pi-sweep-2", "10.64.0.2")["uuid"]
        standby.wait_event("controller_presence_changed", timeout=20, start=before,
                           where=lambda e: e.get("uuid") == v and e.get("to") == "offline")
        self.assertEqual(self.holders([standby]), [standby])
        print("\nsweeper duty failover after kill -9: %.3f s (kill to cluster_duty_acquired on "
              "the standby)" % (iso_seconds(took["ts"]) - killed_at), file=sys.stderr)

        # A newcomer waits behind the new holder.
        third = self.start_central(*flags, db=self.db)
        seen = third.wait_event("cluster_duty_standby")
        self.assertEqual(seen["holder"], "roundhouse-central cluster " + self.cluster(standby)["instance"])
        self.assertFalse(self.cluster(third)["duty"])
        # Stopped cleanly, the holder hands over at once.
        before = len(third.events)
        self.stop(standby)
        third.wait_event("cluster_duty_acquired", timeout=30, start=before)


if __name__ == "__main__":
    harness.main()
