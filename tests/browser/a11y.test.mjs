// Accessibility: axe-core (from npm) on every page, at phone size, in the light and the dark
// theme. No serious or critical violation is allowed; that includes WCAG AA colour contrast.
// The same holds in the states that show banners and messages: the layout stopped, errors and
// field messages, a two-step delete, the broker down, the central unreachable (stale values).
// Every button, select and text field is at least 44 px high.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useWorld, waitFor, waitText, axeViolations as violations } from './support.mjs';

const PHONE = { width: 390, height: 844 };
const w = useWorld('a11y', { edges: 1, viewport: PHONE }, { before, after });

describe('accessibility', () => {
  for (const scheme of ['light', 'dark']) {
    it(`has no serious or critical axe violation on any page (${scheme})`, w.guard(async () => {
      const { page } = w;
      await page.emulateMedia({ colorScheme: scheme });
      const cid = w.controllerIds[0];
      const found = [];
      for (const [hash, name] of [['#/', 'dashboard'], ['#/trains/train-1', 'train'],
                                  ['#/controllers', 'controllers'], [`#/controllers/${cid}`, 'controller']]) {
        await w.goto(hash);
        await page.locator(`#view[data-page="${name}"]`).waitFor();
        for (const v of await violations(page)) found.push({ page: name, ...v });
      }
      assert.deepEqual(found, [], JSON.stringify(found, null, 2));
    }));
  }

  // Runs axe on the current page in both themes; the findings are named after `state`.
  async function bothThemes(state, found) {
    const { page } = w;
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const v of await violations(page)) found.push({ state, scheme, ...v });
    }
  }

  it('has no serious or critical axe violation with a stopped layout, errors and a pending delete', w.guard(async () => {
    const { page } = w;
    const found = [];
    const stop = await w.api('POST', '/api/emergency-stop', {});
    assert.equal(stop.status, 202, JSON.stringify(stop.body));
    for (const [hash, name] of [['#/', 'dashboard'], ['#/trains/train-1', 'train']]) {
      await w.goto(hash);
      await page.getByTestId('banner-layout').waitFor({ state: 'visible' });
      await waitText(page, '[data-testid="layout-text"]', (t) => /controllers? confirmed/.test(t), { timeout: 10000 });
      await bothThemes(`layout stopped (${name})`, found);
    }
    assert.equal((await w.api('POST', '/api/layout/resume', {})).status, 200);
    await page.getByTestId('banner-layout').waitFor({ state: 'hidden' });

    // A refused save: the field message, the result line and the error alert.
    await page.getByTestId('cfg-name').fill('   ');
    await page.getByTestId('cfg-description').fill('d'.repeat(501));
    await page.getByTestId('cfg-save').click();
    await waitText(page, '[data-testid="cfg-result"]', (t) => t === 'Fix the marked fields first.');
    await bothThemes('field messages', found);
    await page.getByTestId('cfg-reset').click();
    await page.getByTestId('cfg-address').fill('10000');
    await page.getByTestId('cfg-save').click();
    await waitText(page, '[data-testid="cfg-result"]', (t) => t.startsWith('Not saved'));
    await page.getByTestId('error-message').first().waitFor({ state: 'visible' });
    await bothThemes('error alert', found);
    await page.getByTestId('cfg-reset').click();

    // The first tap of a two-step delete.
    await page.getByTestId('train-delete').click();
    await waitText(page, '[data-testid="train-delete"]', (t) => /Tap again/.test(t));
    await bothThemes('pending delete', found);
    assert.deepEqual(found, [], JSON.stringify(found, null, 2));
  }));

  it('gives every button, select and text field a finger-sized target', w.guard(async () => {
    const { page } = w;
    const cid = w.controllerIds[0];
    for (const hash of ['#/', '#/trains/train-1', '#/controllers', `#/controllers/${cid}`]) {
      await w.goto(hash);
      const small = await page.evaluate(() => [...document.querySelectorAll(
        'button, select, input[type="text"], input[type="search"], input[type="number"], textarea')]
        .filter((e) => e.offsetParent !== null)
        .map((e) => ({ what: e.dataset.testid || e.id || e.tagName, h: e.getBoundingClientRect().height }))
        .filter((x) => x.h < 44));
      assert.deepEqual(small, [], `${hash}: ${JSON.stringify(small)}`);
    }
  }));

  // Last: it stops the broker and the central.
  it('has no serious or critical axe violation while the broker is down and the central unreachable', w.guard(async () => {
    const { page } = w;
    const found = [];
    await w.goto('#/');
    await w.broker.stop();
    await waitFor(async () => (await w.api('GET', '/health')).body.mqtt_connected === false,
                  { what: 'the central to see the broker down' });
    await page.getByTestId('banner-broker').waitFor({ state: 'visible', timeout: 15000 });
    await bothThemes('broker down', found);
    await w.central.stop();
    await page.getByTestId('banner-central').waitFor({ state: 'visible', timeout: 20000 });
    assert.equal(await page.evaluate(() => document.body.classList.contains('stale')), true);
    await bothThemes('central unreachable (stale values)', found);
    assert.deepEqual(found, [], JSON.stringify(found, null, 2));
  }));
});
