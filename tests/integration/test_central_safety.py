#!/usr/bin/env python3
"""The central when its database cannot be written: /health tells the truth.

The central runs under a real file size limit (RLIMIT_FSIZE, what ``ulimit -f`` or systemd's
``LimitFSIZE=`` set), so SQLite's writes fail for real with EFBIG once the database and its
WAL reach it; the central must survive that (SIGXFSZ is not ignored for it here), answer 503
to the writes, say ``degraded`` / ``writes_failing`` with the reason in /health, log the full
disk as such, and come back to ``healthy`` by itself when the limit is lifted."""
import resource
import sys
import time

import harness

# Runs the central with a soft file size limit (the hard one stays, so the test may raise it
# later). SIGXFSZ back to its default (Python ignores it, and an ignored signal stays ignored
# across exec): the central must ignore it itself.
LIMITED = ("import os, resource, signal, sys\n"
           "signal.signal(signal.SIGXFSZ, signal.SIG_DFL)\n"
           "hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]\n"
           "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), hard))\n"
           "os.execv(sys.argv[2], sys.argv[2:])\n")

# Neither on a page boundary nor on a WAL frame boundary.
LIMIT = 1024 * 1024 + 1000


def import_plugins(central, prefix, count, size):
    doc = {"format": "roundhouse-registry",
           "plugins": [{"name": "%s-%d" % (prefix, i), "config": {"blob": "x" * size}}
                       for i in range(count)]}
    return central.post("/api/import", doc)


@harness.sqlite_only("the file size limit applies to the central's own database file; a "
                     "PostgreSQL server writes its files itself")
class WritesFailingTest(harness.RoundhouseTestCase):

    def fill_until_writes_fail(self, c):
        """Writes until even a one-page write fails; returns the last failed response."""
        # 1: grow the database file to the limit. A failure right after a burst may only be
        # the WAL waiting for the next checkpoint (every 250 ms): full means failing still
        # after a pause, three times in a row.
        fails = 0
        for i in range(1500):
            r = import_plugins(c, "p-%d" % i, 1, 8000)
            if r.status != 503:
                self.assertEqual(r.status, 200, r.body)
                fails = 0
                continue
            fails += 1
            if fails == 3:
                break
            time.sleep(0.5)
        else:
            self.fail("imports never failed under a %d byte file size limit" % LIMIT)
        # 2: use up what is left of the WAL with the smallest writes, so that no write fits
        # any more, not even the sweeper's one-page probe.
        fails = 0
        for i in range(200):
            r = import_plugins(c, "s-%d" % i, 1, 1)
            if r.status != 503:
                self.assertEqual(r.status, 200, r.body)
                fails = 0
                continue
            fails += 1
            if fails == 3:
                return r
        self.fail("small writes never failed under a %d byte file size limit" % LIMIT)

    def test_health_reports_failing_writes_and_recovers(self):
        c = self.start_central(prefix=[sys.executable, "-c", LIMITED, str(LIMIT)])
        c.wait_event("mqtt_connected")
        h = c.get("/health")
        self.assertEqual(h.status, 200, h.body)
        self.assertEqual(h.json["status"], "healthy")
        self.assertEqual(h.json["database"], "ok")

        failed = self.fill_until_writes_fail(c)
        self.assertEqual(failed.json["error"], "database_unavailable")
        self.assertTrue(c.alive, "the central died at the file size limit (SIGXFSZ)")

        # Degraded, not healthy, and why; reads (and so /api/ping) still work.
        h = c.get("/health")
        self.assertEqual(h.status, 200, h.body)
        self.assertEqual(h.json["status"], "degraded", h.body)
        self.assertEqual(h.json["database"], "writes_failing", h.body)
        self.assertIn("disk full", h.json["reason"])
        self.assertIn("disk full", h.json["database_error"])
        self.assertIn(c.db, h.json["database_error"])
        self.assertEqual(c.get("/api/ping").status, 200)
        self.assertEqual(c.get("/api/controllers").status, 200)
        # A registration is refused with 503, and the answer changes nothing.
        r = c.post("/api/controllers/register", {"name": "pi-full"})
        self.assertEqual(r.status, 503, r.body)

        # The log says disk full and names the file, never the rollback's own complaint.
        errors = [e for e in c.events if e.get("event") == "database_error"]
        self.assertTrue(errors, "no database_error logged")
        self.assertTrue(any("disk full" in e.get("error", "") and c.db in e.get("error", "")
                            for e in errors), errors[-3:])
        self.assertFalse([e for e in c.events if "cannot rollback" in str(e.get("error", ""))])
        ev = c.wait_event("database_writes_failing", timeout=15)
        self.assertIn("disk full", ev["error"])
        # Still failing after the sweeper's probes.
        self.assertEqual(c.get("/health").json["database"], "writes_failing")

        # The condition clears: the sweeper's probe notices without any request writing.
        resource.prlimit(c.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        c.wait_event("database_writes_recovered", timeout=20)
        h = c.get("/health")
        self.assertEqual(h.json["status"], "healthy", h.body)
        self.assertEqual(h.json["database"], "ok")
        self.assertNotIn("reason", h.json)
        r = c.post("/api/controllers/register", {"name": "pi-after"})
        self.assertEqual(r.status, 200, r.body)
        self.stop(c)


if __name__ == "__main__":
    harness.main()
