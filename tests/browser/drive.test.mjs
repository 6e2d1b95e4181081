// Driving trains from the web UI: throttle, direction-only changes, a slider that does not
// jump while held, emergency stops with confirmation, and API errors shown in words.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  useWorld, waitFor, waitText, textOf, setSlider, markPage, assertNotReloaded, sleep,
} from './support.mjs';

const w = useWorld('drive', { edges: 2 }, { before, after });

const tid = (id) => `[data-testid="${id}"]`;
const card = (trainId, f) => `[data-testid="train-card"][data-train-id="${trainId}"] [data-field="${f}"]`;

async function health(n, trainId) {
  return w.trainOnEdge(w.edges[n - 1], trainId);
}

async function command(trainId, body) {
  const r = await w.api('POST', `/api/trains/${trainId}/command`, body);
  assert.equal(r.status, 202, JSON.stringify(r.body));
}

describe('driving a train', () => {
  it('sets speed and direction with Apply and shows the new status without reloading', w.guard(async () => {
    const { page } = w;
    await w.goto('#/trains/train-1');
    await markPage(page);
    assert.equal(await textOf(page, tid('train-name')), 'Train 1');
    await waitText(page, tid('telemetry-state'), (t) => t === 'stopped');

    await setSlider(page, tid('speed-slider'), 40);
    await waitText(page, tid('speed-value'), (t) => t === '40');
    assert.equal(await page.locator(tid('throttle-pending')).isVisible(), true,
                 'an unapplied change is marked');
    await page.getByTestId('dir-forward').check();
    await page.getByTestId('apply').click();

    await waitText(page, tid('telemetry-speed'), (t) => t === '40', { timeout: 20000, what: 'speed 40 shown' });
    await waitText(page, tid('telemetry-state'), (t) => t === 'running');
    assert.equal(await textOf(page, tid('telemetry-direction')), 'Forward');
    assert.equal(await textOf(page, tid('telemetry-target')), '40 %');
    const updated = await textOf(page, tid('telemetry-updated'));
    assert.notEqual(updated, 'never');
    assert.match(await page.locator(tid('telemetry-updated')).getAttribute('datetime'), /Z$/);
    // What the edge really does.
    const h = await waitFor(async () => { const t = await health(1, 'train-1'); return t && t.speed === 40 && t; },
                            { what: 'edge-1 to drive train-1 at 40' });
    assert.equal(h.direction, 'FORWARD');
    await assertNotReloaded(page);
    assert.equal(await page.locator(tid('throttle-pending')).isVisible(), false);
  }));

  it('applies a direction-only change', w.guard(async () => {
    const { page } = w;
    assert.equal(await page.locator(tid('speed-slider')).inputValue(), '40');
    await page.getByTestId('dir-reverse').check();
    await page.getByTestId('apply').click();
    // Reversing while moving ramps down to 0, switches, and ramps up again.
    await waitText(page, tid('telemetry-direction'), (t) => t === 'Reverse', { timeout: 20000 });
    await waitText(page, tid('telemetry-speed'), (t) => t === '40', { timeout: 20000 });
    const h = await waitFor(async () => { const t = await health(1, 'train-1'); return t && t.speed === 40 && t; },
                            { what: 'edge-1 back at 40' });
    assert.match(h.direction, /^(BACKWARD|REVERSE)$/);
    assert.equal(await page.locator(tid('dir-reverse')).isChecked(), true);
    await assertNotReloaded(page);
  }));

  it('follows other operators, but the slider does not jump while held', w.guard(async () => {
    const { page } = w;
    // Another operator (here the REST API) sets 70: the untouched slider follows.
    await command('train-1', { action: 'setSpeed', speed: 70, direction: 'REVERSE' });
    await waitFor(async () => (await page.locator(tid('speed-slider')).inputValue()) === '70',
                  { what: 'the slider to follow the new target 70' });

    // The operator grabs the slider near 20 % and holds it while the train ramps to 10.
    const box = await page.locator(tid('speed-slider')).boundingBox();
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width * 0.2, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.21, y, { steps: 3 });
    const held = Number(await page.locator(tid('speed-slider')).inputValue());
    assert.ok(held >= 12 && held <= 30, `slider at ${held} under the pointer`);
    await command('train-1', { action: 'setSpeed', speed: 10 });
    const seen = new Set();
    const until = Date.now() + 2500; // the ramp sends status several times a second
    while (Date.now() < until) {
      seen.add(await page.locator(tid('speed-slider')).inputValue());
      await sleep(100);
    }
    await page.mouse.up();
    assert.deepEqual([...seen], [String(held)], 'the slider stayed under the pointer');
    await waitText(page, tid('telemetry-target'), (t) => t === '10 %');
    // Released but not applied: it keeps the operator's value and says so.
    await sleep(500);
    assert.equal(await page.locator(tid('speed-slider')).inputValue(), String(held));
    assert.equal(await page.locator(tid('throttle-pending')).isVisible(), true);
    // Revert: back to following the train.
    await page.getByTestId('throttle-revert').click();
    await waitFor(async () => (await page.locator(tid('speed-slider')).inputValue()) === '10',
                  { what: 'the slider to show the train target again' });
  }));

  it('asks before an emergency stop, then stops the train at once', w.guard(async () => {
    const { page } = w;
    await command('train-1', { action: 'setSpeed', speed: 60, direction: 'FORWARD' });
    await waitText(page, tid('telemetry-speed'), (t) => Number(t) >= 30, { timeout: 20000 });

    // Cancel: nothing is sent.
    await page.getByTestId('estop-train').click();
    await page.locator(`${tid('confirm-dialog')}[open]`).waitFor();
    assert.match(await textOf(page, '#confirm-text'), /EMERGENCY STOP/);
    await page.getByTestId('confirm-no').click();
    await page.locator(`${tid('confirm-dialog')}:not([open])`).waitFor({ state: 'attached' });
    await sleep(800);
    assert.notEqual(await textOf(page, tid('telemetry-state')), 'estopped');
    assert.ok((await health(1, 'train-1')).speed > 0, 'cancelled: still moving');

    // Confirm: estopped, speed 0, in the page and on the edge.
    await page.getByTestId('estop-train').click();
    await page.getByTestId('confirm-yes').click();
    await waitText(page, tid('telemetry-state'), (t) => t === 'estopped', { timeout: 10000 });
    assert.equal(await textOf(page, tid('telemetry-speed')), '0');
    const h = await health(1, 'train-1');
    assert.equal(h.speed, 0);
    assert.equal(h.state, 'estopped');
    // The slider does not offer the old speed as if it were still set.
    await waitFor(async () => (await page.locator(tid('speed-slider')).inputValue()) === '0',
                  { what: 'slider at 0 after the emergency stop' });
    assert.deepEqual(await w.uiErrors(), []);
  }));

  it('start and stop buttons drive the train', w.guard(async () => {
    const { page } = w;
    await page.getByTestId('start').click();
    await waitText(page, tid('telemetry-state'), (t) => t === 'running' || t === 'ramping', { timeout: 10000 });
    await waitText(page, tid('telemetry-speed'), (t) => Number(t) > 0, { timeout: 10000 });
    await page.getByTestId('stop').click();
    await waitText(page, tid('telemetry-state'), (t) => t === 'stopped', { timeout: 15000 });
    assert.equal(await textOf(page, tid('telemetry-speed')), '0');
  }));

  it('shows live speeds on the dashboard and stops the whole layout from there', w.guard(async () => {
    const { page } = w;
    await page.getByTestId('nav-dashboard').click();
    await page.locator('#view[data-page="dashboard"]').waitFor();
    await command('train-1', { action: 'setSpeed', speed: 30, direction: 'FORWARD' });
    await command('train-2', { action: 'setSpeed', speed: 50, direction: 'REVERSE' });
    await waitText(page, card('train-1', 'speed'), (t) => t === '30', { timeout: 20000 });
    await waitText(page, card('train-2', 'speed'), (t) => t === '50', { timeout: 20000 });
    assert.equal(await textOf(page, card('train-2', 'direction')), 'Reverse');
    assert.equal(await textOf(page, card('train-1', 'state')), 'running');
    assert.equal(await textOf(page, card('train-1', 'controller')), 'edge-1');
    assert.equal(await textOf(page, card('train-1', 'presence')), 'online');
    assert.equal(await textOf(page, tid('count-online')), '2');

    await page.getByTestId('estop-all').click();
    await page.getByTestId('confirm-yes').click();
    for (const t of ['train-1', 'train-2']) {
      await waitText(page, card(t, 'state'), (s) => s === 'estopped', { timeout: 10000 });
      assert.equal(await textOf(page, card(t, 'speed')), '0');
    }
    assert.match(await textOf(page, tid('notice')), /Emergency stop sent/);
    await assertNotReloaded(page);
  }));

  it('shows the API\'s error in words when a command cannot be sent', w.guard(async () => {
    const { page } = w;
    await w.goto('#/trains/train-2');
    await w.broker.stop();
    // The central notices the broker is gone; then a command answers 503 with a detail.
    await waitFor(async () => (await w.api('GET', '/health')).body.mqtt_connected === false,
                  { what: 'the central to see the broker down' });
    await page.getByTestId('start').click();
    const msg = await waitText(page, tid('error-message'), (t) => t.length > 0);
    assert.match(msg, /Start failed for Train 2: .*broker/i);
    assert.match(await textOf(page, tid('command-result')), /failed/);
  }));
});
