// Common setup of the browser tests: a private world of real processes on loopback
// (mosquitto, roundhouse-central, simulated roundhouse-edge daemons) and headless Chromium
// (Debian's /usr/bin/chromium) driven by playwright-core. Every wait is bounded; every
// process started here is killed in World.close(), also when a test fails, and as a last
// resort when node exits.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const requireFromHere = createRequire(import.meta.url);

export const BIN_DIR = process.env.ROUNDHOUSE_BIN_DIR ||
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/bin');
export const CHROMIUM = process.env.ROUNDHOUSE_CHROMIUM || '/usr/bin/chromium';
const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => fs.existsSync(p)) || 'mosquitto';

const live = new Set(); // every child still running, for the exit hook
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch (_) { /* already gone */ }
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { process.exit(130); });
}
// A test file that runs too long is ended here, children included, before ctest's own
// timeout (300 s) could kill it and leave its daemons behind.
const DEADLINE_S = Number(process.env.ROUNDHOUSE_BROWSER_DEADLINE || 270);
setTimeout(() => {
  console.error(`browser test file still running after ${DEADLINE_S} s: killing everything it started`);
  process.exit(124);
}, DEADLINE_S * 1000).unref();

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

/** Polls fn() until it returns a truthy value; fails after timeoutMs with the last value. */
export async function waitFor(fn, { timeout = 15000, interval = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last, lastErr;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const detail = lastErr ? ` (last error: ${lastErr.message})` : ` (last value: ${JSON.stringify(last)})`;
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${detail}`);
    }
    await sleep(interval);
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago (for mosquitto, which cannot report
 *  a kernel-picked port). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => { s.destroy(); resolve(ok); };
    s.setTimeout(1000, () => done(false));
    s.on('connect', () => done(true));
    s.on('error', () => done(false));
  });
}

/** A child process whose stderr/stdout go to a log file and whose JSON log lines can be
 *  waited for. */
class Proc {
  constructor(name, cmd, args, { env, logDir }) {
    this.name = name;
    this.logPath = path.join(logDir, `${name}.log`);
    this.log = fs.createWriteStream(this.logPath, { flags: 'a' });
    this.events = [];
    this.waiters = [];
    this.exited = null;
    this.child = spawn(cmd, args, { env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.child);
    let partial = '';
    const onData = (buf) => {
      this.log.write(buf);
      partial += buf.toString('utf8');
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (line.startsWith('{')) {
          try {
            this.events.push(JSON.parse(line));
            this.check();
          } catch (_) { /* not JSON */ }
        }
      }
    };
    this.child.stdout.on('data', onData);
    this.child.stderr.on('data', onData);
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        live.delete(this.child);
        this.exited = { code, signal };
        this.check();
        resolve(this.exited);
      });
    });
    this.child.on('error', (e) => {
      this.log.write(`spawn error: ${e.message}\n`);
      live.delete(this.child);
      this.exited = { code: -1, signal: null, error: e };
      this.check();
    });
  }

  check() {
    for (const w of [...this.waiters]) {
      const hit = this.events.find(w.pred);
      if (hit) { w.resolve(hit); this.waiters.splice(this.waiters.indexOf(w), 1); }
      else if (this.exited) {
        w.reject(new Error(`${this.name} exited (${JSON.stringify(this.exited)}) before the awaited log line; ` +
                           `log tail:\n${this.tail()}`));
        this.waiters.splice(this.waiters.indexOf(w), 1);
      }
    }
  }

  /** Resolves with the first JSON log line for which pred is true (bounded). */
  waitLog(pred, timeout = 15000) {
    const hit = this.events.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve, reject };
      this.waiters.push(w);
      const t = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`${this.name}: no matching log line within ${timeout} ms; log tail:\n${this.tail()}`));
      }, timeout);
      const clear = () => clearTimeout(t);
      w.resolve = (v) => { clear(); resolve(v); };
      w.reject = (e) => { clear(); reject(e); };
      this.check();
    });
  }

  tail(n = 25) {
    try {
      return fs.readFileSync(this.logPath, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
    } catch (_) {
      return '';
    }
  }

  get pid() { return this.child.pid; }

  /** SIGTERM, then SIGKILL if it is still there after graceMs. */
  async stop(graceMs = 4000) {
    if (this.exited) return this.exited;
    try { this.child.kill('SIGTERM'); } catch (_) { /* gone */ }
    const t = setTimeout(() => { try { this.child.kill('SIGKILL'); } catch (_) { /* gone */ } }, graceMs);
    const r = await Promise.race([this.exitPromise, sleep(graceMs + 3000)]);
    clearTimeout(t);
    this.log.end();
    return r;
  }

  /** kill -9, as a crash would. */
  async kill9() {
    this.child.kill('SIGKILL');
    await Promise.race([this.exitPromise, sleep(5000)]);
  }
}

/** The environment without anything that would point our daemons elsewhere. */
function cleanEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(ROUNDHOUSE_|MQTT_|CENTRAL_API_|TRAIN_|MOTOR_PORT|STATE_DIR|CONTROLLER_NAME|HEALTH_LISTEN|EDGE_CONFIG|SIMULATION_MODE|LOCAL_DEV|HEARTBEAT_INTERVAL|FAILSAFE_TIMEOUT|CACHE_MAX_AGE|LOG_LEVEL)/.test(k)) {
      delete env[k];
    }
  }
  for (const k of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY']) delete env[k];
  env.NO_PROXY = env.no_proxy = '127.0.0.1,localhost';
  return env;
}

function binary(name) {
  const p = path.join(BIN_DIR, name);
  if (!fs.existsSync(p)) throw new Error(`${p} is missing: build it first (ROUNDHOUSE_BIN_DIR=${BIN_DIR})`);
  return p;
}

/** JSON over HTTP; returns {status, body, headers} (header names in lower case). */
export async function http(base, method, p, body, headers = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(10000) };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(base + p, init);
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = text; }
  return { status: r.status, body: json, headers: Object.fromEntries(r.headers) };
}

/**
 * One test world. Usage:
 *   const w = new World('drive');
 *   await w.start({ edges: 2 });
 *   ... w.page, w.api(...), w.edges[0] ...
 *   await w.close();
 */
export class World {
  constructor(name) {
    this.name = name;
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), `rh-browser-${name}-`));
    this.procs = [];
    this.edges = [];
    this.context = null;
    this.page = null;
    this.failed = false;
  }

  spawn(name, cmd, args, env) {
    const p = new Proc(name, cmd, args, { env, logDir: this.tmp });
    this.procs.push(p);
    return p;
  }

  async startBroker() {
    let lastErr;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const conf = path.join(this.tmp, `mosquitto-${attempt}.conf`);
      fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
      const p = this.spawn(`mosquitto-${attempt}`, MOSQUITTO, ['-c', conf]);
      try {
        await waitFor(async () => { if (p.exited) throw new Error(`mosquitto exited: ${p.tail()}`); return canConnect(port); },
                      { timeout: 10000, what: `mosquitto on port ${port}` });
        this.broker = p;
        this.brokerPort = port;
        return;
      } catch (e) {
        lastErr = e;
        await p.stop(1000);
      }
    }
    throw lastErr;
  }

  async startCentral(extra = [], env = {}) {
    const args = ['--listen', '127.0.0.1:0', '--withrottle-listen', '127.0.0.1:0', '--db', path.join(this.tmp, 'db'),
                  '--mqtt', `127.0.0.1:${this.brokerPort}`, '--log-level', 'debug', ...extra];
    const p = this.spawn('central', binary('roundhouse-central'), args, env);
    const ev = await p.waitLog((e) => e.event === 'http_listening' && e.port, 20000);
    this.central = p;
    this.base = `http://127.0.0.1:${ev.port}`;
    await waitFor(async () => (await http(this.base, 'GET', '/api/ping')).status === 200,
                  { timeout: 10000, what: 'the central API to answer /api/ping' });
    return this.base;
  }

  /** Stops the central and starts it again on the same port with the same database
   *  (bounded retry while the port is still held). */
  async restartCentral(extra = []) {
    const port = Number(new URL(this.base).port);
    await this.central.stop();
    let lastErr;
    for (let attempt = 1; attempt <= 5; attempt++) {
      const args = ['--listen', `127.0.0.1:${port}`, '--withrottle-listen', '127.0.0.1:0', '--db', path.join(this.tmp, 'db'),
                    '--mqtt', `127.0.0.1:${this.brokerPort}`, '--log-level', 'debug',
                    '--heartbeat-interval', '1', ...extra];
      const p = this.spawn(`central-restart-${attempt}`, binary('roundhouse-central'), args);
      try {
        await p.waitLog((e) => e.event === 'http_listening' && e.port, 20000);
        this.central = p;
        return this.base;
      } catch (e) {
        lastErr = e;
        await p.stop(1000);
        await sleep(500);
      }
    }
    throw lastErr;
  }

  /** Starts simulated edge number n (1-based) with one self-registered train. */
  async startEdge(n, { trainId = `train-${n}`, trainName = `Train ${n}`, motorPort = 1, extra = [] } = {}) {
    const stateDir = path.join(this.tmp, `edge${n}`);
    fs.mkdirSync(stateDir, { recursive: true });
    const args = ['--central', this.base, '--state-dir', stateDir, '--name', `edge-${n}`,
                  '--health-listen', '127.0.0.1:0', '--simulate', '--log-level', 'debug', ...extra];
    const p = this.spawn(`edge-${n}`, binary('roundhouse-edge'), args,
                         { TRAIN_ID: trainId, TRAIN_NAME: trainName, MOTOR_PORT: String(motorPort) });
    const ev = await p.waitLog((e) => e.event === 'health_listening' && e.port, 20000);
    const edge = { n, proc: p, trainId, trainName, stateDir, healthBase: `http://127.0.0.1:${ev.port}` };
    this.edges[n - 1] = edge;
    return edge;
  }

  /** The UUID the edge registered with (its identity file), once it has one. */
  async edgeUuid(edge) {
    return waitFor(async () => {
      const ctl = (await this.api('GET', '/api/controllers')).body;
      const mine = Array.isArray(ctl) && ctl.find((c) => c.name === `edge-${edge.n}`);
      return mine ? mine.id : null;
    }, { timeout: 20000, what: `edge-${edge.n} to register` });
  }

  async edgeHealth(edge) {
    const r = await http(edge.healthBase, 'GET', '/health');
    return r.body;
  }

  async trainOnEdge(edge, trainId) {
    const h = await this.edgeHealth(edge);
    return h && Array.isArray(h.trains) ? h.trains.find((t) => t.train_id === trainId) || null : null;
  }

  api(method, p, body) { return http(this.base, method, p, body); }

  guard(fn) {
    return async (t) => {
      try { await fn(t); } catch (e) { this.failed = true; throw e; }
    };
  }

  /**
   * Standard world: broker, central (fast heartbeats), `edges` simulated edges each with one
   * train, all registered, each train running on its own edge with a first status report;
   * then a browser page on the dashboard with the live stream connected.
   */
  async start({ edges = 2, centralArgs = [], viewport, timezoneId, locale } = {}) {
    await this.startBroker();
    await this.startCentral(['--heartbeat-interval', '1', ...centralArgs]);
    for (let n = 1; n <= edges; n++) await this.startEdge(n);
    this.controllerIds = [];
    for (const e of this.edges) {
      e.uuid = await this.edgeUuid(e);
      this.controllerIds.push(e.uuid);
    }
    for (const e of this.edges) await this.waitTrainReady(e.trainId, e.uuid);
    await this.openBrowser({ viewport, timezoneId, locale });
  }

  /** Waits until trainId runs on controller uuid (placement complete, online, reported). */
  async waitTrainReady(trainId, uuid, timeout = 30000) {
    await waitFor(async () => {
      const t = (await this.api('GET', `/api/trains/${encodeURIComponent(trainId)}`)).body;
      const c = (await this.api('GET', `/api/controllers/${uuid}`)).body;
      return t && t.actual_controller_id === uuid && t.desired_controller_id === uuid &&
        t.reassignment_status === 'complete' && t.status && c && c.status === 'online';
    }, { timeout, what: `train ${trainId} to run on ${uuid}` });
  }

  async openBrowser({ viewport, timezoneId, locale, hash = '#/' } = {}) {
    const profile = path.join(this.tmp, 'chromium-profile');
    fs.mkdirSync(profile, { recursive: true });
    this.context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: viewport || { width: 1280, height: 900 },
      timezoneId,
      locale: locale || 'en-US',
      timeout: 60000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync',
             '--disable-dev-shm-usage'],
    });
    this.context.setDefaultTimeout(15000);
    this.context.setDefaultNavigationTimeout(20000);
    this.page = this.context.pages()[0] || await this.context.newPage();
    this.pageErrors = [];
    this.page.on('pageerror', (e) => this.pageErrors.push(String(e)));
    this.page.on('console', (m) => { if (m.type() === 'error') this.pageErrors.push(`console: ${m.text()}`); });
    if (hash !== null) await this.goto(hash); // null: the caller navigates (a login page)
    return this.page;
  }

  /** Navigates to a hash route and waits until the UI has loaded state over REST and its
   *  event stream is live. */
  async goto(hash) {
    await this.page.goto(`${this.base}/${hash}`);
    await this.page.waitForSelector('#view[data-ready="1"]');
    await this.page.waitForSelector('[data-testid="connection-state"][data-state="live"]');
  }

  /** Texts of error messages the UI shows. */
  async uiErrors() {
    return this.page.locator('[data-testid="error-message"]').allTextContents();
  }

  async screenshot(file) {
    if (this.page) await this.page.screenshot({ path: file, fullPage: true });
  }

  /** Kills everything this world started, removes its files (kept, with logs printed,
   *  when the test failed or ROUNDHOUSE_KEEP_TMP is set). */
  async close(failed = this.failed) {
    if (this.context) {
      if (failed) {
        try { await this.screenshot(path.join(this.tmp, 'failure.png')); } catch (_) { /* best effort */ }
      }
      await Promise.race([this.context.close().catch(() => {}), sleep(10000)]);
      this.context = null;
    }
    for (const p of [...this.procs].reverse()) await p.stop();
    if (failed || process.env.ROUNDHOUSE_KEEP_TMP) {
      for (const p of this.procs) console.error(`--- ${p.name} (${p.logPath}) ---\n${p.tail(40)}`);
      console.error(`browser test files kept in ${this.tmp}`);
    } else {
      try {
        fs.rmSync(this.tmp, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      } catch (e) {
        console.error(`could not remove ${this.tmp}: ${e.message}`);
      }
    }
  }
}

/** node:test glue: a world started in before(), closed in after(). Wrap each test body in
 *  w.guard(fn) so a failure keeps (and prints) the logs and takes a screenshot. */
export function useWorld(name, opts, { before, after }) {
  const w = new World(name);
  before(async () => {
    try { await w.start(opts); } catch (e) { w.failed = true; throw e; }
  }, { timeout: 150000 });
  after(async () => { await w.close(); }, { timeout: 60000 });
  return w;
}

/** The text of the first element matching selector ('' if none). */
export async function textOf(page, selector) {
  const loc = page.locator(selector).first();
  if (await loc.count() === 0) return '';
  return (await loc.textContent()) || '';
}

/** Waits (bounded) until pred(text of selector) holds; returns that text. */
export async function waitText(page, selector, pred, { timeout = 15000, what } = {}) {
  let last = '';
  await waitFor(async () => { last = await textOf(page, selector); return pred(last); },
                { timeout, interval: 100, what: what || `${selector} (last text: ${JSON.stringify(last)})` });
  return last;
}

/** Sets a range input with the keyboard, as a person without a mouse would. */
export async function setSlider(page, selector, value) {
  const s = page.locator(selector);
  await s.focus();
  await page.keyboard.press('Home');
  for (let i = 0; i < value; i++) await page.keyboard.press('ArrowRight');
  const v = Number(await s.inputValue());
  if (v !== value) throw new Error(`slider is at ${v}, wanted ${value}`);
}

/** Marks the window so a later check can prove the page was not reloaded. */
export async function markPage(page) {
  await page.evaluate(() => { window.__roundhouseNoReload = 'marker'; });
}

export async function assertNotReloaded(page) {
  const m = await page.evaluate(() => window.__roundhouseNoReload);
  if (m !== 'marker') throw new Error('the page was reloaded');
}

/** axe-core's serious and critical violations on the page as it is now (axe from npm). */
export async function axeViolations(page) {
  await page.addScriptTag({ path: requireFromHere.resolve('axe-core/axe.min.js') });
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
