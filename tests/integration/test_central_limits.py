"""What one client address can hold of roundhouse-central: connections, time, event streams
and import size (--max-connections-per-ip, --request-timeout, --max-event-streams-per-ip,
--max-import-bytes; docs/operations.md "Limits"). The attacker speaks from 127.0.0.2, the
victim from 127.0.0.1 (all of 127.0.0.0/8 is loopback on Linux). Scaled down so CI can
afford it; bench/attack.py measures the full-size attacks."""

import json
import re
import socket
import time

import harness

ATTACKER = "127.0.0.2"
VICTIM = "127.0.0.1"


def connect(port, source, timeout=5.0):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                    source_address=(source, 0))


def closed_by_server(sock, within):
    """True when the server closes ``sock`` (EOF or reset) within ``within`` seconds; sends
    one byte of a header every 0.25 s meanwhile, as a slow client does."""
    deadline = time.monotonic() + within
    sock.settimeout(0.25)
    while time.monotonic() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            pass
        except OSError:
            return True
        try:
            sock.sendall(b"X")
        except OSError:
            return True
    return False


def open_stream(port, source):
    """GET /api/events on a raw socket; returns (socket, status, head, rest)."""
    s = connect(port, source)
    s.sendall(b"GET /api/events HTTP/1.1\r\nHost: a\r\n\r\n")
    buf = b""
    deadline = time.monotonic() + 10
    while b"\r\n\r\n" not in buf and time.monotonic() < deadline:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d{3})", head)
    return s, int(m.group(1)) if m else 0, head, rest


class LimitsTest(harness.RoundhouseTestCase):
    START_BROKER = False

    def test_one_address_cannot_take_every_connection(self):
        c = self.start_central("--max-connections", 16, "--max-connections-per-ip", 8,
                               "--request-timeout", 30)
        held = []
        try:
            for _ in range(8):
                s = connect(c.port, ATTACKER)
                s.sendall(b"GET /api/ping HTTP/1.1\r\nHost: a\r\n")  # never finished
                held.append(s)
            # Before the limit, the old central let these take the remaining 8 of 16 too.
            for i in range(12):
                with self.subTest(extra=i):
                    try:
                        r = harness.raw_request(c.port, b"GET /api/ping HTTP/1.1\r\nHost: a\r\n\r\n",
                                                source=ATTACKER, timeout=5)
                        self.assertEqual(r.status, 0, "the 9th connection from one address was served: %r" % r)
                    except OSError:
                        pass  # refused or reset: also fine
            for i in range(3):
                with self.subTest(victim=i):
                    r = harness.raw_request(c.port, b"GET /api/ping HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                                            source=VICTIM, timeout=5)
                    self.assertEqual(r.status, 200, r)
        finally:
            for s in held:
                s.close()

    def test_slow_or_idle_client_is_cut_after_the_request_timeout(self):
        c = self.start_central("--request-timeout", 2)
        slow = connect(c.port, ATTACKER)
        idle = connect(c.port, ATTACKER)
        try:
            slow.sendall(b"GET /api/ping HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            # A byte every 0.25 s kept the old central's idle timer from ever firing.
            self.assertTrue(closed_by_server(slow, within=10), "a trickling request was never cut")
            idle.settimeout(10)
            try:
                self.assertEqual(idle.recv(1), b"", "an idle connection got data")
            except socket.timeout:
                self.fail("an idle connection stayed open past --request-timeout")
            except OSError:
                pass
        finally:
            slow.close()
            idle.close()
        # A keep-alive client that sends its requests in time is not affected.
        for _ in range(3):
            self.assertEqual(c.get("/api/ping").status, 200)

    def test_import_over_the_limit_is_413_and_changes_nothing(self):
        c = self.start_central("--max-import-bytes", "64K")
        u = self.register(c, "pi-keep", "10.5.0.1")["uuid"]

        def doc(n):
            return {"format": "roundhouse-registry",
                    "controllers": [{"id": harness.new_uuid(), "name": "pi-%04d" % i,
                                     "description": "d" * 200} for i in range(n)]}

        big = json.dumps(doc(400)).encode()
        self.assertGreater(len(big), 64 * 1024)
        r = self.assertRejectedUnchanged(c, lambda: c.post("/api/import", raw=big), 413,
                                         error="payload_too_large")
        self.assertIn("65536", r.json["detail"])
        with self.subTest(case="chunked"):
            self.assertRejectedUnchanged(c, lambda: c.post("/api/import", raw=big, chunked=True), 413)
        small = json.dumps(doc(50)).encode()
        self.assertLess(len(small), 64 * 1024)
        r = c.post("/api/import", raw=small)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["controllers"], 50)
        self.assertEqual(len(self.get_json(c, "/api/controllers")), 51)
        self.assertEqual(self.get_json(c, "/api/controllers/%s" % u)["name"], "pi-keep")

    def test_event_streams_per_address(self):
        c = self.start_central("--max-event-streams", 4, "--max-event-streams-per-ip", 2)
        socks = []
        try:
            for _ in range(2):
                s, status, head, _ = open_stream(c.port, ATTACKER)
                socks.append(s)
                self.assertEqual(status, 200, head)
            s, status, head, rest = open_stream(c.port, ATTACKER)
            socks.append(s)
            self.assertEqual(status, 429, head)
            self.assertRegex(head.decode("latin-1"), r"(?i)\r\nRetry-After: \d+")
            m = re.search(rb"(?i)\r\ncontent-length: (\d+)", head)
            body = rest
            s.settimeout(5)
            while m and len(body) < int(m.group(1)):
                body += s.recv(4096)
            err = json.loads(body)
            self.assertEqual(err["error"], "too_many_streams")
            self.assertTrue(err["detail"])
            # Another address still gets its live updates, up to the total.
            for _ in range(2):
                s, status, head, _ = open_stream(c.port, VICTIM)
                socks.append(s)
                self.assertEqual(status, 200, head)
            s, status, head, _ = open_stream(c.port, "127.0.0.3")
            socks.append(s)
            self.assertEqual(status, 503, head)
            self.assertRegex(head.decode("latin-1"), r"(?i)\r\nRetry-After: \d+")
        finally:
            for s in socks:
                s.close()
        # Closed streams are counted out again, at the latest at the next keepalive (15 s).
        def slot_free():
            s, status, _, _ = open_stream(c.port, ATTACKER)
            s.close()
            return status == 200

        harness.wait_until(slot_free, timeout=40, message="a stream slot freed after its client left")

    def test_flags_in_help_and_checked(self):
        proc = harness.run_program("roundhouse-central", "--help")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for flag in ("--max-connections", "--max-connections-per-ip", "--request-timeout",
                     "--max-event-streams", "--max-event-streams-per-ip", "--max-import-bytes"):
            self.assertIn(flag + " ", proc.stdout)
        for args in (["--max-import-bytes", "3"], ["--max-import-bytes", "2G"],
                     ["--max-import-bytes", "9999M"], ["--max-connections-per-ip", "0"],
                     ["--request-timeout", "x"], ["--max-event-streams", "-1"]):
            with self.subTest(args=args):
                proc = harness.run_program("roundhouse-central", *args)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(args[0], proc.stderr)


if __name__ == "__main__":
    harness.main()
