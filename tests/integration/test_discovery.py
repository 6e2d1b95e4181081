"""DNS-SD discovery (docs/operations.md, docs/edge.md, docs/cli.md, docs/throttles.md): the
central advertises _roundhouse._tcp and _withrottle._tcp through avahi-daemon; an edge and
the CLI given no central URL find it; --advertise off advertises nothing; a central without
any avahi-daemon warns once and serves; an avahi-daemon restart is survived; two centrals
with one name get told apart; and the edge's --central list is tried in turn.

The network tests run two hosts made of network namespaces joined by a veth pair (mdns.py),
each with its own D-Bus and avahi-daemon: the central in host "a", the browsers in host "b",
so everything found crossed a real mDNS exchange. Fixed addresses are those of the private
veth pair; no port is fixed (the programs bind port 0 and log the port)."""

import os
import subprocess
import time
import unittest

import harness
import mdns

BROWSE_TIMEOUT = 30.0


class NetworkCase(harness.RoundhouseTestCase):
    """Two hosts, a (10.77.0.1) and b (10.77.0.2), with avahi in both unless AVAHI is False."""

    START_BROKER = False
    AVAHI = True

    def setUp(self):
        super().setUp()
        try:
            self.net = mdns.Network(self.tmp)
            self.addCleanup(self.net.close)
            self.a = self.net.add_host("a")
            self.b = self.net.add_host("b")
            self.net.link(self.a, self.b)
            if self.AVAHI:
                self.a.start_avahi()
                self.b.start_avahi()
        except mdns.Unavailable as exc:
            self.skipTest("cannot run a private avahi-daemon network here: %s" % exc)

    def start_central_in(self, host, *flags, env=None, n=0):
        db = os.path.join(self.tmp, "central-%s-%d.db" % (host.name, n))
        argv = host.argv([harness.binary("roundhouse-central"), "--listen", "0.0.0.0:0", "--db", db,
                          "--mqtt", "127.0.0.1:1", "--log-level", "debug"] + list(flags))
        full_env = dict(host.env)
        full_env.update(env or {})
        central = harness.Central(argv, harness._clean_env(full_env), self.tmp,
                                  os.path.join(self.tmp, "central-%s-%d.log" % (host.name, n)), db,
                                  flags)
        return self._spawn(central)

    def start_edge_in(self, host, *flags):
        state = os.path.join(self.tmp, "edge-state-" + host.name)
        os.makedirs(state, exist_ok=True)
        argv = host.argv([harness.binary("roundhouse-edge"), "--state-dir", state,
                          "--health-listen", "127.0.0.1:0", "--simulate", "--log-level", "debug",
                          "--name", "edge-" + host.name] + list(flags))
        edge = harness.Edge(argv, harness._clean_env(host.env), self.tmp,
                            os.path.join(self.tmp, "edge-%s.log" % host.name), state, True)
        return self._spawn(edge)

    def cli_in(self, host, *args, env=None):
        full_env = dict(host.env)
        full_env.update(env or {})
        argv = host.argv([harness.binary("roundhouse")] + list(args))
        return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              env=harness._clean_env(full_env), stdin=subprocess.DEVNULL)

    def browse_until(self, host, service_type, pred, message):
        return harness.wait_until(lambda: pred(mdns.browse(host, service_type)),
                                  timeout=BROWSE_TIMEOUT, interval=0.5, message=message)


class AdvertiseTest(NetworkCase):

    def test_central_advertises_api_and_withrottle(self):
        central = self.start_central_in(self.a, "--withrottle-listen", "0.0.0.0:0")
        wt_port = int(central.wait_event("withrottle_listening")["port"])
        ev = central.wait_event("dnssd_advertised", timeout=BROWSE_TIMEOUT)
        self.assertEqual(sorted(s["type"] for s in ev["services"]),
                         ["_roundhouse._tcp", "_withrottle._tcp"])
        name = ev["name"]

        def api(entries):
            return [e for e in entries if e["port"] == central.port and e["address"] == self.a.address]
        found = self.browse_until(self.b, "_roundhouse._tcp", api,
                                  "host b never saw the central's _roundhouse._tcp")
        self.assertIn('"path=/api"', found[0]["txt"])
        self.assertRegex(found[0]["txt"], r'"version=\d+\.\d+\.\d+"')
        self.assertEqual(found[0]["name"].replace("\\032", " "), name)
        wt = self.browse_until(
            self.b, "_withrottle._tcp",
            lambda es: [e for e in es if e["port"] == wt_port and e["address"] == self.a.address],
            "host b never saw the central's _withrottle._tcp")
        self.assertEqual(wt[0]["name"].replace("\\032", " "), name)
        self.stop(central)
        # Withdrawn on shutdown (the goodbye packets reach b).
        self.browse_until(self.b, "_roundhouse._tcp", lambda es: not api(es),
                          "the stopped central is still advertised")

    def test_withrottle_off_advertises_only_the_api(self):
        central = self.start_central_in(self.a, "--withrottle-listen", "off")
        ev = central.wait_event("dnssd_advertised", timeout=BROWSE_TIMEOUT)
        self.assertEqual([s["type"] for s in ev["services"]], ["_roundhouse._tcp"])

    def test_advertise_off(self):
        central = self.start_central_in(self.a, "--advertise", "off",
                                        "--withrottle-listen", "0.0.0.0:0")
        ev = central.wait_event("dnssd_not_advertised")
        self.assertEqual(ev["reason"], "--advertise off")
        # A marker published after the central started: once b sees it, b would have seen
        # the central's services too.
        for t in ("_roundhouse._tcp", "_withrottle._tcp"):
            self.a.spawn(["avahi-publish", "-s", "marker", t, "9"], "publish-%s.log" % t)
        for t in ("_roundhouse._tcp", "_withrottle._tcp"):
            seen = self.browse_until(self.b, t, lambda es: [e for e in es if e["name"] == "marker"]
                                     and es, "the marker never reached b")
            self.assertEqual([e["name"] for e in seen], ["marker"], seen)
        self.assertEqual(central.find_events("dnssd_advertised"), [])

    def test_loopback_listener_is_not_advertised(self):
        db = os.path.join(self.tmp, "lo.db")
        argv = self.a.argv([harness.binary("roundhouse-central"), "--listen", "127.0.0.1:0",
                            "--withrottle-listen", "127.0.0.1:0", "--db", db, "--mqtt",
                            "127.0.0.1:1", "--log-level", "debug"])
        central = self._spawn(harness.Central(argv, harness._clean_env(self.a.env), self.tmp,
                                              os.path.join(self.tmp, "lo.log"), db, []))
        ev = central.wait_event("dnssd_not_advertised")
        self.assertIn("loopback", ev["reason"])

    def test_name_collision_renames(self):
        # Both hosts share this machine's host name, so both centrals pick the same
        # instance name: one of them must move to Avahi's alternative.
        c1 = self.start_central_in(self.a)
        first = c1.wait_event("dnssd_advertised", timeout=BROWSE_TIMEOUT)["name"]
        c2 = self.start_central_in(self.b)
        renamed = c2.wait_event("dnssd_renamed", timeout=BROWSE_TIMEOUT)
        self.assertNotEqual(renamed["name"], first)
        second = c2.wait_event("dnssd_advertised", timeout=BROWSE_TIMEOUT)["name"]
        self.assertEqual(second, renamed["name"])
        entries = self.browse_until(
            self.b, "_roundhouse._tcp",
            lambda es: es if {e["port"] for e in es} >= {c1.port, c2.port} else None,
            "b never saw both centrals")
        self.assertEqual(len({e["name"] for e in entries}), 2, entries)

    def test_avahi_restart_is_survived(self):
        central = self.start_central_in(self.a)
        central.wait_event("dnssd_advertised", timeout=BROWSE_TIMEOUT)
        self.a.stop_avahi_daemon()
        central.wait_event("dnssd_unavailable", timeout=BROWSE_TIMEOUT)
        self.a.start_avahi_daemon()
        harness.wait_until(lambda: len(central.find_events("dnssd_advertised")) >= 2,
                           timeout=BROWSE_TIMEOUT + 30, message="not advertised again")
        self.browse_until(self.b, "_roundhouse._tcp",
                          lambda es: [e for e in es if e["port"] == central.port],
                          "b never saw the central again")
        self.assertTrue(central.alive)


class DiscoverTest(NetworkCase):

    def test_edge_without_url_finds_the_central_and_registers(self):
        central = self.start_central_in(self.a)
        central.wait_event("dnssd_advertised", timeout=BROWSE_TIMEOUT)
        edge = self.start_edge_in(self.b)
        self.assertEqual(edge.wait_event("edge_starting")["central"], "dns-sd")
        url = "http://%s:%d" % (self.a.address, central.port)
        edge.wait_event("central_discovered", timeout=BROWSE_TIMEOUT, where=lambda e: e["url"] == url)
        sel = edge.wait_event("central_selected", timeout=BROWSE_TIMEOUT)
        self.assertEqual(sel["url"], url)
        self.assertEqual(sel["source"], "dns-sd")
        reg = edge.wait_event("controller_registered", timeout=BROWSE_TIMEOUT)
        central.wait_event("controller_registered", where=lambda e: e["uuid"] == reg["uuid"])
        # The CLI, also without a URL, finds the same central and lists the edge.
        p = self.cli_in(self.b, "--json", "controllers")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("using the central found by DNS-SD at %s" % url, p.stderr)
        self.assertIn(reg["uuid"], p.stdout)

    def test_edge_started_first_finds_a_later_central(self):
        edge = self.start_edge_in(self.b)
        edge.wait_event("central_discovery_started")
        # Nothing yet: registration fails as with an unreachable central, the edge runs on.
        edge.wait_event("registration_failed", timeout=BROWSE_TIMEOUT,
                        where=lambda e: "DNS-SD" in (e.get("error") or ""))
        central = self.start_central_in(self.a)
        central.wait_event("dnssd_advertised", timeout=BROWSE_TIMEOUT)
        edge.wait_event("central_selected", timeout=BROWSE_TIMEOUT)
        edge.wait_event("controller_registered", timeout=BROWSE_TIMEOUT)

    def test_cli_without_url_and_nothing_advertised(self):
        p = self.cli_in(self.b, "controllers")
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("no central found by DNS-SD (_roundhouse._tcp)", p.stderr)
        self.assertIn("--central", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_configured_url_wins(self):
        central = self.start_central_in(self.a)
        central.wait_event("dnssd_advertised", timeout=BROWSE_TIMEOUT)
        # The configured URL is a dead one: the edge must not go to the advertised central.
        edge = self.start_edge_in(self.b, "--central", "http://127.0.0.1:9")
        self.assertEqual(edge.wait_event("edge_starting")["central"], "http://127.0.0.1:9")
        edge.wait_event("registration_failed", timeout=BROWSE_TIMEOUT)
        p = self.cli_in(self.b, "--central", "http://127.0.0.1:9", "controllers")
        self.assertEqual(p.returncode, 1)
        self.assertNotIn("DNS-SD", p.stderr)
        self.assertEqual(edge.find_events("central_discovery_started"), [])
        self.assertEqual(edge.find_events("central_selected"), [])


class NoAvahiTest(NetworkCase):
    AVAHI = False

    def test_central_without_avahi_warns_once_and_serves(self):
        env = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=" + os.path.join(self.tmp, "no-bus")}
        central = self.start_central_in(self.a, env=env)
        ev = central.wait_event("dnssd_unavailable")
        self.assertIn("avahi-daemon", ev["detail"])
        p = self.cli_in(self.a, "--central", "http://127.0.0.1:%d" % central.port, "--json",
                        "controllers", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        # Retried in the background (after 1 s, 2 s, ...) without another warning.
        time.sleep(3.5)
        self.assertEqual(len(central.find_events("dnssd_unavailable")), 1)
        self.assertTrue(central.alive)

    def test_edge_without_avahi_runs(self):
        edge = self.start_edge_in(self.a)
        ev = edge.wait_event("dnssd_unavailable")
        self.assertIn("cached config", ev["detail"])
        self.assertTrue(edge.alive)


class CentralListTest(harness.RoundhouseTestCase):
    """--central A,B on loopback: no answer from A, so B."""

    def test_second_url_is_tried(self):
        central = self.start_central()
        dead = "http://127.0.0.1:%d" % harness.free_port()
        edge = self.start_edge(dead + "," + central.url)
        fo = edge.wait_event("central_failover", timeout=30)
        self.assertEqual(fo["to"], central.url)
        sel = edge.wait_event("central_selected", timeout=30)
        self.assertEqual(sel["url"], central.url)
        self.assertEqual(sel["source"], "configured")
        reg = edge.wait_event("controller_registered", timeout=30)
        self.assertEqual(central.get("/api/controllers/%s" % reg["uuid"]).status, 200)
        self.assertEqual(edge.health.get("/health").json["central"], central.url)


if __name__ == "__main__":
    unittest.main()
