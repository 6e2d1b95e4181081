"""Paged lists of roundhouse-central over real HTTP (docs/api.md "Paged lists"):
GET /api/controllers and GET /api/trains with ?limit, ?cursor, ?presence and ?name answer
{items, next_cursor, limit}; without any of them the bare array as before. Pages cover every
row exactly once while rows are added between them; the filters match the items' own name
and status; every bad parameter is a 422 naming it and changes nothing; the CLI pages through
transparently."""

import base64
import json
import unittest

import harness

# Presence that cannot change during a test (a slow, sanitized run included), and
# registrations without the per-address rate limit getting in the way.
STEADY = ("--stale-after", "3600", "--offline-after", "7200", "--register-rate", "100000")
PAGE_KEYS = {"items", "next_cursor", "limit"}


def byte_key(doc):
    """The order of the pages: name, then id, compared as UTF-8 bytes."""
    return (doc["name"].encode("utf-8"), doc["id"].encode("utf-8"))


class PagingTestBase(harness.RoundhouseTestCase):

    def page(self, path, expect=200, **params):
        query = "&".join("%s=%s" % (k, v) for k, v in params.items())
        r = self.c.get("%s?%s" % (path, query) if query else path)
        self.assertEqual(r.status, expect, r)
        if expect == 200:
            self.assertEqual(set(r.json), PAGE_KEYS, r)
            self.assertIsInstance(r.json["items"], list, r)
        return r.json

    def walk(self, path, limit, between=None, max_pages=500, **filters):
        """Every item of a paged list, page after page; between(n) runs after page n."""
        items, cursor = [], None
        for n in range(max_pages):
            params = dict(filters, limit=limit)
            if cursor is not None:
                params["cursor"] = cursor
            doc = self.page(path, **params)
            self.assertEqual(doc["limit"], limit, doc)
            self.assertLessEqual(len(doc["items"]), limit, doc)
            items += doc["items"]
            cursor = doc["next_cursor"]
            if cursor is None:
                return items
            self.assertIsInstance(cursor, str, doc)
            self.assertEqual(len(doc["items"]), limit, "only a full page has a next one")
            if between is not None:
                between(n)
        self.fail("%s never ended within %d pages" % (path, max_pages))


class ControllerPagesTest(PagingTestBase):

    def setUp(self):
        super().setUp()
        self.c = self.start_central(*STEADY)
        # Names that sort differently by bytes than by a person's eye, and a shared name.
        self.names = ["yard-%02d" % i for i in range(40)] + ["Yard-X", "old-yard", "pi-a", "pi-a",
                                                             "Ärger", "zz", "A"]
        self.ids = [self.register(self.c, n, "10.2.0.%d" % (i + 1))["uuid"]
                    for i, n in enumerate(self.names)]

    def test_pages_cover_every_controller_once_in_order(self):
        whole = self.get_json(self.c, "/api/controllers")
        self.assertIsInstance(whole, list)
        by_id = {d["id"]: d for d in whole}
        for limit in (1, 7, 47, 1000):
            with self.subTest(limit=limit):
                items = self.walk("/api/controllers", limit)
                self.assertEqual([d["id"] for d in items],
                                 [d["id"] for d in sorted(whole, key=byte_key)])
                # The items are the unpaged list's entries, key for key.
                for d in items:
                    self.assertEqual(d, by_id[d["id"]])
                    self.assertEqual(set(d), set(by_id[d["id"]]))
        # The alias pages too.
        self.assertEqual(len(self.page("/api/edge-controllers", limit=5)["items"]), 5)

    def test_rows_added_between_pages_never_duplicate_or_hide_others(self):
        before = set(self.ids)
        added = []

        def add(n):
            # One name before every cursor so far, one after every one, one among the rest.
            for name in ("AAA-%d" % n, "zzz-%d" % n, "yard-%02d-b" % (n * 3)):
                added.append(self.register(self.c, name, "10.3.0.%d" % (len(added) + 1))["uuid"])

        items = self.walk("/api/controllers", 5, between=add)
        ids = [d["id"] for d in items]
        self.assertEqual(len(ids), len(set(ids)), "a controller appeared twice")
        self.assertTrue(before <= set(ids), "controllers present throughout were skipped: %s"
                        % sorted(before - set(ids)))
        self.assertTrue(set(ids) <= before | set(added))
        self.assertEqual(ids, [d["id"] for d in sorted(items, key=byte_key)])
        # What sorted after the cursor when it was added is there; "AAA-…" came too late.
        self.assertIn(added[1], ids)
        self.assertNotIn(added[0], ids)

    def test_deleted_between_pages_shifts_nothing(self):
        first = self.page("/api/controllers", limit=10)
        gone = [d["id"] for d in first["items"][:3]]
        for u in gone:
            self.assertEqual(self.c.delete("/api/controllers/%s" % u).status, 204)
        rest = self.walk("/api/controllers", 10, cursor=first["next_cursor"])
        ids = [d["id"] for d in first["items"]] + [d["id"] for d in rest]
        self.assertEqual(sorted(ids), sorted(self.ids))

    def test_name_filter_is_a_substring_with_ascii_case_folded(self):
        items = self.walk("/api/controllers", 6, name="YARD")
        self.assertEqual(sorted(d["name"] for d in items),
                         sorted(n for n in self.names if "yard" in n.lower()))
        self.assertEqual([d["name"] for d in self.page("/api/controllers", name="%C3%84rg")["items"]],
                         ["Ärger"])
        # Only ASCII letters fold; LIKE's own characters are literal.
        self.assertEqual(self.page("/api/controllers", name="%C3%A4rg")["items"], [])
        self.assertEqual(self.page("/api/controllers", name="yard_0")["items"], [])
        self.assertEqual(self.page("/api/controllers", name="%25")["items"], [])
        # An empty filter is no filter (a search box emptied).
        self.assertEqual(len(self.walk("/api/controllers", 100, name="")), len(self.names))

    @unittest.skipUnless(harness.HAVE_PAHO, "python3-paho-mqtt not installed")
    def test_presence_filter_matches_the_status_shown(self):
        harness.wait_until(lambda: self.get_json(self.c, "/health").get("mqtt_connected") is True,
                           timeout=20, interval=0.1)
        gone = self.ids[3:6]
        with harness.MqttClient(self.broker.port) as mq:
            for u in gone:
                epoch = self.get_json(self.c, "/api/controllers/%s" % u)["session_epoch"]
                mq.publish("controllers/%s/presence" % u,
                           {"state": "offline", "session_epoch": epoch, "version": "x",
                            "timestamp": "2026-11-27T10:00:00Z"})
            harness.wait_until(
                lambda: all(self.get_json(self.c, "/api/controllers/%s" % u)["status"] == "offline"
                            for u in gone), timeout=10, message="the wills did not take them offline")
        offline = self.walk("/api/controllers", 2, presence="offline")
        self.assertEqual(sorted(d["id"] for d in offline), sorted(gone))
        self.assertTrue(all(d["status"] == "offline" for d in offline))
        online = self.walk("/api/controllers", 10, presence="online")
        self.assertEqual(len(online), len(self.ids) - len(gone))
        self.assertTrue(all(d["status"] == "online" for d in online))
        both = self.walk("/api/controllers", 10, presence="online,offline")
        self.assertEqual(len(both), len(self.ids))
        self.assertEqual(self.page("/api/controllers", presence="stale,unknown")["items"], [])
        # Filters combine.
        named = self.walk("/api/controllers", 10, presence="offline", name="yard-0")
        self.assertEqual(sorted(d["id"] for d in named),
                         sorted(u for u in gone if "yard-0" in self.names[self.ids.index(u)]))

    def test_bad_parameters_are_422_naming_them_and_change_nothing(self):
        train_cursor = base64.urlsafe_b64encode(json.dumps(["t", "a", "b"]).encode()).decode().rstrip("=")
        cases = [
            ("limit", "limit=0"), ("limit", "limit=1001"), ("limit", "limit=-1"),
            ("limit", "limit=ten"), ("limit", "limit="), ("limit", "limit=%2B5"),
            ("cursor", "cursor=garbage!"), ("cursor", "cursor="), ("cursor", "cursor=" + train_cursor),
            ("cursor", "cursor=" + "A" * 3000),
            ("presence", "presence=on"), ("presence", "presence=online,"),
            ("presence", "presence=Online"),
            ("name", "name=" + "x" * 101), ("name", "name=%FF"),
        ]
        for field, query in cases:
            for path in ("/api/controllers", "/api/trains"):
                if field == "cursor" and path == "/api/trains" and query.endswith(train_cursor):
                    continue  # a train cursor is right for the trains
                with self.subTest(path=path, query=query[:40]):
                    self.assertRejectedUnchanged(self.c, lambda: self.c.get("%s?%s" % (path, query)),
                                                 422, field=field, error="invalid_field")

    def test_unpaged_list_is_unchanged(self):
        whole = self.get_json(self.c, "/api/controllers")
        self.assertIsInstance(whole, list)
        # Creation order, as before paging, and the contract's keys.
        self.assertEqual([d["id"] for d in whole], self.ids)
        for d in whole:
            self.assertTrue(harness.CONTROLLER_KEYS <= set(d), d)
        # Other query parameters do not ask for a page.
        self.assertEqual(self.get_json(self.c, "/api/controllers?foo=1"), whole)
        self.assertIsInstance(self.get_json(self.c, "/api/trains"), list)


class TrainPagesTest(PagingTestBase):

    def setUp(self):
        super().setUp()
        self.c = self.start_central(*STEADY)
        self.a = self.register(self.c, "pi-a", "10.4.0.1")["uuid"]
        self.b = self.register(self.c, "pi-b", "10.4.0.2")["uuid"]
        self.trains = {}
        for i in range(23):
            owner = self.a if i % 2 else self.b
            tid = "t%02d" % i
            self.add_train(self.c, owner, tid, name="%s Express %d" % ("Blue" if i % 3 else "red", i))
            self.trains[tid] = owner

    def test_pages_and_filters(self):
        whole = self.get_json(self.c, "/api/trains")
        by_id = {t["id"]: t for t in whole}
        items = self.walk("/api/trains", 4)
        self.assertEqual([t["id"] for t in items], [t["id"] for t in sorted(whole, key=byte_key)])
        for t in items:
            self.assertEqual(set(t), set(by_id[t["id"]]))
            self.assertEqual(t["status"]["controller_status"], by_id[t["id"]]["status"]["controller_status"])
            self.assertEqual({k: v for k, v in t.items() if k != "status"},
                             {k: v for k, v in by_id[t["id"]].items() if k != "status"})
        red = self.walk("/api/trains", 3, name="RED")
        self.assertEqual(sorted(t["id"] for t in red), sorted(t for t in self.trains if int(t[1:]) % 3 == 0))
        self.assertEqual(len(self.walk("/api/trains", 5, presence="online")), len(self.trains))
        self.assertEqual(self.page("/api/trains", presence="offline")["items"], [])
        # A controller cursor is not a train cursor.
        ctl = self.page("/api/controllers", limit=1)["next_cursor"]
        self.assertJsonError(self.c.get("/api/trains?cursor=%s" % ctl), 422, field="cursor")

    def test_train_presence_follows_its_controller(self):
        self.assertEqual(self.c.delete("/api/controllers/%s" % self.b).status, 204)
        # b's trains are unassigned now and never reported: no controller to be live through.
        unknown = self.walk("/api/trains", 5, presence="unknown")
        self.assertEqual(sorted(t["id"] for t in unknown),
                         sorted(t for t, o in self.trains.items() if o == self.b))
        self.assertTrue(all(t["status"]["controller_status"] == "unknown" for t in unknown))
        online = self.walk("/api/trains", 5, presence="online")
        self.assertTrue(all(t["status"]["controller_status"] == "online" for t in online))
        self.assertEqual(len(online) + len(unknown), len(self.trains))


class CliPagingTest(PagingTestBase):

    def setUp(self):
        super().setUp()
        self.c = self.start_central(*STEADY)
        self.ids = [self.register(self.c, "node-%03d" % i, "10.5.0.%d" % (i % 250 + 1))["uuid"]
                    for i in range(620)]
        self.register(self.c, "Other", "10.5.1.1")

    def rh(self, *args):
        env = {"TZ": "UTC0", "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}
        return harness.run_program("roundhouse", "--central", self.c.url, *args, env=env)

    def test_cli_pages_through_every_controller(self):
        p = self.rh("--json", "controllers")
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        self.assertIsInstance(doc, list)
        # More than one page of the CLI's (500), each controller once, in page order.
        self.assertEqual(len(doc), 621)
        self.assertEqual(len({d["id"] for d in doc}), 621)
        self.assertEqual([d["id"] for d in doc], [d["id"] for d in sorted(doc, key=byte_key)])
        table = self.rh("controllers")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertEqual(len(table.stdout.splitlines()), 1 + 621)

    def test_cli_filters_and_limit(self):
        p = self.rh("--json", "controllers", "--name", "NODE-01", "--presence", "online,stale")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sorted(d["name"] for d in json.loads(p.stdout)),
                         ["node-%03d" % i for i in range(10, 20)])
        p = self.rh("--json", "controllers", "--limit", "3")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([d["name"] for d in json.loads(p.stdout)], ["Other", "node-000", "node-001"])
        p = self.rh("--json", "controllers", "--presence", "offline")
        self.assertEqual((p.returncode, p.stdout.strip()), (0, "[]"), p.stderr)
        p = self.rh("--json", "trains", "--name", "nothing")
        self.assertEqual((p.returncode, p.stdout.strip()), (0, "[]"), p.stderr)
        # A controller found by name among many, through the name filter.
        p = self.rh("--json", "controller", "node-617")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["id"], self.ids[617])

    def test_cli_bad_options_are_2_and_send_nothing(self):
        for args in (("controllers", "--limit", "0"), ("controllers", "--limit", "x"),
                     ("controllers", "--presence", "sometimes"), ("trains", "--presence", "online,"),
                     ("health", "--limit", "5"), ("controller", "node-001", "--name", "x")):
            with self.subTest(args=args):
                p = self.rh(*args)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertEqual(p.stdout, "")
                self.assertTrue(p.stderr.startswith("roundhouse: "), p.stderr)
        # What only the central can judge comes back naming the parameter.
        p = self.rh("controllers", "--name", "x" * 101)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("'name'", p.stderr)


if __name__ == "__main__":
    harness.main()
