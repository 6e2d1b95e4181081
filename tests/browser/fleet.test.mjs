// The fleet console: the controller list at a size where it matters (natural sort, search,
// filters, counts) and controller problems shown where the operator looks (a refused config
// with the controller's reason, in the list and on the controller page).
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { useWorld, waitFor, waitText, textOf, sleep } from './support.mjs';

const DESKTOP = { width: 1400, height: 900 };
const w = useWorld('fleet', { edges: 2, viewport: DESKTOP, centralArgs: ['--register-rate', '1000'] },
                   { before, after });

const tid = (id) => `[data-testid="${id}"]`;
const rowSel = (id) => `[data-testid="controller-row"][data-controller-id="${id}"]`;

async function names(page) {
  return page.locator(`${tid('controller-row')} [data-field="name"]`).allTextContents();
}

describe('the fleet console', () => {
  it('sorts naturally, searches, filters and counts', w.guard(async () => {
    const { page } = w;
    // Forty more controllers, registered over the API as edges would: pi-1 … pi-40.
    for (let i = 40; i >= 1; i--) {
      const r = await w.api('POST', '/api/controllers/register', { name: `pi-${i}`, address: `10.9.0.${i}` });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    await w.goto('#/controllers');
    await waitFor(async () => (await names(page)).length === 42, { what: '42 controllers listed' });
    const all = await names(page);
    assert.deepEqual(all.slice(0, 2), ['edge-1', 'edge-2']);
    assert.deepEqual(all.slice(2, 5), ['pi-1', 'pi-2', 'pi-3'], 'pi-2 before pi-10');
    assert.equal(all.indexOf('pi-10'), all.indexOf('pi-9') + 1);
    assert.match(await textOf(page, tid('controller-count')), /^42 of 42 shown · 42 online/);

    await page.getByTestId('controller-search').fill('pi-1');
    await waitFor(async () => (await names(page)).length === 11, { what: 'pi-1, pi-10 … pi-19 found' });
    assert.match(await textOf(page, tid('controller-count')), /^11 of 42 shown/);
    await page.getByTestId('controller-search').fill('10.9.0.33');
    await waitFor(async () => JSON.stringify(await names(page)) === '["pi-33"]', { what: 'search by address' });
    await page.getByTestId('controller-search').fill('nothing-like-this');
    await page.getByTestId('no-matching-controllers').waitFor();
    await page.getByTestId('controller-search').fill('');

    await page.getByTestId('controller-filter').selectOption('offline');
    await page.getByTestId('no-matching-controllers').waitFor();
    await page.getByTestId('controller-filter').selectOption('online');
    await waitFor(async () => (await names(page)).length === 42, { what: 'all online' });
    await page.getByTestId('controller-filter').selectOption('');
    if (process.env.ROUNDHOUSE_SCREENSHOTS) {
      await page.screenshot({ path: path.join(process.env.ROUNDHOUSE_SCREENSHOTS, 'desktop-controllers.png') });
      await w.goto('#/');
      await page.screenshot({ path: path.join(process.env.ROUNDHOUSE_SCREENSHOTS, 'desktop-dashboard.png') });
      await w.goto('#/controllers');
    }
  }));

  it('shows a refused config in the list and on the controller page, with the reason', w.guard(async () => {
    const { page } = w;
    const [c1] = w.controllerIds;
    const r = await w.api('PUT', '/api/trains/train-1', { plugin: { name: 'warp_drive', config: {} } });
    assert.equal(r.status, 200);
    await waitText(page, `${rowSel(c1)} [data-field="problems"]`, (t) => t === 'config refused', { timeout: 30000 });
    await page.getByTestId('controller-problems').check();
    await waitFor(async () => (await names(page)).includes('edge-1') && !(await names(page)).includes('edge-2'),
                  { what: 'problems only: edge-1 and not edge-2' });
    await page.getByTestId('controller-problems').uncheck();

    await page.locator(`${rowSel(c1)} [data-field="address"]`).click(); // the row leads there
    await page.locator('#view[data-page="controller"]').waitFor();
    await waitText(page, tid('controller-config-error'), (t) => /warp_drive/.test(t));
    assert.match(await textOf(page, tid('controller-config-error')), /refused its runtime config and still runs version \d+/);
    assert.match(await textOf(page, tid('controller-errors')), /rolled back/);
    assert.match(await textOf(page, tid('controller-config-sync')), /refused/);

    // Fixed: the problem goes away, live.
    const ok = await w.api('PUT', '/api/trains/train-1', { plugin: { name: 'simulator', config: {} } });
    assert.equal(ok.status, 200);
    await page.getByTestId('controller-config-error').waitFor({ state: 'hidden', timeout: 30000 });
    await waitText(page, tid('controller-errors'), (t) => t === 'none', { timeout: 30000 });
  }));

  it('renames, disables and enables a controller, adds and deletes a train, prunes', w.guard(async () => {
    const { page } = w;
    const [, c2] = w.controllerIds;
    await w.goto(`#/controllers/${c2}`);
    await page.getByTestId('ctl-name').fill('edge-two');
    await page.getByTestId('ctl-description').fill('by the turntable');
    await page.getByTestId('ctl-save').click();
    await waitText(page, tid('controller-name'), (t) => t === 'edge-two');
    assert.equal((await w.api('GET', `/api/controllers/${c2}`)).body.description, 'by the turntable');

    // Disabled: its train leaves it (the edge stops and drops it); enabled again, it returns.
    await page.getByTestId('ctl-enabled').uncheck();
    await page.getByTestId('ctl-save').click();
    await waitFor(async () => !(await w.trainOnEdge(w.edges[1], 'train-2')), { what: 'edge-2 to drop train-2', timeout: 30000 });
    await w.goto('#/controllers');
    await waitText(page, `${rowSel(c2)} [data-field="problems"]`, (t) => t === 'disabled');
    await w.goto(`#/controllers/${c2}`);
    await page.getByTestId('ctl-enabled').check();
    await page.getByTestId('ctl-save').click();
    await waitFor(async () => await w.trainOnEdge(w.edges[1], 'train-2'), { what: 'edge-2 to run train-2 again', timeout: 30000 });

    // A new train on motor port 3, from the form.
    await page.getByTestId('new-train-id').fill('t-new');
    await page.getByTestId('new-train-name').fill('New engine');
    await page.getByTestId('new-train-port').selectOption('3');
    await page.getByTestId('new-train-invert').check();
    await page.getByTestId('new-train-add').click();
    const added = page.locator('[data-testid="assigned-train"][data-train-id="t-new"]');
    await added.waitFor();
    await waitFor(async () => await w.trainOnEdge(w.edges[1], 't-new'), { what: 'edge-2 to run t-new', timeout: 30000 });
    const t = (await w.api('GET', '/api/trains/t-new')).body;
    assert.deepEqual(t.plugin, { name: 'dc_motor_hat', config: { motor_port: 3 } });
    assert.equal(t.invert_directions, true);

    // The roster: what the train is, in the controller's table and on its dashboard card.
    assert.equal((await w.api('PUT', '/api/trains/t-new', { model: 'BR 101', description: 'red, with a pantograph' })).status, 200);
    await waitText(page, '[data-testid="assigned-train"][data-train-id="t-new"] [data-field="model"]', (x) => x === 'BR 101');
    assert.equal(await textOf(page, '[data-testid="assigned-train"][data-train-id="t-new"] [data-field="id"]'), 't-new');
    assert.equal(await textOf(page, '[data-testid="assigned-train"][data-train-id="t-new"] [data-field="plugin"]'), 'dc_motor_hat M3');
    await w.goto('#/');
    const card = '[data-testid="train-card"][data-train-id="t-new"]';
    await waitText(page, `${card} [data-field="model"]`, (x) => x === 'BR 101');
    assert.equal(await textOf(page, `${card} [data-field="description"]`), 'red, with a pantograph');
    // ... and what the controller is, in the list.
    await w.goto('#/controllers');
    const ctl = (await w.api('GET', `/api/controllers/${c2}`)).body;
    assert.ok(ctl.platform, 'the edge reports its platform');
    await waitText(page, `${rowSel(c2)} [data-field="version"]`, (x) => x.includes(ctl.platform));
    assert.equal(await page.locator(`${rowSel(c2)} [data-field="first-seen"]`).getAttribute('datetime'),
                 ctl.first_seen, 'first seen shown');

    // Deleted from its page: the first tap only arms the button.
    await w.goto('#/trains/t-new');
    await page.getByTestId('train-delete').click();
    await sleep(300);
    assert.equal((await w.api('GET', '/api/trains/t-new')).status, 200, 'one tap deletes nothing');
    await page.getByTestId('train-delete').click();
    await page.locator('#view[data-page="dashboard"]').waitFor();
    await waitFor(async () => (await w.api('GET', '/api/trains/t-new')).status === 404, { what: 't-new deleted' });

    // A controller deleted from its page: the first tap only arms the button.
    const gone = (await w.api('POST', '/api/controllers/register', { name: 'pi-gone', address: '10.9.9.9' })).body.uuid;
    await w.goto(`#/controllers/${gone}`);
    await page.getByTestId('ctl-delete').click();
    await sleep(300);
    assert.equal((await w.api('GET', `/api/controllers/${gone}`)).status, 200, 'one tap deletes nothing');
    await page.getByTestId('ctl-delete').click();
    await page.locator('#view[data-page="controllers"]').waitFor();
    await waitFor(async () => (await w.api('GET', `/api/controllers/${gone}`)).status === 404, { what: 'pi-gone deleted' });
    await waitFor(async () => (await page.locator(rowSel(gone)).count()) === 0, { what: 'pi-gone off the list' });

    // Prune: nobody has been offline for a day.
    await w.goto('#/controllers');
    await page.getByTestId('prune-age').selectOption('86400');
    await page.getByTestId('prune').click();
    await page.getByTestId('prune').click();
    await waitText(page, tid('notice'), (x) => /No controller has been offline that long/.test(x));
    assert.deepEqual(await w.uiErrors(), []);
  }));
});
