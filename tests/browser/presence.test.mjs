// Controller presence in the web UI, live: a controller killed with kill -9 or frozen stops
// showing as online without a reload; times are shown in the browser's time zone (here one
// west of UTC, where the earlier UI showed dead controllers online forever).
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useWorld, waitFor, waitText, textOf, markPage, assertNotReloaded } from './support.mjs';

const w = useWorld('presence', {
  edges: 2,
  centralArgs: ['--stale-after', '2', '--offline-after', '4'],
  timezoneId: 'America/Los_Angeles',
}, { before, after });

const tid = (id) => `[data-testid="${id}"]`;
const card = (trainId, f) => `[data-testid="train-card"][data-train-id="${trainId}"] [data-field="${f}"]`;
const ctlRow = (id, f) => `[data-testid="controller-row"][data-controller-id="${id}"] [data-field="${f}"]`;

describe('controller presence', () => {
  it('shows a frozen controller going stale, then offline, then back online', w.guard(async () => {
    const { page } = w;
    const [c1] = w.controllerIds;
    await w.goto('#/controllers');
    await markPage(page);
    await waitText(page, ctlRow(c1, 'presence'), (t) => t === 'online');
    const seen = new Set();
    process.kill(w.edges[0].proc.pid, 'SIGSTOP'); // no heartbeats; its MQTT connection stays open
    try {
      await waitFor(async () => {
        const t = await textOf(page, ctlRow(c1, 'presence'));
        seen.add(t);
        return t === 'offline';
      }, { timeout: 20000, interval: 100, what: 'edge-1 to show offline' });
    } finally {
      process.kill(w.edges[0].proc.pid, 'SIGCONT');
    }
    assert.ok(seen.has('stale'), `went through stale: ${[...seen].join(', ')}`);
    // Gone quiet: the last-seen time now says how long ago.
    assert.match(await textOf(page, ctlRow(c1, 'last-seen')), /\((just now|\d+ (s|min|h) ago)\)$/);
    await waitText(page, ctlRow(c1, 'presence'), (t) => t === 'online', { timeout: 20000 });
    await assertNotReloaded(page);
  }));

  it('shows a controller killed with kill -9 as not online, without reloading', w.guard(async () => {
    const { page } = w;
    const [, c2] = w.controllerIds;
    await w.goto('#/');
    await markPage(page);
    await waitText(page, tid('count-online'), (t) => t === '2', { timeout: 20000 });
    assert.equal(await textOf(page, card('train-2', 'presence')), 'online');
    assert.equal(await textOf(page, card('train-2', 'state')), 'stopped');

    await w.edges[1].proc.kill9();
    await waitText(page, card('train-2', 'presence'), (t) => t !== 'online', { timeout: 15000 });
    await waitText(page, tid('count-online'), (t) => t === '1');
    await waitText(page, card('train-2', 'presence'), (t) => t === 'offline', { timeout: 15000 });
    await waitText(page, tid('count-offline'), (t) => t === '1');
    // Its train's last report is history now: not shown as if it were still stopped/running.
    assert.equal(await textOf(page, card('train-2', 'state')), 'offline');
    assert.equal(await textOf(page, card('train-1', 'presence')), 'online');
    await assertNotReloaded(page);

    // The controller page agrees, also without a reload.
    await page.getByTestId('nav-controllers').click();
    await page.locator(`[data-testid="controller-row"][data-controller-id="${c2}"]`).click();
    await page.locator('#view[data-page="controller"]').waitFor();
    assert.equal(await textOf(page, tid('controller-presence')), 'offline');
    assert.match(await textOf(page, tid('controller-last-seen')), /\((just now|\d+ (s|min|h) ago)\)$/);
    const api = (await w.api('GET', `/api/controllers/${c2}`)).body;
    assert.equal(api.status, 'offline');
    await assertNotReloaded(page);
  }));

  it('shows first and last seen in the browser\'s time zone', w.guard(async () => {
    const { page } = w;
    const [c1] = w.controllerIds;
    await w.goto(`#/controllers/${c1}`);
    const c = (await w.api('GET', `/api/controllers/${c1}`)).body;
    assert.match(c.first_seen, /Z$/);
    assert.equal(await page.getByTestId('controller-first-seen').getAttribute('datetime'), c.first_seen);
    const text = await textOf(page, tid('controller-first-seen'));
    // The wall-clock time in Los Angeles, not the UTC one.
    const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
      timeZone: 'America/Los_Angeles', hour: '2-digit', minute: '2-digit', second: '2-digit',
      hour12: true, day: '2-digit', timeZoneName: 'short',
    }).formatToParts(new Date(c.first_seen)).map((p) => [p.type, p.value]));
    assert.ok(text.includes(`${parts.hour}:${parts.minute}:${parts.second}`),
              `"${text}" shows ${parts.hour}:${parts.minute}:${parts.second} (Los Angeles time)`);
    assert.match(text, /P[SD]T/);
    assert.ok(text.includes(`/${parts.day}/`), `"${text}" shows day ${parts.day}`);
    assert.equal(await textOf(page, tid('controller-presence')), 'online');
  }));

  it('shows a restarted controller online again, live', w.guard(async () => {
    const { page } = w;
    const [, c2] = w.controllerIds;
    await w.goto(`#/controllers/${c2}`);
    await markPage(page);
    assert.equal(await textOf(page, tid('controller-presence')), 'offline');
    await w.startEdge(2); // same state directory: same UUID
    await waitText(page, tid('controller-presence'), (t) => t === 'online', { timeout: 30000 });
    await waitText(page, '[data-testid="assigned-train"][data-train-id="train-2"] [data-field="running-here"]',
                   (t) => t === 'yes', { timeout: 30000 });
    await assertNotReloaded(page);
    assert.deepEqual(await w.uiErrors(), []);
  }));

  it('marks a moving train\'s last report as old when its reports stop', w.guard(async () => {
    const { page } = w;
    const r = await w.api('POST', '/api/trains/train-1/command', { action: 'setSpeed', speed: 30 });
    assert.equal(r.status, 202);
    await w.goto('#/');
    const age = '[data-testid="train-card"][data-train-id="train-1"] [data-field="age"]';
    await waitText(page, '[data-testid="train-card"][data-train-id="train-1"] [data-field="speed"]',
                   (t) => t === '30', { timeout: 20000 });
    assert.equal(await page.locator(age).isVisible(), false);
    process.kill(w.edges[0].proc.pid, 'SIGSTOP');
    try {
      await page.locator(age).waitFor({ state: 'visible', timeout: 25000 });
      assert.match(await textOf(page, age), /^Last report \d+ s ago/);
    } finally {
      process.kill(w.edges[0].proc.pid, 'SIGCONT');
    }
    await page.locator(age).waitFor({ state: 'hidden', timeout: 30000 });
  }));
});
