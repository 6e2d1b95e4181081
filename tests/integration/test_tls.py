"""TLS: the central over HTTPS (--tls-cert/--tls-key), the edge's https:// client with a CA
file or a pinned certificate, refusals of a wrong CA, a pin mismatch, a wrong host name and an
expired certificate (the edge then drives from its cache), and MQTT over TLS for both daemons
against a mosquitto TLS listener. Certificates are made with the openssl command-line tool in
the test's temp directory."""

import base64
import hashlib
import http.client
import json
import os
import ssl
import subprocess
import unittest

import harness
import edge_support as es


def sh(*args, cwd):
    subprocess.run(list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


def make_pki(d):
    """ca.crt signs srv.crt (localhost, 127.0.0.1), wronghost.crt (other.example) and
    expired.crt (2020); other-ca.crt is unrelated and signs other-srv.crt."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for ca in ("ca", "other-ca"):
        sh("openssl", "req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".crt",
           "-days", "30", "-subj", "/CN=" + ca, cwd=d)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    with open(os.path.join(d, "wrong.cnf"), "w") as f:
        f.write("subjectAltName=DNS:other.example\n")
    for name, ca, ext in (("srv", "ca", "ext.cnf"), ("wronghost", "ca", "wrong.cnf"),
                          ("other-srv", "other-ca", "ext.cnf")):
        sh("openssl", "req", *ec, "-keyout", name + ".key", "-out", name + ".csr",
           "-subj", "/CN=" + name, cwd=d)
        sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey",
           ca + ".key", "-CAcreateserial", "-out", name + ".crt", "-days", "30", "-extfile", ext,
           cwd=d)
    # Expired: `openssl ca` is the tool that takes explicit dates.
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("1000\n")
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n"
                "default_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n")
    sh("openssl", "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key",
       "-in", "srv.csr", "-out", "expired.crt", "-startdate", "20200101000000Z", "-enddate",
       "20200102000000Z", "-extfile", "ext.cnf", "-notext", cwd=d)
    return {n: os.path.join(d, n) for n in os.listdir(d)}


def spki_pin(cert_path):
    """sha256:BASE64 of the certificate's public key, the way docs/security.md makes it."""
    pub = subprocess.run(["openssl", "x509", "-in", cert_path, "-pubkey", "-noout"], check=True,
                         capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True).stdout
    return "sha256:" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def cert_pin_hex(cert_path):
    der = subprocess.run(["openssl", "x509", "-in", cert_path, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return "sha256:" + hashlib.sha256(der).hexdigest()


class TlsTest(harness.RoundhouseTestCase):

    def setUp(self):
        super().setUp()
        self.pki_dir = os.path.join(self.tmp, "pki")
        os.makedirs(self.pki_dir)
        self.pki = make_pki(self.pki_dir)
        # mosquitto started as root reads its files as the mosquitto user.
        os.chmod(self.tmp, 0o755)
        os.chmod(self.pki_dir, 0o755)
        for path in self.pki.values():
            os.chmod(path, 0o644)

    def https(self, port, method, path, body=None, ca="ca.crt", host="localhost", headers=None):
        ctx = ssl.create_default_context(cafile=self.pki[ca])
        conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=10)
        try:
            data = json.dumps(body).encode() if body is not None else None
            hdrs = dict(headers or {})
            if data:
                hdrs["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
        finally:
            conn.close()

    def start_tls_central(self, *flags, cert="srv", **kw):
        c = self.start_central("--tls-cert", self.pki[cert + ".crt"], "--tls-key",
                               self.pki[cert + ".key"], *flags, **kw)
        c.https_url = "https://localhost:%d" % c.port
        return c

    def drive(self, central, edge, train_id, speed):
        """A command through the HTTPS API reaches the simulated motor of train_id (sent again
        a few times: the edge may still be subscribing)."""
        for _ in range(4):
            st, _ = self.https(central.port, "POST", "/api/trains/%s/command" % train_id,
                               {"action": "setSpeed", "speed": speed})
            self.assertEqual(st, 202)
            try:
                harness.wait_until(lambda: (es.motor_speed(edge, train_id) or 0) > 0, timeout=6)
                return
            except AssertionError:
                continue
        self.fail("train %s never moved" % train_id)

    def edge_log_has(self, edge, text, timeout=30):
        harness.wait_until(lambda: text in edge.stderr_text(last=100000), timeout=timeout,
                           message="edge never logged %r" % text)

    # ---- central over HTTPS

    def test_central_https_and_bad_files(self):
        central = self.start_tls_central()
        self.assertEqual(self.https(central.port, "GET", "/api/ping"), (200, {"status": "ok"}))
        self.assertEqual(self.https(central.port, "GET", "/api/ping", host="127.0.0.1")[0], 200)
        self.assertEqual(central.wait_event("http_listening")["tls"], True)
        with self.assertRaises(ssl.SSLError):  # not signed by the CA the client trusts
            self.https(central.port, "GET", "/api/ping", ca="other-ca.crt")
        # The CLI: --ca or ROUNDHOUSE_CA; without, the system's store does not know this CA.
        r = harness.run_program("roundhouse", "--central", central.https_url, "--ca",
                                self.pki["ca.crt"], "--json", "controllers")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = harness.run_program("roundhouse", "--central", central.https_url, "controllers",
                                env={"ROUNDHOUSE_CA": self.pki["ca.crt"]})
        self.assertEqual(r.returncode, 0, r.stderr)
        r = harness.run_program("roundhouse", "--central", central.https_url, "controllers")
        self.assertNotEqual(r.returncode, 0)
        # Bad files: non-zero exit, the file named.
        for cert, key, named in (("srv.crt", "other-srv.key", "other-srv.key"),
                                 ("missing.crt", "srv.key", "missing.crt"),
                                 ("ext.cnf", "srv.key", "ext.cnf")):
            r = harness.run_program("roundhouse-central", "--listen", "127.0.0.1:0", "--db",
                                    os.path.join(self.tmp, "x.db"), "--withrottle-listen", "off",
                                    "--tls-cert", os.path.join(self.pki_dir, cert), "--tls-key",
                                    os.path.join(self.pki_dir, key), timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(named, r.stderr)
        r = harness.run_program("roundhouse-central", "--tls-cert", self.pki["srv.crt"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--tls-key", r.stderr)

    # ---- the edge's https client

    def test_edge_registers_and_drives_over_https(self):
        central = self.start_tls_central()
        edge = self.start_edge(central.https_url, "--central-ca", self.pki["ca.crt"],
                               env={"TRAIN_ID": "t-tls", "MOTOR_PORT": "1"})
        uuid = edge.wait_event("controller_registered")["uuid"]
        edge.wait_event("config_applied", where=lambda e: e["trains"] == ["t-tls"])
        edge.wait_event("mqtt_connected")
        st, ctl = self.https(central.port, "GET", "/api/controllers/%s" % uuid)
        self.assertEqual(st, 200)
        self.drive(central, edge, "t-tls", 30)

    def test_refusals_then_cache_and_pins(self):
        central = self.start_tls_central()
        state = os.path.join(self.tmp, "state")
        env = {"TRAIN_ID": "t-pin", "MOTOR_PORT": "1"}
        first = self.start_edge(central.https_url, "--central-ca", self.pki["ca.crt"],
                                state_dir=state, env=env)
        uuid = first.wait_event("controller_registered")["uuid"]
        first.wait_event("config_applied", where=lambda e: e["trains"] == ["t-pin"])
        self.stop(first)

        refusals = (
            (("--central-ca", self.pki["other-ca.crt"]), "certificate verify failed"),
            (("--central-pin", spki_pin(self.pki["other-srv.crt"])), "pin mismatch"),
            # CA and pin: both must hold.
            (("--central-ca", self.pki["ca.crt"], "--central-pin",
              cert_pin_hex(self.pki["other-srv.crt"])), "pin mismatch"),
        )
        for flags, reason in refusals:
            edge = self.start_edge(central.https_url, *flags, state_dir=state, env=env)
            self.edge_log_has(edge, reason)
            self.assertFalse(edge.find_events("controller_registered"), flags)
            # Central "unreachable": it drives from its cache (commands over MQTT).
            edge.wait_event("cache_loaded")
            edge.wait_event("mqtt_connected")
            self.drive(central, edge, "t-pin", 20)
            self.assertTrue(edge.alive)
            self.stop(edge)

        # The right pin, certificate or public key, with no CA at all.
        for pin in (spki_pin(self.pki["srv.crt"]), cert_pin_hex(self.pki["srv.crt"])):
            edge = self.start_edge(central.https_url, "--central-pin", pin, state_dir=state,
                                   env=env)
            self.assertEqual(edge.wait_event("controller_registered")["uuid"], uuid)
            self.stop(edge)

    def test_wrong_host_and_expired_refused(self):
        for cert, reason in (("wronghost", "hostname mismatch"),
                             ("expired", "certificate has expired")):
            central = self.start_tls_central(cert=cert if cert != "expired" else "srv")
            if cert == "expired":
                self.stop(central)
                central = self.start_central("--tls-cert", self.pki["expired.crt"], "--tls-key",
                                             self.pki["srv.key"])
            edge = self.start_edge("https://localhost:%d" % central.port, "--central-ca",
                                   self.pki["ca.crt"], state_dir=os.path.join(self.tmp, cert))
            self.edge_log_has(edge, reason)
            self.assertFalse(edge.find_events("controller_registered"))
            self.stop(edge)
            self.stop(central)

    # ---- MQTT over TLS

    def start_tls_broker(self):
        port = harness.free_port()
        broker = self.start_broker(extra_config=(
            "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
            % (port, self.pki["ca.crt"], self.pki["srv.crt"], self.pki["srv.key"])))
        harness.wait_tcp("127.0.0.1", port)
        broker.tls_port = port
        return broker

    def test_mqtt_over_tls(self):
        broker = self.start_tls_broker()
        central = self.start_tls_central("--mqtt-ca", self.pki["ca.crt"],
                                         mqtt="localhost:%d" % broker.tls_port)
        ev = central.wait_event("mqtt_connected")
        self.assertTrue(ev["tls"])
        edge = self.start_edge(central.https_url, "--central-ca", self.pki["ca.crt"],
                               env={"TRAIN_ID": "t-mq", "MOTOR_PORT": "1"})
        uuid = edge.wait_event("controller_registered")["uuid"]
        # The runtime config is the controller's own: read it with its secret, as the edge does.
        st, cfg = self.https(central.port, "GET", "/api/controllers/%s/config" % uuid,
                             headers=es.secret_headers(edge.state_dir))
        self.assertEqual(st, 200)
        self.assertIs(cfg["mqtt_broker"]["tls"], True)
        self.assertEqual(cfg["mqtt_broker"]["port"], broker.tls_port)
        edge.wait_event("mqtt_connected")
        self.drive(central, edge, "t-mq", 40)
        self.stop(edge)

        # The edge with a CA that did not sign the broker's certificate: refused, logged.
        bad = self.start_edge(central.https_url, "--central-ca", self.pki["ca.crt"],
                              "--mqtt-ca", self.pki["other-ca.crt"],
                              state_dir=os.path.join(self.tmp, "bad-edge"))
        bad.wait_event("controller_registered")
        self.edge_log_has(bad, "certificate verify failed")
        self.assertFalse(bad.find_events("mqtt_connected"))
        self.stop(bad)

        # The central with the wrong CA: no connection, the library's reason logged.
        other = self.start_central("--mqtt-ca", self.pki["other-ca.crt"],
                                   mqtt="localhost:%d" % broker.tls_port,
                                   db=os.path.join(self.tmp, "other.db"))
        other.wait_event("mqtt_library_error", timeout=30)
        self.assertFalse(other.find_events("mqtt_connected"))
        self.assertIs(other.get("/health").json["mqtt_connected"], False)


if __name__ == "__main__":
    unittest.main()
