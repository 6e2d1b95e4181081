// Moving trains between controllers from the web UI, and watching the placement go
// pending / in_progress -> complete live.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useWorld, waitFor, waitText, textOf, markPage, assertNotReloaded } from './support.mjs';

const w = useWorld('assign', { edges: 2 }, { before, after });

const tid = (id) => `[data-testid="${id}"]`;
const row = (trainId, f) => `[data-testid="assigned-train"][data-train-id="${trainId}"] [data-field="${f}"]`;

/* Records every value a badge takes, from inside the page, so short-lived states are seen. */
async function recordBadge(page, selector) {
  await page.evaluate((sel) => {
    const el = document.querySelector(sel);
    window.__seen = [el.dataset.value];
    new MutationObserver(() => {
      const v = document.querySelector(sel).dataset.value;
      if (window.__seen[window.__seen.length - 1] !== v) window.__seen.push(v);
    }).observe(el, { attributes: true, characterData: true, childList: true, subtree: true });
  }, selector);
}

describe('assignment', () => {
  it('moves a train to the other controller from the train page and shows it complete', w.guard(async (tc) => {
    const { page } = w;
    const [c1, c2] = w.controllerIds;
    await w.goto('#/trains/train-1');
    await markPage(page);
    assert.equal(await textOf(page, tid('placement-status')), 'complete');
    assert.match(await textOf(page, tid('placement-actual')), /^edge-1 /);
    assert.equal(await page.locator(tid('assign-select')).inputValue(), c1);
    // Moving, so that edge-1 needs its ramp (about 3 s) to stop and release the train: the
    // pending step lasts long enough to be seen however busy the machine is.
    const r = await w.api('POST', '/api/trains/train-1/command', { action: 'setSpeed', speed: 40 });
    assert.equal(r.status, 202);
    await waitFor(async () => { const h = await w.trainOnEdge(w.edges[0], 'train-1'); return h && h.speed === 40; },
                  { what: 'edge-1 to drive train-1 at 40', timeout: 20000 });
    await recordBadge(page, tid('placement-status'));

    await page.getByTestId('assign-select').selectOption(c2);
    await page.getByTestId('assign-button').click();
    await waitText(page, tid('placement-desired'), (t) => t.startsWith('edge-2'));
    await waitText(page, tid('placement-status'), (t) => t === 'complete', { timeout: 30000 });
    await waitText(page, tid('placement-actual'), (t) => t.startsWith('edge-2'));
    const seen = await page.evaluate(() => window.__seen);
    tc.diagnostic(`placement seen: ${seen.join(' -> ')}`);
    assert.equal(seen[0], 'complete');
    assert.equal(seen[seen.length - 1], 'complete');
    assert.ok(seen.slice(1, -1).some((s) => s === 'pending' || s === 'in_progress'),
              `went through pending/in_progress: ${seen.join(' -> ')}`);
    await assertNotReloaded(page);

    const t = (await w.api('GET', '/api/trains/train-1')).body;
    assert.equal(t.desired_controller_id, c2);
    assert.equal(t.actual_controller_id, c2);
    await waitFor(async () => await w.trainOnEdge(w.edges[1], 'train-1'), { what: 'edge-2 to run train-1' });
    await waitFor(async () => !(await w.trainOnEdge(w.edges[0], 'train-1')), { what: 'edge-1 to drop train-1' });
  }));

  it('shows on the controller page which trains actually run there', w.guard(async () => {
    const { page } = w;
    const [c1, c2] = w.controllerIds;
    await w.goto(`#/controllers/${c2}`);
    await markPage(page);
    assert.equal(await textOf(page, tid('controller-name')), 'edge-2');
    assert.equal(await textOf(page, tid('controller-presence')), 'online');
    for (const t of ['train-1', 'train-2']) {
      assert.equal(await textOf(page, row(t, 'running-here')), 'yes');
      assert.equal(await textOf(page, row(t, 'placement')), 'complete');
    }
    const c = (await w.api('GET', `/api/controllers/${c2}`)).body;
    assert.equal(await textOf(page, tid('controller-config-desired')), String(c.config_version));
    assert.equal(await textOf(page, tid('controller-config-applied')), String(c.applied_config_version));
    assert.equal(await textOf(page, tid('controller-version')), c.version);
    assert.equal(await textOf(page, tid('controller-address')), c.address);

    // Unassign train-2 from here: it leaves this controller's list once it stopped running.
    await recordBadge(page, row('train-2', 'placement'));
    const sel = page.locator(`[data-testid="assigned-train"][data-train-id="train-2"] [data-testid="move-select"]`);
    await sel.selectOption('');
    await page.locator(`[data-testid="assigned-train"][data-train-id="train-2"] [data-testid="move-button"]`).click();
    await waitFor(async () => (await page.locator('[data-testid="assigned-train"][data-train-id="train-2"]').count()) === 0,
                  { timeout: 30000, what: 'train-2 to leave edge-2' });
    // A train standing still is released within milliseconds, so "pending" may come and go
    // between two frames; the move test above checks that the page shows the stages.
    const seen = await page.evaluate(() => window.__seen);
    console.log(`# unassign placement seen: ${seen.join(' -> ')}`);
    let t = (await w.api('GET', '/api/trains/train-2')).body;
    assert.equal(t.desired_controller_id, null);
    assert.equal(t.actual_controller_id, null);
    assert.equal(t.reassignment_status, 'complete');

    // Assign it to edge-1 from edge-1's page.
    await w.goto(`#/controllers/${c1}`);
    assert.equal(await page.locator(tid('no-assigned-trains')).isVisible(), true);
    await page.getByTestId('assign-here-select').selectOption('train-2');
    await page.getByTestId('assign-here-button').click();
    await waitText(page, row('train-2', 'running-here'), (s) => s === 'yes', { timeout: 30000 });
    await waitText(page, row('train-2', 'placement'), (s) => s === 'complete');
    t = (await w.api('GET', '/api/trains/train-2')).body;
    assert.equal(t.desired_controller_id, c1);
    assert.equal(t.actual_controller_id, c1);
    await waitFor(async () => await w.trainOnEdge(w.edges[0], 'train-2'), { what: 'edge-1 to run train-2' });
    assert.deepEqual(await w.uiErrors(), []);
  }));

  it('shows the API\'s error in words when a move is refused', w.guard(async () => {
    const { page } = w;
    await w.goto('#/trains/train-2');
    // The controller disappears between the page's load and the click: the API refuses.
    const ghost = '00000000-0000-4000-8000-000000000001';
    await page.evaluate((id) => {
      const s = document.querySelector('[data-testid="assign-select"]');
      s.append(new Option('ghost', id));
      s.value = id;
      s.dispatchEvent(new Event('change'));
    }, ghost);
    await page.getByTestId('assign-button').click();
    const msg = await waitText(page, tid('error-message'), (t) => t.length > 0);
    assert.match(msg, new RegExp(`Could not move Train 2: controller ${ghost} does not exist`));
    const t = (await w.api('GET', '/api/trains/train-2')).body;
    assert.equal(t.desired_controller_id, w.controllerIds[0]);
  }));
});
