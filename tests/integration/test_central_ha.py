#!/usr/bin/env python3
"""Two centrals on one PostgreSQL database, and one of them killed with kill -9 under a steady
load (docs/operations.md, "Two centrals behind haproxy"):

- behind haproxy, run with deploy/haproxy/haproxy.cfg from "defaults" on: edges pointed at
  haproxy keep heartbeating through the other instance, an event stream through haproxy
  reconnects and shows a later change, every write that was acknowledged is in the database
  afterwards, and no controller appears twice;
- without a load balancer: an edge given both URLs (--central A,B) moves to the second when
  the first is killed, and keeps heartbeating there.

Always on PostgreSQL: the test starts its own throwaway cluster (tests/support/pg-cluster.sh)
whatever ROUNDHOUSE_TEST_DB says; ctest runs it as integration_pg_test_central_ha."""
import calendar
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import harness

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
RECIPE = os.path.join(harness.REPO, "deploy", "haproxy", "haproxy.cfg")

#: The per-address limits the recipe raises on instances behind the proxy (operations.md).
BEHIND_PROXY = ("--max-connections-per-ip", "1000", "--max-event-streams-per-ip", "256",
                "--register-rate", "600")


def iso_seconds(ts):
    """An ISO-8601 UTC timestamp of the API ("2026-11-27T10:15:00.123Z") as epoch seconds."""
    whole = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
    return whole + (float("0" + ts[19:].rstrip("Z")) if len(ts) > 20 else 0.0)


def recipe_for_test(listen_fd, servers):
    """The documented configuration with a global section of the test's own (foreground, log
    to stderr, no chroot or user switch), the frontend on the inherited socket and the server
    lines on the given (name, port) pairs. Asserts that the file still has the shape this
    replaces."""
    with open(RECIPE) as f:
        text = f.read()
    start = re.search(r"^defaults\b", text, re.M)
    assert start, "%s: no defaults section" % RECIPE
    body = text[start.start():]
    binds = re.findall(r"^(\s+)bind\s.*$", body, re.M)
    assert len(binds) == 1, "%s: expected one bind line, found %d" % (RECIPE, len(binds))
    body = re.sub(r"^(\s+)bind\s.*$", r"\1bind fd@%d" % listen_fd, body, flags=re.M)
    lines = list(re.finditer(r"^(\s+)server\s+(\S+)\s+\S+(.*)$", body, re.M))
    assert len(lines) == len(servers), "%s: expected %d server lines" % (RECIPE, len(servers))
    for m, (name, port) in reversed(list(zip(lines, servers))):
        body = body[:m.start()] + "%sserver %s 127.0.0.1:%d%s" % (m.group(1), name, port,
                                                                  m.group(3)) + body[m.end():]
    return "global\n    log stderr format raw local0 info\n    maxconn 2000\n\n" + body


def timeout_seconds(text, name):
    m = re.search(r"^\s+timeout\s+%s\s+(\d+)(ms|s|m)?\s*$" % name, text, re.M)
    assert m, "no 'timeout %s' in %s" % (name, RECIPE)
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 0.001}[m.group(2)]


class HAProxy(harness.Process):
    """haproxy in the foreground on a listening socket the test bound (port in ``port``)."""

    @classmethod
    def start(cls, tmpdir, servers):
        if not os.access(HAPROXY, os.X_OK):
            raise AssertionError("%s not found: install Debian's haproxy package "
                                 "(scripts/install-deps.sh)" % HAPROXY)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        conf = os.path.join(tmpdir, "haproxy.cfg")
        with open(conf, "w") as f:
            f.write(recipe_for_test(sock.fileno(), servers))
        check = subprocess.run([HAPROXY, "-c", "-f", conf], capture_output=True, text=True,
                               timeout=60, pass_fds=(sock.fileno(),))
        assert check.returncode == 0, "haproxy -c: %s%s" % (check.stdout, check.stderr)
        proxy = cls("haproxy", [HAPROXY, "-db", "-f", conf], harness._clean_env(), tmpdir,
                    os.path.join(tmpdir, "haproxy.log"), pass_fds=(sock.fileno(),))
        proxy.port = sock.getsockname()[1]
        sock.close()  # haproxy holds its own copy
        proxy.client = harness.HttpClient("127.0.0.1", proxy.port, timeout=10)
        return proxy

    def stop(self, timeout=harness.STOP_TIMEOUT, sig=signal.SIGTERM):
        # Not under test: its exit status after a stop signal is not ours to judge.
        problems = super().stop(timeout, sig)
        return [p for p in problems if "killed" in p]


class Stream:
    """A client of GET /api/events as the web UI is: when the stream ends it connects again
    (after the 3 s the stream's retry field asks for, shortened here), at most 20 times.
    ``events`` holds (connection number, type, data)."""

    def __init__(self, port):
        self.port = port
        self.events = []
        self.opened = 0
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.conn = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = time.monotonic() + 120
        for _ in range(20):
            if self.done.is_set() or time.monotonic() > deadline:
                return
            try:
                self._read_one()
            except (OSError, http.client.HTTPException, ValueError):
                pass
            self.done.wait(0.3)

    def _read_one(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.conn = conn
        try:
            conn.request("GET", "/api/events", headers={"Accept": "text/event-stream"})
            resp = conn.getresponse()
            if resp.status != 200:
                return
            with self.lock:
                self.opened += 1
                number = self.opened
            ev = {}
            while not self.done.is_set():
                # The response decoded (chunked through haproxy), not the raw socket: a line
                # may be split across chunks.
                line = resp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line == "":
                    if "data" in ev:
                        with self.lock:
                            self.events.append((number, ev.get("event"), json.loads(ev["data"])))
                    ev = {}
                elif not line.startswith(":") and ":" in line:
                    k, v = line.split(":", 1)
                    ev[k] = v[1:] if v.startswith(" ") else v
        finally:
            conn.close()

    def wait(self, kind, where, after=0, timeout=20):
        def found():
            with self.lock:
                return next((e for e in self.events
                             if e[0] > after and e[1] == kind and where(e[2])), None)
        return harness.wait_until(found, timeout=timeout, interval=0.05,
                                  message="no %s event on a connection after #%d" % (kind, after))

    def close(self):
        self.done.set()
        conn = self.conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(timeout=10)


class LongPoller:
    """Asks GET /api/controllers/{uuid}/config?wait=50&version=V through one address until the
    answer is a newer config, again after any other answer or a cut connection (at most 20
    times, 120 s). ``answers`` holds each status (0: no answer)."""

    def __init__(self, port, uuid, version):
        self.client = harness.HttpClient("127.0.0.1", port, timeout=65)
        self.path = "/api/controllers/%s/config?wait=50&version=%d" % (uuid, version)
        self.version = version
        self.answers = []
        self.newer = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = time.monotonic() + 120
        for _ in range(20):
            if self.done.is_set() or time.monotonic() > deadline:
                return
            try:
                r = self.client.get(self.path)
            except (OSError, http.client.HTTPException):
                self.answers.append(0)
                self.done.wait(0.3)
                continue
            self.answers.append(r.status)
            if r.status == 200 and r.json and r.json.get("version", 0) > self.version:
                self.newer = r.json
                return
            self.done.wait(0.3)


class Writer:
    """Writes through one address without pause, one request at a time, at most 600: new
    trains on the given controllers, and every second request a move of an earlier one to
    the next controller. ``acked`` maps each train to the controller of its last
    acknowledged write; ``unsure`` holds the trains whose last write had no answer or
    failed (it may or may not have been committed)."""

    def __init__(self, port, controllers):
        self.client = harness.HttpClient("127.0.0.1", port, timeout=10)
        self.controllers = controllers
        self.acked = {}
        self.unsure = set()
        self.attempts = 0
        self.moves = 0
        self.failed = []  # the status of each write that was not acknowledged (0: no answer)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def acknowledged(self):
        with self.lock:
            return len(self.acked) + self.moves

    def _write(self, train, controller, create):
        try:
            if create:
                r = self.client.post("/api/trains", {
                    "train_id": train, "name": "Train %s" % train, "controller_uuid": controller,
                    "plugin": {"name": "simulator", "config": {}}})
            else:
                r = self.client.put("/api/trains/%s" % train, {"controller_id": controller})
            status = r.status
        except (OSError, http.client.HTTPException):
            status = 0
        ok = status in (200, 201)
        with self.lock:
            self.attempts += 1
            if not ok:
                self.failed.append(status)
            if ok:
                self.acked[train] = controller
                self.unsure.discard(train)
                if not create:
                    self.moves += 1
            else:
                self.unsure.add(train)

    def _run(self):
        n = len(self.controllers)
        for i in range(300):
            if self.done.is_set():
                return
            self._write("ha-%d" % i, self.controllers[i % n], True)
            with self.lock:
                earlier = sorted(self.acked)
            if earlier:
                t = earlier[(7 * i) % len(earlier)]
                self._write(t, self.controllers[(i + 1) % n], False)
            self.done.wait(0.05)

    def stop(self):
        self.done.set()
        self.thread.join(timeout=30)


class HighAvailabilityTest(harness.RoundhouseTestCase):

    def setUp(self):
        super().setUp()
        self.db = harness.create_pg_database()

    def start_pair(self, *flags):
        cs = [self.start_central("--heartbeat-interval", "1", *flags, db=self.db) for _ in range(2)]
        for c in cs:
            c.wait_event("cluster_connected")
        return cs

    def controller(self, client, uuid):
        r = client.get("/api/controllers/%s" % uuid)
        self.assertEqual(r.status, 200, r)
        return r.json

    def wait_heartbeats_after(self, client, uuids, since):
        """Until every controller has been seen online later than ``since`` (epoch s)."""
        def all_newer():
            docs = [self.controller(client, u) for u in uuids]
            return all(d["status"] == "online" and d["last_seen"]
                       and iso_seconds(d["last_seen"]) > since for d in docs) and docs
        return harness.wait_until(all_newer, timeout=20, interval=0.2,
                                  message="not every edge heartbeat after the kill")

    def controller_ids(self):
        return sorted(r[0] for r in harness.db_execute(self.db, "SELECT id FROM controllers"))

    def test_recipe_timeouts_outlast_long_polls_and_stream_keepalives(self):
        with open(RECIPE) as f:
            text = f.read()
        # GET /api/controllers/{id}/config?wait= takes at most 55 s (docs/api.md); the event
        # stream writes a keepalive every 15 s. Either timeout cutting them would be a defect.
        for name in ("client", "server"):
            self.assertGreater(timeout_seconds(text, name), 55 + 5, name)

    def test_kill_one_behind_haproxy_under_load(self):
        a, b = self.start_pair(*BEHIND_PROXY)
        proxy = HAProxy.start(self.tmp, [("central-a", a.port), ("central-b", b.port)])
        self._procs.append(proxy)
        harness.wait_until(lambda: proxy.client.get("/health").status == 200, timeout=20,
                           interval=0.1, message="haproxy never answered /health")
        url = "http://127.0.0.1:%d" % proxy.port

        edges = [self.start_edge(url, state_dir=os.path.join(self.tmp, "edge-%d" % i),
                                 name="pi-ha-%d" % i) for i in range(3)]
        uuids = [e.wait_event("controller_registered", timeout=30)["uuid"] for e in edges]
        for e in edges:
            e.wait_event("heartbeat_ok", timeout=30)
        stream = Stream(proxy.port)
        self.addCleanup(stream.close)
        # A controller of the test's own (the edges hold secrets) for a long poll through
        # haproxy, parked on whichever instance haproxy picks.
        ui = self.register(proxy.client, "pi-ha-poll", "10.66.0.1")
        poller = LongPoller(proxy.port, ui["uuid"], ui["config_version"])
        self.addCleanup(poller.done.set)
        writer = Writer(proxy.port, uuids)
        self.addCleanup(writer.stop)
        harness.wait_until(lambda: stream.opened >= 1, timeout=20, message="no event stream")
        harness.wait_until(lambda: writer.acknowledged() >= 10, timeout=30,
                           message="the writes through haproxy are not acknowledged")
        self.wait_heartbeats_after(proxy.client, uuids, 0)

        # The instance serving the event stream dies: the stream must move too.
        def streaming(c):
            m = re.search(r"^roundhouse_event_streams (\d+)", c.get("/metrics").body.decode(), re.M)
            return int(m.group(1)) if m else 0
        victim = harness.wait_until(lambda: next((c for c in (a, b) if streaming(c)), None),
                                    timeout=10, message="neither instance has the stream")
        survivor = b if victim is a else a
        acked_before = writer.acknowledged()
        killed_at = time.time()
        victim.send_signal(signal.SIGKILL)
        victim.stop()  # reaps it; the kill is the point here, not a failure

        # Edges: heartbeats through the survivor, seen there (and so in the database).
        self.wait_heartbeats_after(survivor.client, uuids, killed_at + 0.5)
        # The event stream: reconnected through haproxy, and it shows what changes now.
        harness.wait_until(lambda: stream.opened >= 2, timeout=20,
                           message="the event stream did not reconnect through haproxy")
        r = proxy.client.patch("/api/controllers/%s" % uuids[0], {"name": "pi-ha-renamed"})
        self.assertEqual(r.status, 200, r)
        stream.wait("controller", lambda d: d.get("id") == uuids[0]
                    and d.get("name") == "pi-ha-renamed", after=1)
        # The long poll: answered by the survivor (cut on the victim, asked again), with the
        # config this rename makes.
        r = proxy.client.patch("/api/controllers/%s" % ui["uuid"], {"name": "pi-ha-poll-2"})
        self.assertEqual(r.status, 200, r)
        poller.thread.join(timeout=60)
        self.assertIsNotNone(poller.newer, "long poll answers: %r" % poller.answers)
        self.assertEqual(poller.newer["name"], "pi-ha-poll-2")
        # Writes go on through the survivor.
        harness.wait_until(lambda: writer.acknowledged() >= acked_before + 10, timeout=30,
                           message="no writes acknowledged after the kill")
        writer.stop()

        rows = dict(harness.db_execute(self.db, "SELECT id, desired_controller_id FROM trains"))
        with writer.lock:
            acked, unsure = dict(writer.acked), set(writer.unsure)
        missing = sorted(t for t in acked if t not in rows)
        self.assertEqual(missing, [], "acknowledged but not in the database")
        wrong = {t: (c, rows[t]) for t, c in acked.items() if t not in unsure and rows[t] != c}
        self.assertEqual(wrong, {}, "the last acknowledged move is not what the database holds")
        everyone = sorted(uuids + [ui["uuid"]])
        self.assertEqual(self.controller_ids(), everyone)
        listed = [x["id"] for x in self.get_json(proxy.client, "/api/controllers")]
        self.assertEqual(sorted(listed), everyone)
        for e, u in zip(edges, uuids):
            self.assertTrue(e.alive, e.stderr_text())
            self.assertEqual({x["uuid"] for x in e.find_events("controller_registered")}, {u})
        # One connection before the kill, one after: haproxy cut nothing on the survivor.
        self.assertEqual(stream.opened, 2)
        print("\n%d writes, %d acknowledged, not acknowledged: %r; long poll answers %r"
              % (writer.attempts, writer.acknowledged(), writer.failed, poller.answers),
              file=sys.stderr)

    def test_edge_with_two_urls_moves_to_the_second_when_the_first_dies(self):
        a, b = self.start_pair()
        edge = self.start_edge("%s,%s" % (a.url, b.url), name="pi-two-urls")
        uuid = edge.wait_event("controller_registered", timeout=30)["uuid"]
        edge.wait_event("heartbeat_ok", timeout=30)
        self.wait_heartbeats_after(a.client, [uuid], 0)
        self.assertEqual(edge.health.get("/health").json["central"], a.url)
        mark = len(edge.events)
        killed_at = time.time()
        a.send_signal(signal.SIGKILL)
        a.stop()  # reaps it; the kill is the point here, not a failure

        sel = edge.wait_event("central_selected", timeout=30, start=mark)
        self.assertEqual(sel["url"], b.url)
        self.wait_heartbeats_after(b.client, [uuid], killed_at + 0.5)
        self.assertEqual(edge.health.get("/health").json["central"], b.url)
        # Same controller, same row: it registers with b under its UUID, nothing new.
        self.assertEqual(self.controller_ids(), [uuid])
        self.assertEqual({e["uuid"] for e in edge.find_events("controller_registered")}, {uuid})
        # And it stays there: heartbeats keep arriving.
        seen = iso_seconds(self.controller(b.client, uuid)["last_seen"])
        self.wait_heartbeats_after(b.client, [uuid], seen)
        self.assertEqual(edge.health.get("/health").json["central"], b.url)


if __name__ == "__main__":
    harness.main()
