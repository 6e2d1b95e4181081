"""Operator accounts of roundhouse-central (--auth, --public-read) over real HTTP and the real
CLI: without --auth nothing changes; with it 401 without a credential, viewer reads and may
stop the layout but not drive (403), operator drives, admin manages users, trains and
controllers; session cookie flags; API tokens created and revoked with `roundhouse token`, a
revoked one refused, tokens and passwords stored only as hashes; failed logins limited per
user name and per source address; --public-read opens reads only; the first admin comes
from ROUNDHOUSE_ADMIN_PASSWORD and --auth refuses to start without any account.
(docs/security.md "Operator accounts", docs/api.md "Operator accounts".)"""

import hashlib
import json
import os
import socket

import harness

ADMIN_PW = "admin-secret-1"
SIM = {"name": "simulator", "config": {}}


def cookie_of(resp):
    """The session cookie's value from a login answer's Set-Cookie."""
    sc = resp.header("Set-Cookie", "")
    first = sc.split(";", 1)[0]
    name, _, value = first.partition("=")
    assert name == "roundhouse_session", sc
    return value


def stream_status(port, headers):
    """The status of GET /api/events: only the head is read, then the stream is closed."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=harness.HTTP_TIMEOUT)
    try:
        req = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        req += "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
        sock.sendall(req.encode())
        buf = b""
        for _ in range(100):
            if b"\r\n" in buf:
                break
            chunk = sock.recv(4096)
            if not chunk:
                break
            buf += chunk
        return int(buf.split(b" ", 2)[1])
    finally:
        sock.close()


def login_raw(port, username, password, source):
    body = json.dumps({"username": username, "password": password}).encode()
    data = (b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    return harness.raw_request(port, data, source=source)


class AuthCase(harness.RoundhouseTestCase):

    def start_auth(self, *flags):
        return self.start_central("--auth", *flags, env={"ROUNDHOUSE_ADMIN_PASSWORD": ADMIN_PW})

    def login(self, c, username, password, expect=200):
        r = c.post("/api/login", {"username": username, "password": password})
        self.assertEqual(r.status, expect, r)
        return r

    def session(self, c, username, password):
        return {"Cookie": "roundhouse_session=" + cookie_of(self.login(c, username, password))}

    def add_user(self, c, admin, username, role, password):
        r = c.post("/api/users", {"username": username, "password": password, "role": role},
                   headers=admin)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["role"], role)
        self.assertNotIn("password_hash", r.json)

    def cli(self, c, *args, token=None, user=None, input=None):
        env = {"ROUNDHOUSE_CENTRAL": c.url}
        if token:
            env["ROUNDHOUSE_TOKEN"] = token
        if user:
            env["ROUNDHOUSE_USER"] = user
        return harness.run_program("roundhouse", *args, env=env, input=input)


class WithoutAuthTest(AuthCase):

    def test_everything_open_as_before(self):
        c = self.start_central()
        u = self.register(c, "pi-open", "10.9.0.1")["uuid"]
        self.assertEqual(c.get("/api/trains").status, 200)
        r = c.post("/api/trains", {"controller_uuid": u, "train_id": "t-open", "name": "Open", "plugin": SIM})
        self.assertEqual(r.status, 201, r)
        r = c.post("/api/trains/t-open/command", {"action": "setSpeed", "speed": 10})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(c.post("/api/emergency-stop", {}).status, 202)
        self.assertEqual(c.post("/api/layout/resume", {}).status, 200)
        self.assertEqual(c.patch("/api/controllers/%s" % u, {"description": "x"}).status, 200)
        self.assertEqual(stream_status(c.port, {}), 200)
        me = self.get_json(c, "/api/me")
        self.assertEqual(me, {"auth": False, "public_read": False, "username": None, "role": None})
        # The account routes say that accounts are off; nothing sets a cookie.
        r = c.post("/api/login", {"username": "admin", "password": ADMIN_PW})
        self.assertJsonError(r, 404, error="auth_disabled")
        self.assertIsNone(r.header("Set-Cookie"))
        self.assertJsonError(c.get("/api/users"), 404, error="auth_disabled")
        r = self.cli(c, "whoami")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("off", r.stdout)

    def test_public_read_needs_auth(self):
        r = harness.run_program("roundhouse-central", "--public-read", "--listen", "127.0.0.1:0",
                                "--db", os.path.join(self.tmp, "x.db"), timeout=20)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--public-read needs --auth", r.stderr)


class BootstrapTest(AuthCase):

    def test_refuses_to_start_without_an_account(self):
        db = os.path.join(self.tmp, "empty.db")
        r = harness.run_program("roundhouse-central", "--auth", "--listen", "127.0.0.1:0", "--db", db,
                                "--mqtt", "127.0.0.1:%d" % self.broker.port, "--withrottle-listen", "off",
                                timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("auth_no_users", r.stderr)
        self.assertIn("ROUNDHOUSE_ADMIN_PASSWORD", r.stderr)

    def test_first_admin_from_environment_once(self):
        c = self.start_auth()
        c.wait_event("auth_admin_created")
        admin = self.session(c, "admin", ADMIN_PW)
        r = c.patch("/api/users/admin", {"password": "changed-pass-2"}, headers=admin)
        self.assertEqual(r.status, 200, r)
        # A restart with the variable still set does not reset the changed password.
        c = self.restart_central(c, env={"ROUNDHOUSE_ADMIN_PASSWORD": ADMIN_PW})
        self.assertFalse(c.find_events("auth_admin_created"))
        self.login(c, "admin", ADMIN_PW, expect=401)
        self.login(c, "admin", "changed-pass-2")
        # Stored: an Argon2id hash, never the password.
        c.dump_headers = self.session(c, "admin", "changed-pass-2")
        ((h,),) = c.query("SELECT password_hash FROM users WHERE username='admin'")
        self.assertTrue(h.startswith("$argon2id$"), h)
        self.assertNotIn("changed-pass-2", h)

    def test_withrottle_off_under_auth_unless_asked(self):
        c = self.start_central("--auth", "--withrottle-listen", "127.0.0.1:0",
                               env={"ROUNDHOUSE_ADMIN_PASSWORD": ADMIN_PW})
        c.wait_event("withrottle_unauthenticated")
        c.wait_event("withrottle_listening")


class RolesTest(AuthCase):

    def setUp(self):
        super().setUp()
        self.c = c = self.start_auth()
        self.admin = self.session(c, "admin", ADMIN_PW)
        self.add_user(c, self.admin, "vera", "viewer", "viewer-pass-1")
        self.add_user(c, self.admin, "otto", "operator", "operator-pass-1")
        self.viewer = self.session(c, "vera", "viewer-pass-1")
        self.operator = self.session(c, "otto", "operator-pass-1")
        # Controller routes keep their own authentication: an edge registers as before.
        self.u = self.register(c, "pi-auth", "10.9.1.1")["uuid"]
        r = c.post("/api/trains", {"controller_uuid": self.u, "train_id": "t-a", "name": "A", "plugin": SIM},
                   headers=self.admin)
        self.assertEqual(r.status, 201, r)

    def test_login_cookie_flags(self):
        r = self.login(self.c, "vera", "viewer-pass-1")
        self.assertEqual(r.json["role"], "viewer")
        self.assertEqual(r.json["username"], "vera")
        parts = [p.strip() for p in r.header("Set-Cookie").split(";")]
        self.assertRegex(parts[0], r"^roundhouse_session=[0-9a-f]{64}$")
        self.assertIn("HttpOnly", parts)
        self.assertIn("SameSite=Strict", parts)
        self.assertIn("Path=/", parts)
        self.assertIn("Max-Age=43200", parts)
        self.assertNotIn("Secure", parts)  # plain HTTP here; HTTPS adds it
        self.assertIsNotNone(r.json["expires_at"])
        self.assertEqual(r.header("Cache-Control"), "no-store")
        # A wrong password or an unknown user: the same answer, no cookie.
        for user, pw in (("vera", "wrong-pass-1"), ("nobody", "viewer-pass-1")):
            r = self.login(self.c, user, pw, expect=401)
            self.assertJsonError(r, 401, error="invalid_credentials")
            self.assertIsNone(r.header("Set-Cookie"))
        self.assertJsonError(self.c.post("/api/login", {"username": "vera"}), 422, field="password")

    def test_no_credential_401_public_routes_open(self):
        c = self.c
        for method, path, body in (("GET", "/api/trains", None), ("GET", "/api/controllers", None),
                                   ("GET", "/metrics", None), ("GET", "/api/layout", None),
                                   ("POST", "/api/trains/t-a/command", {"action": "stop"}),
                                   ("POST", "/api/emergency-stop", {}),
                                   ("POST", "/api/trains", {"train_id": "t-x", "name": "X", "plugin": SIM}),
                                   ("DELETE", "/api/controllers/%s" % self.u, None),
                                   ("GET", "/api/users", None), ("GET", "/api/tokens", None),
                                   ("GET", "/api/export", None)):
            r = c.request(method, path, body=body)
            self.assertJsonError(r, 401, error="unauthorized", msg="%s %s: %r" % (method, path, r))
        self.assertEqual(stream_status(c.port, {}), 401)
        for path in ("/health", "/api/ping", "/", "/app.js", "/app.css"):
            self.assertEqual(c.get(path).status, 200, path)
        self.assertEqual(self.get_json(c, "/api/me")["username"], None)
        # A forged or unknown credential is no credential.
        for hdrs in ({"Cookie": "roundhouse_session=" + "0" * 64}, {"Authorization": "Bearer rht_" + "0" * 64},
                     {"Authorization": "Basic YWRtaW46eA=="}):
            self.assertJsonError(c.get("/api/trains", headers=hdrs), 401, error="unauthorized")
        # The train is still there: nothing changed.
        self.assertEqual(c.get("/api/trains/t-a", headers=self.viewer).status, 200)

    def test_viewer_reads_and_may_stop_but_not_drive(self):
        c, v = self.c, self.viewer
        self.assertEqual(c.get("/api/trains", headers=v).status, 200)
        self.assertEqual(c.get("/api/controllers/%s" % self.u, headers=v).status, 200)
        self.assertEqual(stream_status(c.port, v), 200)
        me = c.get("/api/me", headers=v).json
        self.assertEqual((me["username"], me["role"], me["via"]), ("vera", "viewer", "session"))
        for method, path, body in (("POST", "/api/trains/t-a/command", {"action": "setSpeed", "speed": 30}),
                                   ("POST", "/api/layout/resume", {}),
                                   ("POST", "/api/trains", {"controller_uuid": self.u, "train_id": "t-v",
                                                            "name": "V", "plugin": SIM}),
                                   ("PATCH", "/api/controllers/%s" % self.u, {"description": "v"}),
                                   ("DELETE", "/api/trains/t-a", None),
                                   ("GET", "/api/users", None),
                                   ("POST", "/api/users", {"username": "x1", "password": "12345678"})):
            r = c.request(method, path, body=body, headers=v)
            self.assertJsonError(r, 403, error="forbidden", msg="%s %s: %r" % (method, path, r))
        # The layout emergency stop: one tap for anyone logged in, viewers included.
        r = c.post("/api/emergency-stop", {}, headers=v)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(c.get("/api/trains/t-a", headers=v).status, 200)

    def test_operator_drives_and_stops_admin_manages(self):
        c, o, a = self.c, self.operator, self.admin
        r = c.post("/api/trains/t-a/command", {"action": "setSpeed", "speed": 30}, headers=o)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(c.post("/api/emergency-stop", {}, headers=o).status, 202)
        self.assertEqual(c.post("/api/layout/resume", {}, headers=o).status, 200)
        for method, path, body in (("POST", "/api/trains", {"controller_uuid": self.u, "train_id": "t-o",
                                                            "name": "O", "plugin": SIM}),
                                   ("PATCH", "/api/controllers/%s" % self.u, {"description": "o"}),
                                   ("DELETE", "/api/controllers/%s" % self.u, None),
                                   ("POST", "/api/import", {"controllers": [], "trains": []}),
                                   ("GET", "/api/users", None),
                                   ("PATCH", "/api/users/vera", {"role": "admin"})):
            r = c.request(method, path, body=body, headers=o)
            self.assertJsonError(r, 403, error="forbidden", msg="%s %s: %r" % (method, path, r))
        # An operator may change their own password, not their role.
        self.assertJsonError(c.patch("/api/users/otto", {"role": "admin"}, headers=o), 403, field="role")
        r = c.patch("/api/users/otto", {"password": "operator-pass-2"}, headers=o)
        self.assertEqual(r.status, 200, r)
        # ... which ends their web sessions.
        self.assertJsonError(c.get("/api/trains", headers=o), 401)
        # The admin: fleet, registry and users.
        self.assertEqual(c.patch("/api/controllers/%s" % self.u, {"description": "adm"}, headers=a).status, 200)
        self.assertEqual(c.get("/api/export", headers=a).status, 200)
        users = {u["username"]: u["role"] for u in self.get_json_h("/api/users", a)}
        self.assertEqual(users, {"admin": "admin", "vera": "viewer", "otto": "operator"})
        self.assertEqual(c.patch("/api/users/vera", {"role": "operator"}, headers=a).status, 200)
        r = c.post("/api/trains/t-a/command", {"action": "stop"}, headers=self.viewer)
        self.assertEqual(r.status, 202, r)  # vera's session now carries her new role
        self.assertEqual(c.delete("/api/users/vera", headers=a).status, 200)
        self.assertJsonError(c.get("/api/trains", headers=self.viewer), 401)
        self.assertJsonError(c.post("/api/users", {"username": "otto", "password": "whatever-1"},
                                    headers=a), 409, error="user_exists")
        self.assertJsonError(c.post("/api/users", {"username": "bad name", "password": "whatever-1"},
                                    headers=a), 422, field="username")
        self.assertJsonError(c.post("/api/users", {"username": "z", "password": "short"}, headers=a),
                             422, field="password")
        self.assertJsonError(c.post("/api/users", {"username": "z", "password": "whatever-1", "role": "god"},
                                    headers=a), 422, field="role")
        # The last admin can neither go nor lose the role.
        self.assertJsonError(c.delete("/api/users/admin", headers=a), 409, error="last_admin")
        self.assertJsonError(c.patch("/api/users/admin", {"role": "viewer"}, headers=a), 409, error="last_admin")
        self.assertEqual(c.delete("/api/controllers/%s" % self.u, headers=a).status, 204)

    def test_shared_routes_need_the_controller_or_an_account(self):
        """POST /api/controllers/{id}/trains and POST /api/status/update serve edges and the
        UI or CLI alike: without an operator account the caller must be the controller (its
        secret), may not take another controller's train, and nothing changes when refused."""
        c = self.c
        reg = self.register(c, "pi-secured", "10.9.1.2", issue_secret=True)
        s, me = reg["uuid"], {"X-Controller-Secret": reg["controller_secret"]}
        path = "/api/controllers/%s/trains" % s
        body = {"train_id": "t-s", "name": "S", "plugin": SIM}
        self.assertJsonError(c.post(path, body), 401, error="controller_secret_required",
                             field="X-Controller-Secret")
        self.assertJsonError(c.post(path, body, headers={"X-Controller-Secret": "0" * 64}), 403,
                             error="controller_secret_invalid")
        self.assertJsonError(c.post(path, body, headers=self.operator), 403, error="forbidden")
        # A credential that is no longer (or never was) valid is a login to renew, not a
        # controller that forgot its secret.
        for stale in ({"Authorization": "Bearer " + "f" * 43},
                      {"Cookie": "roundhouse_session=" + "f" * 43}):
            self.assertJsonError(c.post(path, body, headers=stale), 401, error="unauthorized")
            self.assertJsonError(c.post("/api/status/update", {"train_id": "t-a", "speed": 1},
                                        headers=stale), 401, error="unauthorized")
        self.assertEqual(c.get("/api/trains/t-s", headers=self.viewer).status, 404)
        self.assertEqual(c.post(path, body, headers=me).status, 201)
        # Taking pi-auth's train: not as a controller, not without a credential.
        steal = {"train_id": "t-a", "name": "A", "plugin": SIM, "reassign": True}
        self.assertJsonError(c.post(path, steal, headers=me), 403, field="reassign")
        self.assertJsonError(c.post(path, steal), 401, error="controller_secret_required")
        self.assertEqual(self.get_json_h("/api/trains/t-a", self.viewer)["controller_id"], self.u)
        # The admin's UI and CLI add and move trains through the same route.
        r = c.post(path, steal, headers=self.admin)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get_json_h("/api/trains/t-a", self.viewer)["controller_id"], s)
        # The compat status report: the train's controller, or an operator.
        st = {"train_id": "t-s", "speed": 40}
        self.assertJsonError(c.post("/api/status/update", st), 401, error="controller_secret_required")
        self.assertJsonError(c.post("/api/status/update", st, headers=self.viewer), 403,
                             error="forbidden")
        self.assertEqual(c.post("/api/status/update", st, headers=me).status, 200)
        self.assertEqual(self.get_json_h("/api/trains/t-s/status", self.viewer)["speed"], 40)
        r = c.post("/api/status/update", dict(st, speed=10), headers=self.operator)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get_json_h("/api/trains/t-s/status", self.viewer)["speed"], 10)
        # A controller that holds no secret (the earlier system's edge) is taken at its word,
        # as docs/security.md says; a train on no controller needs an operator.
        self.assertEqual(c.post(path.replace(s, self.u), {"train_id": "t-e", "name": "E",
                                                          "plugin": SIM}).status, 201)
        self.assertEqual(c.post("/api/status/update", {"train_id": "t-e", "speed": 5}).status, 200)
        self.assertEqual(c.put("/api/trains/t-e", {"controller_id": None}, headers=self.admin).status,
                         200)
        self.assertJsonError(c.post("/api/status/update", {"train_id": "t-e", "speed": 6}), 403,
                             field="train_id")

    def get_json_h(self, path, headers):
        r = self.c.get(path, headers=headers)
        self.assertEqual(r.status, 200, r)
        return r.json

    def test_logout_ends_the_session(self):
        c = self.c
        r = c.post("/api/logout", {}, headers=self.viewer)
        self.assertEqual(r.status, 200, r)
        self.assertIn("Max-Age=0", r.header("Set-Cookie"))
        self.assertJsonError(c.get("/api/trains", headers=self.viewer), 401)
        self.assertEqual(c.get("/api/trains", headers=self.operator).status, 200)

    def test_expired_session_refused(self):
        c = self.c
        self.assertEqual(c.get("/api/trains", headers=self.operator).status, 200)
        # The session's expiry reached (the database's clock is what the central compares).
        # The database is the running central's own: it is changed while the central is
        # stopped, and the sessions outlive the restart.
        self.stop(c)
        harness.db_execute(c.db, "UPDATE credentials SET expires_at = 1"
                                 " WHERE kind = 'session' AND username = 'otto'")
        c = self.start_central(*c.flags, db=c.db)
        self.assertJsonError(c.get("/api/trains", headers=self.operator), 401, error="unauthorized")
        self.assertEqual(c.get("/api/trains", headers=self.viewer).status, 200)


class TokensTest(AuthCase):

    def test_cli_tokens_create_use_revoke(self):
        c = self.start_auth()
        # The CLI logs in for one command with ROUNDHOUSE_USER (password on stdin).
        r = self.cli(c, "token", "create", "admin-cli", user="admin", input=ADMIN_PW + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        admin_token = r.stdout.strip()
        self.assertRegex(admin_token, r"^rht_[0-9a-f]{64}$")
        # Its session was closed again after the command.
        c.dump_headers = {"Authorization": "Bearer " + admin_token}
        kinds = [k for (k,) in c.query("SELECT kind FROM credentials")]
        self.assertEqual(kinds, ["token"])
        r = self.cli(c, "whoami", token=admin_token)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "admin (admin)"), r.stderr)
        r = self.cli(c, "user", "add", "olga", "operator", token=admin_token, input="olga-pass-1\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli(c, "user", "add", "vic", token=admin_token, input="vic-pass-12\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli(c, "token", "create", "script", "olga", token=admin_token)
        self.assertEqual(r.returncode, 0, r.stderr)
        olga_token = r.stdout.strip()
        u = self.register(c, "pi-tok", "10.9.2.1")["uuid"]
        r = self.cli(c, "add-train", u, "t-tok", "Tok", token=admin_token)
        self.assertEqual(r.returncode, 0, r.stderr)
        # The operator's token drives, over the CLI and as a Bearer header.
        r = self.cli(c, "speed", "t-tok", "20", token=olga_token)
        self.assertEqual(r.returncode, 0, r.stderr)
        auth = {"Authorization": "Bearer " + olga_token}
        self.assertEqual(c.get("/api/me", headers=auth).json["via"], "token")
        self.assertEqual(c.post("/api/trains/t-tok/command", {"action": "stop"}, headers=auth).status, 202)
        self.assertEqual(stream_status(c.port, auth), 200)
        # Without a credential the CLI gets the central's 401, exit 1.
        r = self.cli(c, "trains")
        self.assertEqual(r.returncode, 1)
        self.assertIn("401", r.stderr)
        # A viewer cannot drive from the CLI either.
        r = self.cli(c, "token", "create", "ro", user="vic", input="vic-pass-12\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.cli(c, "speed", "t-tok", "20", token=r.stdout.strip())
        self.assertEqual(r.returncode, 1)
        self.assertIn("403", r.stderr)
        # Tokens are stored as SHA-256 hashes only.
        rows = c.query("SELECT * FROM credentials")
        flat = json.dumps(rows)
        self.assertNotIn(olga_token, flat)
        self.assertNotIn(olga_token[4:], flat)
        self.assertIn(hashlib.sha256(olga_token.encode()).hexdigest(), flat)
        # Revoke olga's token (the admin sees every token).
        r = self.cli(c, "--json", "token", "list", token=admin_token)
        self.assertEqual(r.returncode, 0, r.stderr)
        tokens = json.loads(r.stdout)
        self.assertTrue(all("token" not in t and "secret_hash" not in t for t in tokens), tokens)
        tid = [t["id"] for t in tokens if t["name"] == "script"][0]
        r = self.cli(c, "token", "revoke", tid, token=olga_token)  # one's own token: allowed
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertJsonError(c.get("/api/trains", headers=auth), 401, error="unauthorized")
        r = self.cli(c, "speed", "t-tok", "20", token=olga_token)
        self.assertEqual(r.returncode, 1)
        self.assertIn("401", r.stderr)
        # remove and passwd
        r = self.cli(c, "user", "passwd", "olga", token=admin_token, input="olga-pass-2\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.login(c, "olga", "olga-pass-2")
        r = self.cli(c, "user", "remove", "olga", token=admin_token)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.login(c, "olga", "olga-pass-2", expect=401)
        r = self.cli(c, "user", "add", "x", "king", token=admin_token, input="whatever1\n")
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.cli(c, "token", "create", "bad", user="admin", input="wrong-password\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("could not log in", r.stderr)

    def test_token_expiry_and_other_users_tokens(self):
        c = self.start_auth()
        admin = self.session(c, "admin", ADMIN_PW)
        self.add_user(c, admin, "vic", "viewer", "vic-pass-12")
        vic = self.session(c, "vic", "vic-pass-12")
        self.assertJsonError(c.post("/api/tokens", {"name": "x", "username": "admin"}, headers=vic), 403,
                             field="username")
        self.assertJsonError(c.post("/api/tokens", {}, headers=vic), 422, field="name")
        self.assertJsonError(c.post("/api/tokens", {"name": "x", "expires_in": 1}, headers=vic), 422,
                             field="expires_in")
        r = c.post("/api/tokens", {"name": "mine", "expires_in": 3600}, headers=vic)
        self.assertEqual(r.status, 201, r)
        self.assertIsNotNone(r.json["expires_at"])
        # vic sees only their own tokens, and cannot revoke the admin's.
        r2 = c.post("/api/tokens", {"name": "adm"}, headers=admin)
        self.assertEqual([t["name"] for t in c.get("/api/tokens", headers=vic).json], ["mine"])
        self.assertJsonError(c.delete("/api/tokens/%s" % r2.json["id"], headers=vic), 404)


class RateLimitTest(AuthCase):

    def test_failed_logins_limited_per_user_and_per_address(self):
        c = self.start_auth()
        admin = self.session(c, "admin", ADMIN_PW)
        self.add_user(c, admin, "olga", "operator", "olga-pass-1")
        # Per user name: 5 failures (default --login-rate 5/min), from another address each time.
        for i in range(5):
            r = login_raw(c.port, "olga", "wrong-pass-%d" % i, "127.0.0.%d" % (10 + i))
            self.assertEqual(r.status, 401, r)
        r = login_raw(c.port, "olga", "olga-pass-1", "127.0.0.20")
        self.assertJsonError(r, 429, error="too_many_attempts")
        self.assertIn("for this user", r.json["detail"])
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)
        self.assertIsNone(r.header("Set-Cookie"))
        # Another user is not affected.
        self.assertEqual(login_raw(c.port, "admin", ADMIN_PW, "127.0.0.20").status, 200)
        # Per address: 4 x 5 = 20 failures from one address, whatever the names. The address's
        # tokens come back at 20 a minute, one every 3 s, and on a loaded machine 20 password
        # checks can outlast a few: the failures go on until the limit shows (bounded), and
        # the right password is tried right after it (again if a token came back between).
        failures = 0
        for _ in range(3):
            for i in range(40):
                r = login_raw(c.port, "nobody%d" % i, "wrong-pass", "127.0.0.30")
                if r.status == 429:
                    break
                self.assertEqual(r.status, 401, r)
                failures += 1
            self.assertJsonError(r, 429, error="too_many_attempts")
            self.assertIn("from this address", r.json["detail"])
            r = login_raw(c.port, "admin", ADMIN_PW, "127.0.0.30")
            if r.status == 429:
                break
        self.assertGreaterEqual(failures, 20)
        self.assertJsonError(r, 429, error="too_many_attempts")
        self.assertIn("from this address", r.json["detail"])
        self.assertEqual(login_raw(c.port, "admin", ADMIN_PW, "127.0.0.31").status, 200)
        c.wait_event("login_throttled")


class PublicReadTest(AuthCase):

    def test_reads_open_writes_not(self):
        c = self.start_auth("--public-read")
        u = self.register(c, "pi-pub", "10.9.3.1")["uuid"]
        self.assertEqual(c.get("/api/trains").status, 200)
        self.assertEqual(c.get("/api/controllers/%s" % u).status, 200)
        self.assertEqual(stream_status(c.port, {}), 200)
        me = self.get_json(c, "/api/me")
        self.assertEqual((me["auth"], me["public_read"], me["username"]), (True, True, None))
        for method, path, body in (("POST", "/api/trains", {"controller_uuid": u, "train_id": "t-p",
                                                            "name": "P", "plugin": SIM}),
                                   ("POST", "/api/emergency-stop", {}),
                                   ("PATCH", "/api/controllers/%s" % u, {"description": "p"}),
                                   ("GET", "/api/users", None), ("GET", "/api/tokens", None),
                                   ("GET", "/api/export", None)):
            r = c.request(method, path, body=body)
            self.assertJsonError(r, 401, error="unauthorized", msg="%s %s: %r" % (method, path, r))


if __name__ == "__main__":
    harness.main()
