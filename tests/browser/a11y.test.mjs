// Accessibility: axe-core (from npm) on every page, at phone size, in the light and the dark
// theme. No serious or critical violation is allowed; that includes WCAG AA colour contrast.
// Every button, select and text field is at least 44 px high.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { useWorld } from './support.mjs';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
const PHONE = { width: 390, height: 844 };
const w = useWorld('a11y', { edges: 1, viewport: PHONE }, { before, after });

async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
    }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

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
});
