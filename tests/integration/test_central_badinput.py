"""Bad input to roundhouse-central: every kind gets its status code and a JSON error body
{detail, error, field?}, and the database dump is byte-identical before and after each
rejected request (nothing half-written). (docs/api.md preamble; docs/architecture.md "Central API
principles".)"""

import json

import harness

LIMIT = 64 * 1024
REGISTER = "/api/controllers/register"


def padded_register_body(total, name="pi-big"):
    """A valid register body of exactly ``total`` bytes (JSON padded with spaces)."""
    core = json.dumps({"name": name, "address": "10.4.0.9"}).encode()
    assert len(core) < total
    return core[:-1] + b" " * (total - len(core)) + b"}"


class BadInputTest(harness.RoundhouseTestCase):

    def setUp(self):
        super().setUp()
        self.c = self.start_central()
        self.u = self.register(self.c, "pi-victim", "10.4.0.1")["uuid"]
        self.add_train(self.c, self.u, "t1", name="Victim")

    def rejected(self, send, status, field=None, error=None):
        return self.assertRejectedUnchanged(self.c, send, status, field=field, error=error)

    def test_400_malformed_json(self):
        c = self.c
        cases = {
            "truncated": b'{"name": "x", "address": ',
            "trailing garbage": b'{"name": "x", "address": "y"} xyz',
            "single quotes": b"{'name': 'x', 'address': 'y'}",
            "empty body": b"",
            "invalid utf-8": b'{"name": "\xff\xfe", "address": "y"}',
        }
        for label, raw in cases.items():
            with self.subTest(case=label):
                self.rejected(lambda: c.post(REGISTER, raw=raw), 400)
        with self.subTest(case="heartbeat"):
            self.rejected(lambda: c.post("/api/controllers/%s/heartbeat" % self.u, raw=b"{"), 400)
        with self.subTest(case="train put"):
            self.rejected(lambda: c.put("/api/trains/t1", raw=b'{"name": }'), 400)
        with self.subTest(case="train register"):
            self.rejected(lambda: c.post("/api/controllers/%s/trains" % self.u, raw=b"[1,"), 400)

    def test_413_body_over_64_kib(self):
        c = self.c
        big = padded_register_body(LIMIT + 1)
        with self.subTest(case="content-length"):
            self.rejected(lambda: c.post(REGISTER, raw=big), 413)
        with self.subTest(case="chunked"):
            self.rejected(lambda: c.post(REGISTER, raw=big, chunked=True), 413)
        with self.subTest(case="much bigger"):
            self.rejected(lambda: c.post(REGISTER, raw=padded_register_body(LIMIT * 4)), 413)
        with self.subTest(case="train put"):
            huge = json.dumps({"description": "d" * (LIMIT + 10)}).encode()
            self.rejected(lambda: c.put("/api/trains/t1", raw=huge), 413)
        # Exactly at the limit is accepted.
        r = c.post(REGISTER, raw=padded_register_body(LIMIT, name="pi-at-limit"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["name"], "pi-at-limit")
        self.assertEqual(c.get("/api/ping").status, 200)

    def test_415_wrong_content_type(self):
        c = self.c
        body = json.dumps({"name": "pi-ct", "address": "10.4.0.2"}).encode()
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
            with self.subTest(content_type=ctype):
                self.rejected(lambda: c.post(REGISTER, raw=body, content_type=ctype), 415)
        with self.subTest(content_type=None):
            self.rejected(lambda: c.post(REGISTER, raw=body, content_type=None), 415)
        with self.subTest(case="train put"):
            self.rejected(lambda: c.put("/api/trains/t1", raw=b'{"name":"x"}', content_type="text/plain"), 415)
        # A charset parameter is fine.
        r = c.post(REGISTER, raw=body, content_type="application/json; charset=utf-8")
        self.assertEqual(r.status, 200, r)

    def test_422_register(self):
        c = self.c
        cases = [
            ({"address": "10.4.0.3"}, "name"),
            ({"name": 42, "address": "10.4.0.3"}, "name"),
            ({"name": "", "address": "10.4.0.3"}, "name"),
            ({"name": None, "address": "10.4.0.3"}, "name"),
            ({"name": "pi-x", "address": ["10.4.0.3"]}, "address"),
            ({"name": "pi-x", "address": "10.4.0.3", "uuid": "not-a-uuid"}, "uuid"),
            ({"name": "pi-x", "address": "10.4.0.3", "uuid": "1234567-1234-1234-1234-1234567890ab"}, "uuid"),
            ({"name": "pi-x", "address": "10.4.0.3", "uuid": "g2345678-1234-1234-1234-1234567890ab"}, "uuid"),
            ({"name": "pi-x", "address": "10.4.0.3", "uuid": "123456781234123412341234567890ab"}, "uuid"),
            ({"name": "pi-x", "address": "10.4.0.3", "uuid": 12345}, "uuid"),
            ({"name": "pi-x", "address": "10.4.0.3", "applied_config_version": "7"}, "applied_config_version"),
            ({"name": "pi-x", "address": "10.4.0.3", "applied_config_version": -1}, "applied_config_version"),
            ({"name": "pi-x", "address": "10.4.0.3", "applied_config_version": 1.5}, "applied_config_version"),
            ({"name": "pi-x", "address": "10.4.0.3", "version": 2}, "version"),
            ({"name": "pi-x", "address": "10.4.0.3", "platform": {}}, "platform"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                self.rejected(lambda: c.post(REGISTER, body), 422, field=field)
        for body in ([], "pi", 7, None):
            with self.subTest(body=body):
                self.rejected(lambda: c.post(REGISTER, raw=json.dumps(body).encode()), 422)

    def test_422_heartbeat(self):
        c = self.c
        path = "/api/controllers/%s/heartbeat" % self.u
        cases = [
            ({"memory_mb": -1}, "memory_mb"),
            ({"memory_mb": "lots"}, "memory_mb"),
            ({"cpu_count": 0}, "cpu_count"),
            ({"cpu_count": 2.5}, "cpu_count"),
            ({"config_version": "3"}, "config_version"),
            ({"config_version": -1}, "config_version"),
            ({"version": 1}, "version"),
            ({"config_hash": 5}, "config_hash"),
            ({"trains": "t1"}, "trains"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                self.rejected(lambda: c.post(path, body), 422, field=field)

    def test_422_train_register_and_update(self):
        c = self.c
        path = "/api/controllers/%s/trains" % self.u
        cases = [
            ({"name": "No id"}, "train_id"),
            ({"train_id": 5, "name": "Five"}, "train_id"),
            ({"train_id": "", "name": "Empty"}, "train_id"),
            ({"train_id": "t9"}, "name"),
            ({"train_id": "t9", "name": ""}, "name"),
            ({"train_id": "t9", "name": "x" * 101}, "name"),
            ({"train_id": "t9", "name": "Nine", "description": "d" * 501}, "description"),
            ({"train_id": "t9", "name": "Nine", "reassign": "yes"}, "reassign"),
            ({"train_id": "t9", "name": "Nine", "plugin": "dc_motor_hat"}, "plugin"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                self.rejected(lambda: c.post(path, body), 422, field=field)
        with self.subTest(case="patch controller"):
            self.rejected(lambda: c.patch("/api/controllers/%s" % self.u, {"enabled": "no"}), 422, field="enabled")
        with self.subTest(case="put train"):
            self.rejected(lambda: c.put("/api/trains/t1", {"invert_directions": 1}), 422, field="invert_directions")

    def test_404_unknown_path_or_id(self):
        c = self.c
        other = harness.new_uuid()
        cases = [
            ("GET", "/api/nope", None),
            ("GET", "/nope", None),
            ("GET", "/api/controllers/%s" % other, None),
            ("GET", "/api/controllers/%s/config" % other, None),
            ("GET", "/api/controllers/%s/ping" % other, None),
            ("POST", "/api/controllers/%s/heartbeat" % other, {}),
            ("PATCH", "/api/controllers/%s" % other, {"name": "x"}),
            ("DELETE", "/api/controllers/%s" % other, None),
            ("POST", "/api/controllers/%s/trains" % other, {"train_id": "t2", "name": "Two"}),
            ("GET", "/api/trains/nope", None),
            ("PUT", "/api/trains/nope", {"name": "x"}),
            ("DELETE", "/api/trains/nope", None),
            ("GET", "/api/trains/nope/status", None),
            ("POST", "/api/trains/nope/command", {"action": "stop"}),
        ]
        for method, path, body in cases:
            with self.subTest(method=method, path=path):
                self.rejected(lambda: c.request(method, path, body=body), 404)

    def test_405_wrong_method(self):
        c = self.c
        cases = [
            ("DELETE", "/api/ping", None),
            ("PUT", REGISTER, {"name": "x", "address": "y"}),
            ("PUT", "/api/controllers", {"name": "x"}),
            ("POST", "/api/controllers/%s" % self.u, {"name": "x"}),
            ("DELETE", "/api/trains", None),
            ("GET", "/api/trains/t1/command", None),
        ]
        for method, path, body in cases:
            with self.subTest(method=method, path=path):
                r = self.rejected(lambda: c.request(method, path, body=body), 405)
                self.assertTrue(r.header("Allow"), "405 without an Allow header: %r" % r)

    def test_hostile_json_does_not_hurt(self):
        c = self.c
        cases = {
            "deep nesting": b"[" * 20000 + b"]" * 20000,
            "deep object": b'{"a":' * 10000 + b"1" + b"}" * 10000,
            "huge integer": b'{"name":"x","address":"y","applied_config_version":123456789012345678901234567890}',
            "huge real": b'{"name":"x","address":"y","applied_config_version":1e400}',
            "NUL in string": b'{"name":"pi\\u0000x","address":"y"}',
            "lone surrogate": b'{"name":"\\ud800","address":"y"}',
        }
        for label, raw in cases.items():
            with self.subTest(case=label):
                self.rejected(lambda: c.post(REGISTER, raw=raw), (400, 413, 422))
        self.assertEqual(c.get("/api/ping").status, 200)

    # ---- the HTTP layer itself, spoken raw over a socket

    def raw(self, text):
        return harness.raw_request(self.c.port, text)

    def test_400_encoded_nul_in_path(self):
        # The decoded path used to end at the NUL: DELETE /api/trains/t1%00x deleted t1.
        cases = [
            b"DELETE /api/trains/t1%00x HTTP/1.1\r\nHost: a\r\n\r\n",
            b"PUT /api/trains/t1%00 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            b"Content-Length: 12\r\n\r\n{\"name\":\"x\"}",
            ("DELETE /api/controllers/%s%%00 HTTP/1.1\r\nHost: a\r\n\r\n" % self.u).encode(),
            b"GET /api/trains/t1%00/status HTTP/1.1\r\nHost: a\r\n\r\n",
        ]
        for raw in cases:
            with self.subTest(request=raw[:40]):
                self.rejected(lambda: self.raw(raw), 400, field="path", error="invalid_path")
        self.assertEqual(self.c.get("/api/trains/t1").status, 200)

    def test_400_ambiguous_body_framing(self):
        body = json.dumps({"name": "pi-smuggle", "address": "10.4.0.7"}).encode()
        head = b"POST " + REGISTER.encode() + b" HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        cases = {
            "two content-lengths": head + b"Content-Length: %d\r\nContent-Length: 2\r\n\r\n%s" % (len(body), body),
            "content-length and chunked": head + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%s" % (len(chunked), chunked),
            "chunked then content-length": head + b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n%s" % chunked,
        }
        for label, raw in cases.items():
            with self.subTest(case=label):
                self.rejected(lambda: self.raw(raw), 400, field="Content-Length", error="invalid_header")
        # The same value twice is one length (RFC 9112 6.3) and accepted.
        r = self.raw(head + b"Content-Length: %d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (len(body), len(body), body))
        self.assertEqual(r.status, 200, r)

    def test_400_host_header_not_utf8(self):
        body = json.dumps({"name": "pi-host", "address": "10.4.0.8"}).encode()
        cases = [
            b"POST /api/controllers/register HTTP/1.1\r\nHost: \xff\xfe:8000\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
            ("GET /api/controllers/%s/config HTTP/1.1\r\nHost: " % self.u).encode() + b"h\xc3\r\n\r\n",
        ]
        for raw in cases:
            with self.subTest(request=raw[:40]):
                self.rejected(lambda: self.raw(raw), 400, field="Host", error="invalid_header")

    def test_error_bodies_stay_utf8(self):
        long_path = "/api/trains/" + "%C3%A9" * 400
        cases = [
            (b"GET /\xff\xfe HTTP/1.1\r\nHost: a\r\n\r\n", 404),
            (b"GET /api/trains/%ff%fe HTTP/1.1\r\nHost: a\r\n\r\n", 404),
            (b"DELETE /api/trains/%C3 HTTP/1.1\r\nHost: a\r\n\r\n", 404),
            (b"GET /" + b"%E2%82%AC" * 300 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 404),
            (("GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % long_path).encode(), 404),
            (("PUT %s HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
              "Content-Length: 12\r\n\r\n{\"name\":\"x\"}" % long_path).encode(), 404),
            (b"PATCH /api/\xe9t\xe9 HTTP/1.1\r\nHost: a\r\n\r\n", 404),
        ]
        for raw, status in cases:
            with self.subTest(request=raw[:40]):
                r = self.rejected(lambda: self.raw(raw), status)
                r.body.decode("utf-8")  # strict: raises on any invalid byte


if __name__ == "__main__":
    harness.main()
