// Operator accounts in the web UI (roundhouse-central --auth): the login form appears when the
// API answers 401, an operator logs in and drives a train with the slider, logs out; a viewer
// sees the trains with every control disabled, cannot drive even by calling the API from the
// page, and still has the layout EMERGENCY STOP; a wrong password is said in words.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { World, http, waitFor, waitText, setSlider, axeViolations } from './support.mjs';

const ADMIN_PW = 'admin-secret-1';
const tid = (id) => `[data-testid="${id}"]`;
const w = new World('auth');
let admin = {};

async function loginCookie(username, password) {
  const r = await fetch(`${w.base}/api/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }), signal: AbortSignal.timeout(10000),
  });
  assert.equal(r.status, 200, await r.text());
  const cookie = r.headers.get('set-cookie').split(';')[0];
  return { Cookie: cookie };
}

// axe in both themes; the findings are named after `state`.
async function axeBothThemes(page, state, found) {
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const v of await axeViolations(page)) found.push({ state, scheme, ...v });
  }
}

async function uiLogin(page, username, password) {
  await page.waitForSelector(`${tid('login')}:not([hidden])`);
  await page.fill(tid('login-user'), username);
  await page.fill(tid('login-password'), password);
  await page.click(tid('login-submit'));
}

before(async () => {
  try {
    await w.startBroker();
    await w.startCentral(['--auth', '--heartbeat-interval', '1'], { ROUNDHOUSE_ADMIN_PASSWORD: ADMIN_PW });
    admin = await loginCookie('admin', ADMIN_PW);
    for (const [username, role, password] of [['otto', 'operator', 'operator-pass-1'],
                                              ['vera', 'viewer', 'viewer-pass-1']]) {
      const r = await http(w.base, 'POST', '/api/users', { username, password, role }, admin);
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const edge = await w.startEdge(1);
    edge.uuid = await waitFor(async () => {
      const r = await http(w.base, 'GET', '/api/controllers', undefined, admin);
      const mine = Array.isArray(r.body) && r.body.find((c) => c.name === 'edge-1');
      return mine ? mine.id : null;
    }, { timeout: 20000, what: 'edge-1 to register' });
    await waitFor(async () => {
      const t = (await http(w.base, 'GET', '/api/trains/train-1', undefined, admin)).body;
      return t && t.actual_controller_id === edge.uuid && t.reassignment_status === 'complete' && t.status;
    }, { timeout: 30000, what: 'train-1 to run on edge-1' });
    await w.openBrowser({ hash: null });
  } catch (e) {
    w.failed = true;
    throw e;
  }
}, { timeout: 150000 });
after(async () => { await w.close(); }, { timeout: 60000 });

describe('operator accounts in the web UI', () => {
  it('asks for a login, and says so when the password is wrong', w.guard(async () => {
    const { page } = w;
    await page.goto(`${w.base}/#/trains/train-1`);
    await uiLogin(page, 'otto', 'not-the-password');
    await waitText(page, tid('login-error'), (t) => t.includes('Wrong user name or password'));
    assert.equal(await page.locator('#view').isHidden(), true, 'nothing shown before the login');
    const found = [];
    await axeBothThemes(page, 'login with an error', found);
    assert.deepEqual(found, [], JSON.stringify(found, null, 2));
  }));

  it('lets an operator log in and drive, then log out', w.guard(async () => {
    const { page } = w;
    await uiLogin(page, 'otto', 'operator-pass-1');
    await page.waitForSelector('#view[data-ready="1"]');
    await page.waitForSelector('[data-testid="connection-state"][data-state="live"]');
    await waitText(page, tid('whoami'), (t) => t === 'otto (operator)');
    // The cookie is not readable by scripts (HttpOnly).
    assert.equal(await page.evaluate(() => document.cookie), '');
    const slider = page.locator(tid('speed-slider'));
    assert.equal(await slider.isDisabled(), false);
    await setSlider(page, tid('speed-slider'), 7);
    await waitFor(async () => {
      const t = await w.trainOnEdge(w.edges[0], 'train-1');
      return t && t.target_speed === 7;
    }, { timeout: 20000, what: 'edge-1 to target 7 for train-1' });
    await page.click(tid('stop'));
    await waitFor(async () => {
      const t = await w.trainOnEdge(w.edges[0], 'train-1');
      return t && t.target_speed === 0;
    }, { timeout: 20000, what: 'train-1 to be stopped' });
    await page.click(tid('logout'));
    await page.waitForSelector(`${tid('login')}:not([hidden])`);
    const r = await page.evaluate(async () => (await fetch('/api/trains')).status);
    assert.equal(r, 401, 'the session ended with the logout');
  }));

  it('shows a viewer everything but lets them only stop the layout', w.guard(async () => {
    const { page } = w;
    await uiLogin(page, 'vera', 'viewer-pass-1');
    await page.waitForSelector('#view[data-ready="1"]');
    await waitText(page, tid('whoami'), (t) => t === 'vera (viewer)');
    const slider = page.locator(tid('speed-slider'));
    await waitFor(async () => slider.isDisabled(), { what: 'the slider to be disabled for a viewer' });
    assert.equal(await page.locator(tid('start')).isDisabled(), true);
    assert.equal(await page.locator(tid('resume')).isVisible(), false);
    const found = [];
    await axeBothThemes(page, 'viewer, controls disabled', found);
    assert.deepEqual(found, [], JSON.stringify(found, null, 2));
    // The central refuses anyway, whatever the page does.
    const status = await page.evaluate(async () => (await fetch('/api/trains/train-1/command', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ action: 'setSpeed', speed: 40 }),
    })).status);
    assert.equal(status, 403);
    const t = await w.trainOnEdge(w.edges[0], 'train-1');
    assert.equal(t.target_speed, 0, 'the train did not move');
    // One tap on the layout stop works for a viewer.
    assert.equal(await page.locator(tid('estop-all')).isDisabled(), false);
    await page.click(tid('estop-all'));
    await waitText(page, tid('notice'), (x) => x.startsWith('Emergency stop sent'));
    const layout = (await http(w.base, 'GET', '/api/layout', undefined, admin)).body;
    assert.equal(layout.stopped, true);
    assert.deepEqual(w.pageErrors.filter((e) => !e.includes('401') && !e.includes('403')), []);
  }));
});
