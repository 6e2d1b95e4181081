// Driving trains from the web UI as an operator does: the slider drives as it is dragged
// (and with the keyboard), a direction toggle, one-tap emergency stops per train and for the
// layout, compact throttles on the dashboard, following other operators, and commands that
// cannot be delivered said in words.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  useWorld, waitFor, waitText, textOf, markPage, assertNotReloaded, sleep,
} from './support.mjs';

const w = useWorld('drive', { edges: 2 }, { before, after });

const tid = (id) => `[data-testid="${id}"]`;
const cardSel = (trainId) => `[data-testid="train-card"][data-train-id="${trainId}"]`;
const card = (trainId, f) => `${cardSel(trainId)} [data-field="${f}"]`;

async function health(n, trainId) {
  return w.trainOnEdge(w.edges[n - 1], trainId);
}

async function command(trainId, body) {
  const r = await w.api('POST', `/api/trains/${trainId}/command`, body);
  assert.equal(r.status, 202, JSON.stringify(r.body));
}

/** Waits until the edge's own /health shows the train's target speed at `speed`. */
async function edgeTarget(n, trainId, speed, what) {
  return waitFor(async () => { const t = await health(n, trainId); return t && t.target_speed === speed && t; },
                 { timeout: 20000, what: what || `edge-${n} to target ${speed} for ${trainId}` });
}

/** The central's log lines that relayed a command for trainId, as parsed objects. */
function relayed(trainId) {
  return w.central.events.filter((e) => e.event === 'command_relayed' && e.train_id === trainId);
}

describe('driving a train', () => {
  it('drives while the slider is dragged, and sends the last value on release', w.guard(async () => {
    const { page } = w;
    await w.goto('#/trains/train-1');
    await markPage(page);
    await waitText(page, tid('telemetry-state'), (t) => t === 'stopped');
    const before = relayed('train-1').length;
    const box = await page.locator(tid('speed-slider')).boundingBox();
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + 2, y);
    await page.mouse.down();
    const dragStart = Date.now();
    // A slow drag to about 60 %: about 1.5 s, so several speeds go out on the way.
    for (let i = 1; i <= 15; i++) {
      await page.mouse.move(box.x + 2 + (box.width * 0.6 - 2) * (i / 15), y);
      await sleep(100);
    }
    const midway = relayed('train-1').length - before;
    assert.ok(midway >= 2, `speeds were sent while dragging (${midway})`);
    await page.mouse.up();
    const dragMs = Date.now() - dragStart;
    const final = Number(await page.locator(tid('speed-slider')).inputValue());
    assert.ok(final >= 50 && final <= 70, `slider near 60 (${final})`);
    // Limited to a sensible rate: no more than one send per 250 ms of dragging, plus the first
    // and the last.
    await sleep(600);
    const sent = relayed('train-1').slice(before);
    assert.ok(sent.length <= Math.ceil(dragMs / 250) + 2, `${sent.length} commands for a ${dragMs} ms drag`);
    assert.equal(sent[sent.length - 1].command.speed, final, 'the last value was sent');
    await edgeTarget(1, 'train-1', final);
    await waitText(page, tid('telemetry-target'), (t) => t === `${final} %`, { timeout: 20000 });
    assert.equal(await page.getByTestId('apply').count(), 0, 'no Apply button');
    await assertNotReloaded(page);
  }));

  it('drives with the keyboard: arrows and Page Up/Down', w.guard(async () => {
    const { page } = w;
    await command('train-1', { action: 'setSpeed', speed: 20 });
    await waitFor(async () => (await page.locator(tid('speed-slider')).inputValue()) === '20',
                  { what: 'the slider to follow 20' });
    await page.locator(tid('speed-slider')).focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await edgeTarget(1, 'train-1', 22);
    await page.keyboard.press('PageUp');
    const v = Number(await page.locator(tid('speed-slider')).inputValue());
    assert.ok(v > 22, `Page Up raised it (${v})`);
    await edgeTarget(1, 'train-1', v);
    await page.keyboard.press('Home');
    await edgeTarget(1, 'train-1', 0);
  }));

  it('reverses with the direction toggle', w.guard(async () => {
    const { page } = w;
    await command('train-1', { action: 'setSpeed', speed: 30, direction: 'FORWARD' });
    await waitText(page, tid('dir-toggle'), (t) => /Forward/.test(t), { timeout: 20000 });
    await page.getByTestId('dir-toggle').click();
    await waitText(page, tid('telemetry-direction'), (t) => t === 'Reverse', { timeout: 20000 });
    const h = await waitFor(async () => { const t = await health(1, 'train-1'); return t && /^(BACKWARD|REVERSE)$/.test(t.direction) && t; },
                            { what: 'edge-1 to reverse' });
    assert.ok(h);
    assert.match(await textOf(page, tid('dir-toggle')), /Reverse/);
    await page.getByTestId('dir-toggle').click();
    await waitText(page, tid('telemetry-direction'), (t) => t === 'Forward', { timeout: 20000 });
  }));

  it('follows other operators, but the slider does not jump while held', w.guard(async () => {
    const { page } = w;
    await command('train-1', { action: 'setSpeed', speed: 70 });
    await waitFor(async () => (await page.locator(tid('speed-slider')).inputValue()) === '70',
                  { what: 'the slider to follow the new target 70' });
    // The operator grabs the slider near 20 % and holds it while someone else sets 10.
    const box = await page.locator(tid('speed-slider')).boundingBox();
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width * 0.2, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.21, y, { steps: 3 });
    const held = Number(await page.locator(tid('speed-slider')).inputValue());
    assert.ok(held >= 12 && held <= 30, `slider at ${held} under the pointer`);
    await sleep(400);
    await command('train-1', { action: 'setSpeed', speed: 10 });
    const seen = new Set();
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      seen.add(await page.locator(tid('speed-slider')).inputValue());
      await sleep(100);
    }
    assert.deepEqual([...seen], [String(held)], 'the slider stayed under the pointer');
    // Letting go drives the train to what the operator holds: the last word wins.
    await page.mouse.up();
    await edgeTarget(1, 'train-1', held);
  }));

  it('stops the train at once with one tap on its emergency stop', w.guard(async () => {
    const { page } = w;
    await command('train-1', { action: 'setSpeed', speed: 60, direction: 'FORWARD' });
    await waitText(page, tid('telemetry-speed'), (t) => Number(t) >= 30, { timeout: 20000 });
    await page.getByTestId('estop-train').click();
    await waitText(page, tid('telemetry-state'), (t) => t === 'estopped', { timeout: 10000 });
    assert.equal(await textOf(page, tid('telemetry-speed')), '0');
    const h = await health(1, 'train-1');
    assert.equal(h.speed, 0);
    assert.equal(h.state, 'estopped');
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

  it('drives several trains from the dashboard and stops the layout with one tap', w.guard(async () => {
    const { page } = w;
    await page.getByTestId('nav-dashboard').click();
    await page.locator('#view[data-page="dashboard"]').waitFor();
    // The card's own throttle: keyboard on train-2's slider, its direction toggle.
    const s2 = page.locator(`${cardSel('train-2')} ${tid('speed-slider')}`);
    await s2.focus();
    for (let i = 0; i < 5; i++) await page.keyboard.press('PageUp');
    const v2 = Number(await s2.inputValue());
    await edgeTarget(2, 'train-2', v2);
    await page.locator(`${cardSel('train-2')} ${tid('dir-toggle')}`).click();
    await waitText(page, card('train-2', 'direction'), (t) => t === 'Reverse', { timeout: 20000 });
    await command('train-1', { action: 'setSpeed', speed: 30, direction: 'FORWARD' });
    await waitText(page, card('train-1', 'speed'), (t) => t === '30', { timeout: 20000 });
    assert.equal(await textOf(page, card('train-1', 'state')), 'running');
    assert.equal(await textOf(page, card('train-1', 'controller')), 'edge-1');
    assert.equal(await textOf(page, card('train-1', 'id')), 'train-1');
    assert.match(await textOf(page, card('train-1', 'plugin')), /M1$/);
    assert.equal(await textOf(page, tid('count-online')), '2');

    await page.getByTestId('estop-all').click();
    for (const t of ['train-1', 'train-2']) {
      await waitText(page, card(t, 'state'), (s) => s === 'estopped', { timeout: 10000 });
      assert.equal(await textOf(page, card(t, 'speed')), '0');
    }
    assert.match(await textOf(page, tid('notice')), /Emergency stop sent to every train \(2 train\(s\) on 2 controller\(s\)\)/);
    // The layout is stopped until someone resumes it, and says who confirmed.
    await page.getByTestId('banner-layout').waitFor({ state: 'visible' });
    await waitText(page, tid('layout-text'), (t) => /2 of 2 controllers confirmed\./.test(t), { timeout: 10000 });
    assert.match(await textOf(page, tid('layout-text')), /^LAYOUT STOPPED/);
    assert.equal(await page.locator(`${cardSel('train-1')} ${tid('speed-slider')}`).isDisabled(), true);
    await page.getByTestId('resume').click();
    await page.getByTestId('banner-layout').waitFor({ state: 'hidden' });
    assert.equal(await page.locator(`${cardSel('train-1')} ${tid('speed-slider')}`).isDisabled(), false);
    for (const t of ['train-1', 'train-2']) assert.equal(await textOf(page, card(t, 'speed')), '0');
    await assertNotReloaded(page);
  }));

  it('says so when a command reaches no controller', w.guard(async () => {
    const { page } = w;
    const r = await w.api('PUT', '/api/trains/train-2', { controller_id: null });
    assert.equal(r.status, 200);
    await w.goto('#/trains/train-2');
    await page.getByTestId('start').click();
    await waitText(page, tid('command-result'), (t) => /not delivered/.test(t));
    assert.match(await textOf(page, tid('command-result')), /on no controller/);
    const back = await w.api('PUT', '/api/trains/train-2', { controller_id: w.controllerIds[1] });
    assert.equal(back.status, 200);
  }));

  it('shows a banner and the API\'s error in words while the broker is down', w.guard(async () => {
    const { page } = w;
    await w.goto('#/trains/train-1');
    assert.equal(await page.getByTestId('banner-broker').isVisible(), false);
    await w.broker.stop();
    await waitFor(async () => (await w.api('GET', '/health')).body.mqtt_connected === false,
                  { what: 'the central to see the broker down' });
    await page.getByTestId('banner-broker').waitFor({ state: 'visible', timeout: 15000 });
    assert.match(await textOf(page, tid('banner-broker')), /commands cannot be delivered/);
    await page.getByTestId('start').click();
    const msg = await waitText(page, tid('error-message'), (t) => t.length > 0);
    assert.match(msg, /Start failed for Train 1: .*broker/i);
    assert.match(await textOf(page, tid('command-result')), /failed/);
  }));

  it('marks everything stale with a banner while the central is unreachable', w.guard(async () => {
    const { page } = w;
    await w.central.stop();
    await page.getByTestId('banner-central').waitFor({ state: 'visible', timeout: 20000 });
    assert.match(await textOf(page, tid('banner-central')), /cannot be reached/);
    assert.equal(await page.evaluate(() => document.body.classList.contains('stale')), true);
    // The broker banner gives way: the central's own state is unknown now.
    assert.equal(await page.getByTestId('banner-broker').isVisible(), false);
  }));
});
