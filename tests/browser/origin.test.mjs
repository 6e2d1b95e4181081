// A page of another origin, opened in the operator's browser, tries to drive a train, stop
// the layout and delete a controller through the central's API (docs/security.md,
// "Cross-origin requests"). By default none of it reaches the layout: the preflighted calls
// are blocked by the browser (no CORS headers), and the "simple" ones that need no preflight
// (a no-cors POST) are refused by the central. With the page's origin in --cors-origins the
// same page can.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { waitFor } from './support.mjs';
import { World } from './support.mjs';

const w = new World('origin');
let server, pageOrigin, uuid, trainId;

const PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>elsewhere</title></head>' +
  '<body><p>another site</p></body></html>';

before(async () => {
  try {
    await w.startBroker();
    await w.startCentral(['--heartbeat-interval', '1']);
    const edge = await w.startEdge(1);
    uuid = await w.edgeUuid(edge);
    trainId = edge.trainId;
    await w.waitTrainReady(trainId, uuid);
    // The other origin: a page served by a second server, on a kernel-picked port of
    // "localhost" (the central is at 127.0.0.1: another origin for the browser as well).
    server = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    pageOrigin = `http://localhost:${server.address().port}`;
    await w.openBrowser();
  } catch (e) { w.failed = true; throw e; }
}, { timeout: 150000 });

after(async () => {
  if (server) server.close();
  await w.close();
}, { timeout: 60000 });

/** Runs the attacks from the foreign page; returns what the page could observe. */
async function attack(page, base, tid, cid) {
  await page.goto(`${pageOrigin}/`);
  return page.evaluate(async ({ base, tid, cid }) => {
    const out = {};
    const tryIt = async (name, f) => {
      try {
        const r = await f();
        out[name] = r.type === 'opaque' ? 'opaque' : r.status;
      } catch (e) {
        out[name] = 'blocked';
      }
    };
    // Preflighted: JSON body.
    await tryIt('json_speed', () => fetch(`${base}/api/trains/${tid}/command`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ action: 'setSpeed', speed: 100 }),
    }));
    // Preflighted: DELETE.
    await tryIt('delete', () => fetch(`${base}/api/controllers/${cid}`, { method: 'DELETE' }));
    // Simple requests, sent without asking: the answer is opaque, the effect would not be.
    await tryIt('nocors_speed', () => fetch(`${base}/api/trains/${tid}/command`, {
      method: 'POST', mode: 'no-cors', body: JSON.stringify({ action: 'setSpeed', speed: 100 }),
    }));
    await tryIt('nocors_estop', () => fetch(`${base}/api/emergency-stop`, { method: 'POST', mode: 'no-cors' }));
    return out;
  }, { base, tid, cid });
}

describe('a page of another origin', () => {
  it('cannot drive, stop the layout or delete a controller by default', w.guard(async () => {
    const seen = await attack(w.page, w.base, trainId, uuid);
    assert.equal(seen.json_speed, 'blocked', JSON.stringify(seen));
    assert.equal(seen.delete, 'blocked', JSON.stringify(seen));
    assert.equal(seen.nocors_speed, 'opaque', JSON.stringify(seen));
    assert.equal(seen.nocors_estop, 'opaque', JSON.stringify(seen));
    // The simple requests did reach the central, and it refused them.
    await waitFor(() => w.central.events.filter((e) => e.event === 'origin_refused' &&
                                                e.origin === pageOrigin).length >= 2,
                  { timeout: 10000, what: 'the central to refuse the no-cors requests' });
    // Nothing happened: no command relayed, the layout runs, the controller exists, the
    // train's target is unchanged on the edge.
    assert.equal(w.central.events.filter((e) => e.event === 'command_relayed').length, 0);
    const layout = await w.api('GET', '/api/layout');
    assert.equal(layout.body.stopped, false, JSON.stringify(layout.body));
    assert.equal((await w.api('GET', `/api/controllers/${uuid}`)).status, 200);
    const t = await w.trainOnEdge(w.edges[0], trainId);
    assert.notEqual(t.target_speed, 100);
  }));

  it('can when its origin is listed in --cors-origins', w.guard(async () => {
    await w.restartCentral(['--cors-origins', pageOrigin]);
    // The record still says online from before the restart, but commands answer 503 until the
    // new central has its broker connection: wait for that first.
    await w.central.waitLog((e) => e.event === 'mqtt_connected', 30000);
    await waitFor(async () => (await w.api('GET', `/api/controllers/${uuid}`)).body?.status === 'online',
                  { timeout: 30000, what: 'the controller back online' });
    const seen = await w.page.evaluate(async ({ base, tid }) => {
      const r = await fetch(`${base}/api/trains/${tid}/command`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ action: 'setSpeed', speed: 100 }),
      });
      return r.status;
    }, { base: w.base, tid: trainId });
    assert.equal(seen, 202);
    await waitFor(async () => (await w.trainOnEdge(w.edges[0], trainId))?.target_speed === 100,
                  { timeout: 20000, what: 'the edge to target speed 100' });
    const del = await w.page.evaluate(async ({ base, tid }) => {
      const r = await fetch(`${base}/api/trains/${tid}/command`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ action: 'emergencyStop' }),
      });
      return r.status;
    }, { base: w.base, tid: trainId });
    assert.equal(del, 202);
    const gone = await w.page.evaluate(async ({ base, cid }) => {
      const r = await fetch(`${base}/api/controllers/${cid}`, { method: 'DELETE' });
      return r.status;
    }, { base: w.base, cid: uuid });
    assert.ok(gone === 200 || gone === 204, `DELETE answered ${gone}`);
    // Deleted. Not read back with a GET: the running edge's next heartbeat (every second
    // here) is answered 404 and it registers again under its UUID ("restored"), by design.
    await w.central.waitLog((e) => e.event === 'controller_deleted' && e.uuid === uuid, 5000);
  }));
});
