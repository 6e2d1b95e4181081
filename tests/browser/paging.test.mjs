// The fleet console with a fleet larger than one page: the UI loads controllers and trains
// through the paged API (no unpaged list request), lists a hundred rows at a time with a
// "Show more" button that works from the keyboard and is a 44 px target, and search still
// looks at the whole fleet.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { useWorld, waitFor, waitText, textOf } from './support.mjs';

const DESKTOP = { width: 1400, height: 900 };
const w = useWorld('paging', { edges: 2, viewport: DESKTOP, centralArgs: ['--register-rate', '100000'] },
                   { before, after });

const tid = (id) => `[data-testid="${id}"]`;
const EXTRA = 250;
const TOTAL = EXTRA + 2; // and the world's two edges

async function rowCount(page) {
  return page.locator(tid('controller-row')).count();
}

describe('a fleet of more than one page', () => {
  it('loads through pages and lists a hundred rows at a time', w.guard(async () => {
    const { page } = w;
    for (let i = 1; i <= EXTRA; i++) {
      const r = await w.api('POST', '/api/controllers/register',
                            { name: `yard-${String(i).padStart(3, '0')}`, address: `10.8.${i >> 8}.${i & 255}` });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const lists = [];
    page.on('request', (req) => {
      const u = new URL(req.url());
      if (u.pathname === '/api/controllers' || u.pathname === '/api/trains') lists.push(u.pathname + u.search);
    });
    await page.goto('about:blank'); // a fresh load of the UI, not a change of its hash
    await w.goto('#/controllers');
    await waitFor(async () => (await rowCount(page)) === 100, { what: 'the first hundred rows' });
    // Every list request was a page, and the controllers took more than one.
    assert.ok(lists.length >= 3, JSON.stringify(lists));
    for (const l of lists) assert.match(l, /\?limit=\d+/, `unpaged list request ${l}`);
    assert.ok(lists.some((l) => l.startsWith('/api/controllers?') && l.includes('cursor=')),
              `no second page of controllers: ${JSON.stringify(lists)}`);
    assert.match(await textOf(page, tid('controller-count')), new RegExp(`^100 of ${TOTAL} shown · ${TOTAL} online`));
    assert.equal(await page.getByTestId('controller-loading').isHidden(), true);

    // "Show more": a real button, 44 px high, from the keyboard; focus moves to the first
    // row it added.
    const more = page.getByTestId('controller-more');
    assert.match(await more.textContent(), /^Show 100 more \(152 not shown yet\)$/);
    const box = await more.boundingBox();
    assert.ok(box.height >= 44 && box.width >= 44, `target ${box.width}x${box.height}`);
    await more.focus();
    await page.keyboard.press('Enter');
    await waitFor(async () => (await rowCount(page)) === 200, { what: 'two hundred rows' });
    const focused = await page.evaluate(() => {
      const row = document.activeElement && document.activeElement.closest('[data-testid="controller-row"]');
      return row ? [...row.parentElement.children].indexOf(row) : -1;
    });
    assert.equal(focused, 100, 'focus on the first added row');
    await page.keyboard.press('Shift+Tab'); // back out of the table, then to the button again
    await more.focus();
    await page.keyboard.press('Space');
    await waitFor(async () => (await rowCount(page)) === TOTAL, { what: 'every row' });
    await waitFor(async () => more.isHidden(), { what: 'no more to show' });
    assert.match(await textOf(page, tid('controller-count')), new RegExp(`^${TOTAL} of ${TOTAL} shown`));

    // Search covers the whole fleet, not only the rows listed; a new search starts at a
    // hundred rows again.
    await page.getByTestId('controller-search').fill('yard-25');
    await waitFor(async () => (await rowCount(page)) === 1, { what: 'yard-250 found' });
    await page.getByTestId('controller-search').fill('yard');
    await waitFor(async () => (await rowCount(page)) === 100, { what: 'a hundred yard rows' });
    await waitText(page, tid('controller-count'), (t) => t.includes(`· ${EXTRA} match`));
    await page.getByTestId('controller-search').fill('');

    // A controller registered now arrives over the event stream, as before paging.
    const r = await w.api('POST', '/api/controllers/register', { name: 'aaa-late', address: '10.8.9.9' });
    assert.equal(r.status, 200);
    await waitFor(async () => (await textOf(page, `${tid('controller-row')} [data-field="name"]`)) === 'aaa-late',
                  { what: 'the late controller first in the list' });
    assert.deepEqual(w.pageErrors, []);
    assert.deepEqual(await w.uiErrors(), []);
  }));
});
