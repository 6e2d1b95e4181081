"""MQTT access control (--mqtt-acl, docs/security.md "MQTT access control"): the central keeps a
real mosquitto's dynamic-security plugin in step with the registry. Every controller gets an
account of its own that may publish only its own trains' status and its own presence, and read
only its own commands, config notifications and the layout's emergency stop; anonymous clients
get nothing. Checked with MQTT clients logging in with the credentials the runtime config hands
out, and with a real edge driving a train."""

import json
import time
import uuid as uuidlib

import edge_support as es
import harness

ADMIN = ("roundhouse-central", "the-central-broker-password")
ACCOUNT_RE = r"^roundhouse-edge-[0-9a-f-]{36}$"
NOT_AUTHORIZED = 5  # CONNACK "not authorised" (MQTT 3.1.1)
REFUSED = 128  # SUBACK failure


class AclCase(harness.RoundhouseTestCase):
    START_BROKER = False

    def setUp(self):
        super().setUp()
        self.broker = self.start_broker(dynsec_admin=ADMIN)

    def start_acl_central(self, *flags, **kw):
        c = self.start_central("--mqtt-acl", "--mqtt-username", ADMIN[0],
                               "--mqtt-password", ADMIN[1], *flags, **kw)
        # On a fresh broker the central first gives its own account its role (the plugin then
        # drops that connection) and reconciles again on the next one.
        c.wait_event("mqtt_acl_reconciled", timeout=20,
                     where=lambda e: not e.get("central_role_added"))
        return c

    def controller(self, central, name, *trains):
        """A controller registered over HTTP as an edge does (with a secret), its trains, and
        the runtime config it downloads: returns (uuid, broker credentials)."""
        doc = self.register(central, name, issue_secret=True)
        uuid, secret = doc["uuid"], doc["controller_secret"]
        for t in trains:
            self.add_train(central, uuid, t)
        r = central.get("/api/controllers/%s/config" % uuid,
                        headers={"X-Controller-Secret": secret})
        self.assertEqual(r.status, 200, r)
        broker = r.json["mqtt_broker"]
        creds = (broker.get("username"), broker.get("password"))
        self.wait_login(creds)
        return uuid, creds, secret

    def wait_login(self, creds):
        """The account is created as the config is served, a moment before the plugin has it
        (an edge retries its login): bounded wait for it."""
        def accepted():
            self.login(creds, timeout=3).close()
            return True
        harness.wait_until(accepted, timeout=10, interval=0.1,
                           message="the account %s does not log in" % creds[0])

    def login(self, creds, **kw):
        return harness.MqttClient(self.broker.port, username=creds[0], password=creds[1], **kw)

    def admin(self):
        return self.login(ADMIN)

    def dynsec(self, mq, *commands):
        """Runs plugin commands as the administrator; returns the responses."""
        mq.subscribe("$CONTROL/dynamic-security/v1/response")
        n = len(mq.messages)
        mq.publish("$CONTROL/dynamic-security/v1", {"commands": list(commands)})
        harness.wait_until(lambda: any(t.endswith("/response") for t, *_ in mq.messages[n:]),
                           timeout=10, message="no answer from the dynamic-security plugin")
        for t, raw, *_ in mq.messages[n:]:
            if t.endswith("/response"):
                return json.loads(raw)["responses"]

    def refused(self, creds):
        with self.assertRaises(AssertionError) as cm:
            self.login(creds).close()
        self.assertIn("CONNACK %d" % NOT_AUTHORIZED, str(cm.exception))

    def barrier(self, mq_from, topic, watcher, payload):
        """Publishes an allowed message and waits for the watcher to see it: whatever the
        sender published before it on that connection has been delivered (or dropped)."""
        mq_from.publish(topic, payload)
        watcher.wait_message(topic, where=lambda d: d == payload, timeout=10)


class ControllerAccountTest(AclCase):

    def test_each_controller_publishes_and_reads_only_its_own_topics(self):
        c = self.start_acl_central()
        a, creds_a, _ = self.controller(c, "pi-a", "ta")
        b, creds_b, _ = self.controller(c, "pi-b", "tb")
        self.assertRegex(creds_a[0], ACCOUNT_RE)
        self.assertEqual(creds_a[0], "roundhouse-edge-" + a)
        self.assertRegex(creds_a[1], r"^[0-9a-f]{64}$")
        self.assertNotEqual(creds_a, creds_b)
        self.assertNotIn(ADMIN[1], json.dumps(c.get("/api/controllers").json))
        with self.admin() as watch, self.login(creds_a) as pa:
            for t in ("trains/#", "controllers/#"):
                watch.subscribe(t)
            # Its own train's status goes through, and the central takes it.
            own = {"train_id": "ta", "speed": 12, "direction": "FORWARD", "state": "running"}
            self.barrier(pa, "trains/ta/status", watch, own)
            harness.wait_until(lambda: c.get("/api/trains/ta/status").status == 200 and
                               c.get("/api/trains/ta/status").json["speed"] == 12, timeout=10)
            # Another controller's train, and another controller's presence: dropped.
            pa.publish("trains/tb/status", {"train_id": "tb", "speed": 77, "state": "running"})
            pa.publish("controllers/%s/presence" % b, {"state": "offline", "session_epoch": 99})
            pa.publish("roundhouse/emergency-stop", {"reason": "forged"})
            self.barrier(pa, "trains/ta/status", watch, dict(own, speed=13))
            seen = [t for t, *_ in watch.messages]
            self.assertNotIn("trains/tb/status", seen)
            self.assertNotIn("controllers/%s/presence" % b, seen)
            r = c.get("/api/trains/tb/status")
            self.assertNotEqual(r.json.get("speed") if r.status == 200 else None, 77, r)
            # It may read its own commands, not another's, and no wildcard.
            self.assertEqual(pa.subscribe("trains/ta/commands"), 1)
            self.assertEqual(pa.subscribe("roundhouse/emergency-stop"), 1)
            self.assertEqual(pa.subscribe("controllers/%s/config/update" % a), 1)
            self.assertEqual(pa.subscribe("trains/tb/commands"), REFUSED)
            self.assertEqual(pa.subscribe("trains/+/commands"), REFUSED)
            self.assertEqual(pa.subscribe("controllers/%s/config/update" % b), REFUSED)
            self.assertEqual(pa.subscribe("#"), REFUSED)
            r = c.post("/api/trains/tb/command", {"action": "setSpeed", "speed": 40})
            self.assertEqual(r.status, 202, r)
            r = c.post("/api/trains/ta/command", {"action": "setSpeed", "speed": 30})
            self.assertEqual(r.status, 202, r)
            doc, _ = pa.wait_message("trains/ta/commands", timeout=10)
            self.assertEqual(doc["speed"], 30)
            self.assertNotIn("trains/tb/commands", [t for t, *_ in pa.messages])
            # The layout's emergency stop reaches every controller.
            self.assertEqual(c.post("/api/emergency-stop", {}).status, 202)
            pa.wait_message("roundhouse/emergency-stop", timeout=10)
        # Without an account, or with a wrong password, nothing at all.
        self.refused((None, None))
        self.refused((creds_a[0], creds_b[1]))
        self.refused(("roundhouse-edge-" + str(uuidlib.uuid4()), creds_a[1]))

    def test_a_moved_train_moves_its_topics(self):
        c = self.start_acl_central()
        a, creds_a, _ = self.controller(c, "pi-a", "tm")
        b, creds_b, _ = self.controller(c, "pi-b")
        with self.admin() as watch, self.login(creds_a) as pa, self.login(creds_b) as pb:
            watch.subscribe("trains/#")
            watch.subscribe("controllers/#")
            self.assertEqual(pb.subscribe("trains/tm/commands"), REFUSED)
            r = c.put("/api/trains/tm", {"controller_id": b})
            self.assertEqual(r.status, 200, r)

            # The new owner may publish its status (bounded wait for the plugin's update).
            def b_publishes(n=[0]):
                n[0] += 1
                doc = {"train_id": "tm", "speed": n[0] % 100, "state": "running"}
                pb.publish("trains/tm/status", doc)
                time.sleep(0.1)
                return any(t == "trains/tm/status" and json.loads(raw) == doc
                           for t, raw, *_ in watch.messages)
            harness.wait_until(b_publishes, timeout=10, interval=0.2,
                               message="the new owner cannot publish the train's status")
            self.assertEqual(pb.subscribe("trains/tm/commands"), 1)
            # The old one no longer can (it never reported running it).
            n = len(watch.messages)
            pa.publish("trains/tm/status", {"train_id": "tm", "speed": 66, "state": "running"})
            presence = {"state": "online", "session_epoch": 0}
            self.barrier(pa, "controllers/%s/presence" % a, watch, presence)
            self.assertNotIn(66, [json.loads(raw).get("speed") for t, raw, *_ in
                                  watch.messages[n:] if t == "trains/tm/status"])
            self.assertEqual(pa.subscribe("trains/tm/commands"), REFUSED)

    def test_a_deleted_controller_loses_its_account(self):
        c = self.start_acl_central()
        a, creds_a, _ = self.controller(c, "pi-gone", "tg")
        self.login(creds_a).close()
        self.assertEqual(c.delete("/api/controllers/%s" % a).status, 204)
        c.wait_event("mqtt_acl_account_deleted", timeout=10)

        def refused():
            try:
                self.login(creds_a, timeout=3).close()
                return False
            except AssertionError:
                return True
        harness.wait_until(refused, timeout=10, interval=0.2,
                           message="the deleted controller can still log in")


class ReconcileTest(AclCase):

    def test_the_broker_is_brought_back_to_the_registry(self):
        c = self.start_acl_central()
        a, creds_a, _ = self.controller(c, "pi-r", "tr")
        self.stop(c)
        stray = "roundhouse-edge-" + str(uuidlib.uuid4())
        with self.admin() as mq:
            answers = self.dynsec(
                mq, {"command": "deleteClient", "username": creds_a[0]},
                {"command": "createRole", "rolename": stray},
                {"command": "createClient", "username": stray, "password": "x" * 20,
                 "roles": [{"rolename": stray}]},
                {"command": "createClient", "username": "somebody-else", "password": "y" * 20})
            self.assertFalse([r for r in answers if "error" in r], answers)
        self.refused(creds_a)
        c = self.start_acl_central(db=c.db)
        self.wait_login(creds_a)
        with self.admin() as mq:
            answers = self.dynsec(mq, {"command": "listClients"}, {"command": "listRoles"})
        clients = answers[0]["data"]["clients"]
        roles = answers[1]["data"]["roles"]
        self.assertIn(creds_a[0], clients)
        self.assertNotIn(stray, clients)
        self.assertNotIn(stray, roles)
        self.assertIn("somebody-else", clients, "an account not named by Roundhouse was touched")
        # The controller's account works as before.
        with self.admin() as watch, self.login(creds_a) as pa:
            watch.subscribe("trains/#")
            self.barrier(pa, "trains/tr/status", watch, {"train_id": "tr", "speed": 5})

    def test_a_database_reset_keeps_the_account(self):
        """The password is derived from the UUID, not stored: a central on an empty database
        hands the restored controller the same one."""
        c = self.start_acl_central()
        a, creds_a, secret = self.controller(c, "pi-reset", "tz")
        self.stop(c)
        if harness.ON_POSTGRES:
            self._pg_db = None
        c = self.start_acl_central(db=self.default_db() if harness.ON_POSTGRES
                                   else c.db + ".new")
        r = c.post("/api/controllers/register",
                   {"name": "pi-reset", "uuid": a, "issue_secret": True},
                   headers={"X-Controller-Secret": secret})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "restored", r)
        r = c.get("/api/controllers/%s/config" % a, headers={"X-Controller-Secret": secret})
        self.assertEqual(r.status, 200, r)
        broker = r.json["mqtt_broker"]
        self.assertEqual((broker["username"], broker["password"]), creds_a)
        self.wait_login(creds_a)


class EdgeUnderAclTest(AclCase):

    def drive(self, c, train, speed):
        """Commands until the edge reports running towards speed (bounded)."""
        def drives():
            c.post("/api/trains/%s/command" % train, {"action": "setSpeed", "speed": speed})
            r = c.get("/api/trains/%s/status" % train)
            return r.status == 200 and r.json.get("target_speed") == speed
        harness.wait_until(drives, timeout=20, interval=0.5,
                           message="the edge does not take commands for %s" % train)

    def test_an_edge_drives_with_its_own_account(self):
        c = self.start_acl_central()
        edge = self.start_edge(c, name="pi-real")
        uuid = edge.wait_event("controller_registered", timeout=20)["uuid"]
        self.add_train(c, uuid, "t-real")
        edge.wait_event("mqtt_connected", timeout=20)
        self.drive(c, "t-real", 25)
        r = c.post("/api/trains/t-real/command", {"action": "emergencyStop"})
        self.assertEqual(r.status, 202, r)
        harness.wait_until(lambda: c.get("/api/trains/t-real/status").json.get("speed") == 0,
                           timeout=10, message="the edge did not stop the train")

    def test_a_new_central_password_reaches_the_running_edge(self):
        """Every controller password derives from the central's: after the operator changes
        it, the reconciliation gives each account its new password and a new config version,
        and the edge picks the new credentials up from its next heartbeat answer."""
        c = self.start_acl_central("--heartbeat-interval", "1")
        edge = self.start_edge(c, name="pi-rot")
        uuid = edge.wait_event("controller_registered", timeout=20)["uuid"]
        self.add_train(c, uuid, "t-rot")
        edge.wait_event("mqtt_connected", timeout=20)
        new_password = "a-new-central-broker-password"
        with self.admin() as mq:
            # The plugin drops every connection of the account at once: no answer to wait for.
            mq.publish("$CONTROL/dynamic-security/v1",
                       {"commands": [{"command": "setClientPassword", "username": ADMIN[0],
                                      "password": new_password}]})
        self.wait_login((ADMIN[0], new_password))
        self.stop(c)
        n = len(edge.events)
        c = es.start_central_at(self, c.port, c.db, "--mqtt-acl", "--mqtt-username", ADMIN[0],
                                "--mqtt-password", new_password, "--heartbeat-interval", "1")
        c.wait_event("mqtt_acl_passwords_changed", timeout=20,
                     where=lambda e: e["controllers"] == 1 and e["configs_bumped"])
        edge.wait_event("mqtt_connected", timeout=30, start=n)
        self.drive(c, "t-rot", 20)


class OptionsTest(harness.RoundhouseTestCase):
    START_BROKER = False

    def test_needs_the_administrator_account(self):
        r = harness.run_program("roundhouse-central", "--mqtt-acl", "--listen", "127.0.0.1:0",
                                "--db", "%s/x.db" % self.tmp, "--withrottle-listen", "off",
                                timeout=20)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--mqtt-acl needs --mqtt-username and --mqtt-password", r.stderr)


if __name__ == "__main__":
    harness.main()
