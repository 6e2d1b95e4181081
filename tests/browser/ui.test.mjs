// The UI as a whole: a phone-sized screen, the event stream reconnecting (and reloading the
// state) after the central restarts, load errors shown in words and retried, unknown pages.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { useWorld, waitFor, waitText, textOf, markPage, assertNotReloaded } from './support.mjs';

const PHONE = { width: 390, height: 844 };
const w = useWorld('ui', { edges: 1, viewport: PHONE }, { before, after });

const tid = (id) => `[data-testid="${id}"]`;
const card = (trainId, f) => `[data-testid="train-card"][data-train-id="${trainId}"] [data-field="${f}"]`;

describe('the UI as a whole', () => {
  it('fits a phone screen, with the emergency stop always in reach', w.guard(async () => {
    const { page } = w;
    const cid = w.controllerIds[0];
    for (const [hash, name] of [['#/', 'dashboard'], ['#/trains/train-1', 'train'],
                                ['#/controllers', 'controllers'], [`#/controllers/${cid}`, 'controller']]) {
      await w.goto(hash);
      await page.locator(`#view[data-page="${name}"]`).waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name}: ${overflow} px wider than the screen`);
      await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
      const box = await page.getByTestId('estop-all').boundingBox();
      assert.ok(box && box.y >= 0 && box.y + box.height <= PHONE.height,
                `${name}: emergency stop visible after scrolling (${JSON.stringify(box)})`);
      assert.ok(box.height >= 40, `${name}: emergency stop is finger-sized`);
      if (process.env.ROUNDHOUSE_SCREENSHOTS) {
        await page.evaluate(() => window.scrollTo(0, 0));
        await page.screenshot({ path: path.join(process.env.ROUNDHOUSE_SCREENSHOTS, `phone-${name}.png`), fullPage: true });
      }
    }
  }));

  it('reconnects after the central restarts and reloads the state', w.guard(async () => {
    const { page } = w;
    await w.goto('#/');
    await markPage(page);
    await w.central.stop();
    await waitFor(async () => (await page.getByTestId('connection-state').getAttribute('data-state')) !== 'live',
                  { what: 'the UI to notice the lost stream' });
    await w.restartCentral();
    // A change the stream of the new process may never replay to this page (its event ids
    // started again): the reload on reconnect brings it.
    const r = await w.api('PUT', '/api/trains/train-1', { name: 'Renamed while away' });
    assert.equal(r.status, 200);
    await page.locator('[data-testid="connection-state"][data-state="live"]').waitFor({ timeout: 30000 });
    await waitText(page, card('train-1', 'name'), (t) => t === 'Renamed while away', { timeout: 15000 });
    // And live events flow again.
    await w.api('PUT', '/api/trains/train-1', { name: 'Live again' });
    await waitText(page, card('train-1', 'name'), (t) => t === 'Live again');
    await assertNotReloaded(page);
  }));

  it('shows a failed load in words and retries it', w.guard(async () => {
    const { page } = w;
    let refused = 0;
    // The train list, paged or not (the UI asks for pages: /api/trains?limit=…).
    const trainList = (url) => url.pathname === '/api/trains';
    await page.route(trainList, (route) => {
      refused++;
      return route.fulfill({ status: 503, contentType: 'application/json',
        body: JSON.stringify({ detail: 'the database is locked; try again', error: 'unavailable' }) });
    });
    await page.reload(); // a fresh start of the page, under the refusing API
    const msg = await waitText(page, tid('error-message'), (t) => t.length > 0);
    assert.match(msg, /Could not load the layout: the database is locked; try again/);
    await waitFor(async () => (await page.getByTestId('connection-state').getAttribute('data-state')) === 'down',
                  { what: 'connection shown as down' });
    await waitFor(() => refused >= 2, { what: 'a retry', timeout: 10000 });
    await page.unroute(trainList);
    await page.locator('[data-testid="connection-state"][data-state="live"]').waitFor({ timeout: 30000 });
    await page.locator('#view[data-ready="1"]').waitFor();
    await waitText(page, card('train-1', 'name'), (t) => t === 'Live again');
    // Once loaded, the load error is gone (it is no longer true).
    await waitFor(async () => (await w.uiErrors()).length === 0, { what: 'the stale load error to go' });
  }));

  it('tells unknown pages, trains and controllers apart', w.guard(async () => {
    const { page } = w;
    await w.goto('#/no/such/page');
    assert.equal(await textOf(page, 'h1'), 'Page not found');
    await w.goto('#/trains/nope');
    assert.equal(await textOf(page, tid('train-name')), 'Unknown train');
    assert.equal(await page.getByTestId('train-missing').isVisible(), true);
    await w.goto('#/controllers/00000000-0000-4000-8000-000000000000');
    assert.equal(await textOf(page, tid('controller-name')), 'Unknown controller');
    // A train deleted while its page is open says so.
    await w.goto('#/trains/train-1');
    assert.equal(await textOf(page, tid('train-name')), 'Live again');
    const r = await w.api('DELETE', '/api/trains/train-1');
    assert.ok(r.status === 200 || r.status === 204, JSON.stringify(r));
    await waitText(page, tid('train-name'), (t) => t === 'Unknown train');
  }));
});
