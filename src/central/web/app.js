/* Roundhouse operator UI: plain ES2020, no build step, no dependencies.
 *
 * Data flow: one EventSource on /api/events. Every time it (re)connects, the full state is
 * reloaded over REST, page after page (/api/controllers and /api/trains with ?limit and
 * ?cursor, docs/api.md "Paged lists": no answer holds the whole fleet, and the first load
 * shows each page as it arrives); events that arrive meanwhile are buffered and applied on
 * top of that snapshot, in order. There is no polling loop: the
 * only timer refreshes "n s ago" texts locally, and one reconnects a stream the browser gave
 * up on. Pages are hash routes; each builds its DOM once and then updates fields in place,
 * so inputs being edited (the speed slider, the forms) are never reset under the operator.
 */
"use strict";

/* ---------------------------------------------------------------- state ---------------- */

const state = {
  controllers: new Map(), // id -> controller view (as GET /api/controllers returns it)
  trains: new Map(), // id -> train view (with .status, as GET /api/trains returns it)
  layout: { stopped: false, estop: null }, // GET /api/layout
  loaded: false,
  loading: null, // while the first snapshot arrives: {controllers: n, trains: n} so far
  controllersVersion: 0, // bumped on every change of state.controllers (sorted-list cache)
};

/* ---------------------------------------------------------------- helpers -------------- */

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function $(sel, root) { return (root || document).querySelector(sel); }

function setText(el, text) {
  const s = text === null || text === undefined ? "" : String(text);
  if (el && el.textContent !== s) el.textContent = s;
}

/* Length in characters (code points), the way the API counts them. */
function charCount(s) { return [...s].length; }

function byName(a, b) {
  return (a.name || "").localeCompare(b.name || "") || String(a.id).localeCompare(String(b.id));
}

const dash = "–";

/* API timestamps are ISO-8601 UTC ("…Z"): parsed as such, shown in the browser's zone. */
function parseTime(iso) {
  if (typeof iso !== "string" || iso === "") return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

const timeFmt = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
});

function fmtTime(iso) {
  const d = parseTime(iso);
  return d ? timeFmt.format(d) : "never";
}

function fmtAgo(iso) {
  const d = parseTime(iso);
  if (!d) return "";
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (s < -5) return "in the future (clock skew)";
  if (s < 5) return "just now";
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/* A <time> element showing the local time and, refreshed every second, how long ago. */
function timeEl(testid) {
  return h("time", { "data-testid": testid, "data-rel": "" });
}

function setTime(el, iso) {
  if (!el) return;
  el.dataset.iso = iso || "";
  if (iso) el.setAttribute("datetime", iso); else el.removeAttribute("datetime");
  el.title = iso ? `${iso} (UTC)` : "";
  refreshTime(el);
}

function refreshTime(el) {
  const iso = el.dataset.iso;
  // A live controller's last_seen is only re-sent when its presence changes: while it is
  // online, "n s ago" would age wrongly, so only a controller gone quiet shows its age.
  const ago = el.dataset.live === "1" ? "online" : fmtAgo(iso);
  setText(el, iso ? `${fmtTime(iso)}${ago ? ` (${ago})` : ""}` : "never");
}

function dirLabel(d) {
  if (d === "FORWARD") return "Forward";
  if (d === "BACKWARD" || d === "REVERSE") return "Reverse";
  return dash;
}

function dirValue(d) { return d === "BACKWARD" || d === "REVERSE" ? "REVERSE" : "FORWARD"; }

function controllerName(id) {
  if (!id) return null;
  const c = state.controllers.get(id);
  return c ? c.name || id : id;
}

function presenceOf(id) {
  const c = id ? state.controllers.get(id) : null;
  return c ? c.status || "unknown" : "unknown";
}

/* The state to show for a train: what it last reported, unless the controller that
 * reported it is no longer live (then that report is history, not the present). */
function liveState(t) {
  const s = t.status;
  if (!s) return "no report";
  const cid = s.controller_id || t.actual_controller_id;
  const p = presenceOf(cid);
  if (p === "offline" || p === "unknown") return "offline";
  return s.state || "unknown";
}

function badge(cls, text, testid) {
  return h("span", { class: `badge ${cls}`, "data-testid": testid, text });
}

function setBadge(el, value, label) {
  if (!el) return;
  const v = value || "unknown";
  el.className = `badge b-${v.replace(/[^a-z_]/gi, "")}`;
  el.dataset.value = v;
  setText(el, label || v.replace(/_/g, " "));
}

const placementHelp = {
  complete: "runs where it is assigned",
  pending: "the previous controller still runs it",
  in_progress: "waiting for the new controller to take it",
  conflict: "two controllers report it",
  forced: "moved with force: check that the previous controller no longer drives it",
};

/* ---------------------------------------------------------------- API ------------------ */

class ApiError extends Error {
  constructor(message, status, field, code) {
    super(message);
    this.status = status;
    this.field = field || null;
    this.code = code || null;
  }
}

async function api(method, path, body) {
  const init = { method, cache: "no-store", headers: { Accept: "application/json" } };
  if (body instanceof Blob) {
    init.headers["Content-Type"] = body.type;
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    throw new ApiError(`the central API cannot be reached (${e.message})`, 0);
  }
  const text = await r.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = null; }
  }
  if (r.status === 401 && path !== "/api/login") needLogin();
  if (!r.ok) {
    let detail = data && data.detail;
    if (detail && typeof detail !== "string") detail = JSON.stringify(detail);
    if (!detail) detail = `HTTP ${r.status} ${r.statusText || ""}`.trim();
    throw new ApiError(detail, r.status, data && data.field, data && data.error);
  }
  return data;
}

/* ---------------------------------------------------------------- messages ------------- */

/* Errors stay until the operator dismisses them (or the same one is replaced). */
function showError(context, err) {
  const box = $("#errors");
  const text = `${context}: ${err && err.message ? err.message : String(err)}`;
  for (const old of box.children) if (old.dataset.text === text) old.remove();
  const item = h("div", { class: "error", role: "alert", "data-testid": "error-message",
                          dataset: { text } },
    h("span", { text }),
    h("button", { type: "button", class: "close", "aria-label": "Dismiss", title: "Dismiss",
                  onclick: () => item.remove() }, "×"));
  box.append(item);
  while (box.children.length > 4) box.firstElementChild.remove();
}

let noticeTimer = 0;
function showNotice(text) {
  const n = $("#notice");
  n.textContent = text;
  n.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { n.hidden = true; }, 5000);
}


/* ---------------------------------------------------------------- live stream ---------- */

let source = null;
let buffer = null; // events received while a snapshot is loading, else null
let retryDelay = 1000;
let retryTimer = 0;
let generation = 0;

function setConn(s, text) {
  const el = $("#conn");
  el.dataset.state = s;
  setText(el, text);
  truth.stream = s === "live";
  showTruth();
}

/* What the banners say: whether the central answers (its event stream, and /health every few
 * seconds) and whether it reaches the broker. A lost stream is forgiven for a moment (a
 * reconnection after a restart takes about a second). */
const truth = { stream: false, central: true, broker: true, lostSince: 0 };
const HEALTH_EVERY_MS = 4000, LOST_AFTER_MS = 2500;
function showTruth() {
  const up = truth.stream && truth.central;
  if (up) truth.lostSince = 0;
  else if (!truth.lostSince) truth.lostSince = Date.now();
  const lost = !up && state.loaded && Date.now() - truth.lostSince >= LOST_AFTER_MS;
  $("#banner-central").hidden = !lost;
  document.body.classList.toggle("stale", lost);
  $("#banner-broker").hidden = lost || truth.broker;
}
async function checkHealth() {
  try {
    const r = await fetch("/health", { cache: "no-store" });
    const doc = await r.json();
    truth.central = true;
    truth.broker = doc.mqtt_connected !== false;
  } catch (_) {
    truth.central = false;
  }
  showTruth();
}
setInterval(checkHealth, HEALTH_EVERY_MS);
setInterval(showTruth, 1000);
checkHealth();

function connect() {
  clearTimeout(retryTimer);
  if (source) source.close();
  const gen = ++generation;
  setConn("connecting", "connecting…");
  const es = new EventSource("/api/events");
  source = es;
  buffer = [];
  for (const type of ["controller", "train", "status", "layout"]) {
    es.addEventListener(type, (ev) => {
      if (gen !== generation) return;
      let data;
      try { data = JSON.parse(ev.data); } catch (_) { return; }
      if (buffer) buffer.push([type, data]);
      else { applyEvent(type, data); scheduleRender(); }
    });
  }
  es.onopen = () => {
    if (gen !== generation) return;
    if (!buffer) buffer = [];
    loadSnapshot(gen);
  };
  es.onerror = () => {
    if (gen !== generation) return;
    buffer = [];
    if (es.readyState === EventSource.CLOSED) {
      // A 401 closes the stream too: with accounts on, ask whether the login ended.
      if (auth.on) recheckLogin();
      // The browser gave up (e.g. a 503 answer): retry ourselves, with backoff and jitter.
      setConn("down", "disconnected – retrying");
      reconnectLater();
    } else {
      setConn("connecting", "reconnecting…");
    }
  };
}

function reconnectLater() {
  if (source) source.close();
  source = null;
  clearTimeout(retryTimer);
  const delay = retryDelay / 2 + Math.random() * (retryDelay / 2);
  retryDelay = Math.min(retryDelay * 2, 30000);
  retryTimer = setTimeout(connect, delay);
}

/* Rows per page of the snapshot: a first page of 100 shows at once (about 60 kB and a few
 * ms of the central's time); the rest come 1000 at a time (the most the API gives), so that
 * ten thousand controllers are a dozen requests rather than a hundred. */
const SNAPSHOT_FIRST_PAGE = 100, SNAPSHOT_PAGE = 1000;

/* A GET that a busy central refused with 429/503 too_busy (it runs few list requests at
 * once per client) is tried again after its Retry-After, a few times. */
async function apiPatient(path) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await api("GET", path);
    } catch (e) {
      if (attempt >= 5 || e.code !== "too_busy") throw e;
      await new Promise((r) => setTimeout(r, 1000 + Math.random() * 500));
    }
  }
}

/* Every row of a paged list into map, page after page; onPage() after each. Bounded: a
 * central that kept answering cursors would otherwise be followed forever. */
async function loadPaged(path, map, onPage, stillWanted) {
  let cursor = null;
  for (let pages = 0; pages < 100000; pages++) {
    const q = `?limit=${pages ? SNAPSHOT_PAGE : SNAPSHOT_FIRST_PAGE}` +
      (cursor ? `&cursor=${encodeURIComponent(cursor)}` : "");
    const doc = await apiPatient(path + q);
    if (!stillWanted()) return false;
    if (!doc || !Array.isArray(doc.items)) throw new ApiError(`unexpected answer from ${path}`, 0);
    for (const row of doc.items) map.set(row.id, row);
    onPage();
    cursor = doc.next_cursor;
    if (!cursor) return true;
  }
  return true;
}

let snapshotSeq = 0;
async function loadSnapshot(gen) {
  const seq = ++snapshotSeq; // only the newest load in flight counts
  const wanted = () => gen === generation && seq === snapshotSeq;
  // The first load fills the shown state as pages arrive; a reload (after a reconnection)
  // builds aside and swaps at the end, so that the lists do not shrink and grow again.
  const first = !state.loaded;
  const controllers = first ? state.controllers : new Map();
  const trains = first ? state.trains : new Map();
  if (first) {
    controllers.clear();
    trains.clear();
    state.loading = { controllers: 0, trains: 0 };
  }
  const progress = () => {
    if (!first) return;
    state.loading = { controllers: controllers.size, trains: trains.size };
    state.controllersVersion++;
    scheduleRender();
  };
  try {
    const layoutP = api("GET", "/api/layout");
    layoutP.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
    // One list after the other: the central runs only two list requests per client at once.
    if (!await loadPaged("/api/controllers", controllers, progress, wanted)) return;
    if (!await loadPaged("/api/trains", trains, progress, wanted)) return;
    const layout = await layoutP;
    if (!wanted()) return;
    retryDelay = 1000;
    state.controllers = controllers;
    state.trains = trains;
    state.controllersVersion++;
    state.loading = null;
    state.layout = layout || { stopped: false, estop: null };
    state.loaded = true;
    const pending = buffer || [];
    buffer = null;
    for (const [type, data] of pending) applyEvent(type, data);
    setConn("live", "live");
    for (const old of document.querySelectorAll('[data-source="load"]')) old.remove();
    scheduleRender(true);
  } catch (e) {
    if (gen !== generation || seq !== snapshotSeq) return;
    showError("Could not load the layout", e);
    const last = $("#errors").lastElementChild;
    if (last) last.dataset.source = "load";
    setConn("down", "disconnected – retrying");
    reconnectLater();
  }
}

function applyEvent(type, data) {
  if (!data || typeof data !== "object") return;
  if (type === "controller") {
    if (data.deleted) state.controllers.delete(data.id);
    else if (data.id) state.controllers.set(data.id, data);
    state.controllersVersion++;
  } else if (type === "train") {
    if (data.id) trainEvents.set(data.id, trainEventCount(data.id) + 1);
    if (data.deleted) state.trains.delete(data.id);
    else if (data.id) {
      // A train event carries the status of the moment; a newer one may already be here.
      const old = state.trains.get(data.id);
      if (old && old.status && (!data.status || newer(old.status, data.status))) {
        data.status = old.status;
      }
      state.trains.set(data.id, data);
    }
  } else if (type === "status") {
    const t = state.trains.get(data.train_id);
    if (t) t.status = data;
  } else if (type === "layout") {
    state.layout = data;
  }
}

/* Is status a newer than status b? By the reporter's timestamp (ms), else the time the
 * central stored it (s). */
function newer(a, b) {
  for (const k of ["timestamp", "updated_at"]) {
    const ta = parseTime(a[k]), tb = parseTime(b[k]);
    if (ta && tb) return ta.getTime() > tb.getTime();
  }
  return false;
}

/* Train events seen per train: a REST answer must not overwrite what the stream delivered
 * meanwhile (a handover can complete before the PUT's answer arrives). */
const trainEvents = new Map();

function trainEventCount(id) {
  return trainEvents.get(id) || 0;
}

/* Applies a REST answer for a train unless an event for it arrived after `seenBefore`. */
function mergeTrain(view, seenBefore) {
  if (view && view.id && (seenBefore === undefined || trainEventCount(view.id) === seenBefore)) {
    applyEvent("train", view);
  }
  scheduleRender();
}

/* ---------------------------------------------------------------- rendering ------------ */

let page = null; // {update()} of the current page
let renderQueued = false;

function scheduleRender(now) {
  if (now) { render(); return; }
  if (renderQueued) return;
  renderQueued = true;
  const run = () => { if (renderQueued) { renderQueued = false; render(); } };
  requestAnimationFrame(run);
  setTimeout(run, 250); // rAF does not run in hidden tabs
}

/* The layout's stopped state, on every page: why, since when, who confirmed the stop, and
 * Resume. While stopped, the throttles only offer stops. */
function showLayout() {
  const L = state.layout || {};
  const box = $("#banner-layout");
  box.hidden = !L.stopped;
  document.body.classList.toggle("layout-stopped", !!L.stopped);
  if (!L.stopped) return;
  const e = L.estop;
  let conf = "";
  if (e && e.expected > 0) {
    const n = e.confirmed.length;
    conf = e.settled
      ? ` ${n} of ${e.expected} controllers confirmed` +
        (e.unconfirmed.length ? `; not confirmed: ${e.unconfirmed.map((c) => c.name).join(", ")}` : "") + "."
      : ` Waiting for the controllers to confirm (${n} of ${e.expected} so far)…`;
  }
  setText($("#layout-text"), `LAYOUT STOPPED${L.reason ? ` (${L.reason})` : ""}${L.since ? ` since ${fmtTime(L.since)}` : ""}.${conf}`);
  if (e && !e.settled && !showLayout.timer) {
    // The window ends without an event when someone does not answer: look again then.
    showLayout.timer = setTimeout(async () => {
      showLayout.timer = 0;
      try { state.layout = await api("GET", "/api/layout"); } catch (_) { /* the banner says so */ }
      scheduleRender();
    }, 2200);
  }
}

function render() {
  showLayout();
  renderQueued = false;
  if (!page) return;
  page.update();
  lockControls();
  const view = $("#view");
  if (state.loaded) view.dataset.ready = "1";
}

function route() {
  const parts = location.hash.replace(/^#/, "").split("/").filter(Boolean).map((p) => {
    try { return decodeURIComponent(p); } catch (_) { return p; }
  });
  let next;
  if (parts.length === 0) next = dashboardPage();
  else if (parts[0] === "trains" && parts.length === 2) next = trainPage(parts[1]);
  else if (parts[0] === "controllers" && parts.length === 1) next = controllersPage();
  else if (parts[0] === "controllers" && parts.length === 2) next = controllerPage(parts[1]);
  else next = notFoundPage();
  if (page && page.destroy) page.destroy();
  const view = $("#view");
  view.replaceChildren(next.el);
  view.dataset.page = next.name;
  view.dataset.ready = state.loaded ? "1" : "0";
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", a.dataset.nav === next.nav);
  }
  page = next;
  document.title = `${next.title || "Roundhouse"} · Roundhouse`;
  page.update();
  window.scrollTo(0, 0);
}

function trainHref(id) { return `#/trains/${encodeURIComponent(id)}`; }
function controllerHref(id) { return `#/controllers/${encodeURIComponent(id)}`; }

/* Keyed list update: rows are reused by key so their inputs keep what the operator typed. */
function syncList(container, items, key, create, update) {
  const existing = new Map();
  for (const el of container.children) if (el.dataset.key !== undefined) existing.set(el.dataset.key, el);
  let prev = null;
  for (const item of items) {
    const k = String(key(item));
    let el = existing.get(k);
    if (el) existing.delete(k);
    else { el = create(item); el.dataset.key = k; }
    update(el, item);
    const want = prev ? prev.nextSibling : container.firstChild;
    if (el !== want) container.insertBefore(el, want);
    prev = el;
  }
  for (const el of existing.values()) el.remove();
}

function field(el, name) { return el.querySelector(`[data-field="${name}"]`); }

/* Options of a controller <select>: "(unassigned)" then every controller with its presence. */
function syncControllerOptions(select, keepValue) {
  const want = [["", "— unassigned —"]].concat(
    [...state.controllers.values()].sort(byName).map((c) => [c.id, `${c.name} (${c.status})`]));
  const sig = JSON.stringify(want);
  if (select.dataset.sig === sig) return;
  const value = keepValue !== undefined ? keepValue : select.value;
  select.replaceChildren(...want.map(([v, label]) => h("option", { value: v, text: label })));
  select.dataset.sig = sig;
  select.value = value;
  if (select.value !== value) select.value = "";
}

async function assignTrain(trainId, controllerId, button) {
  const t = state.trains.get(trainId);
  const label = t ? t.name : trainId;
  if (button) button.disabled = true;
  try {
    const seen = trainEventCount(trainId);
    const view = await api("PUT", `/api/trains/${encodeURIComponent(trainId)}`,
                           { controller_id: controllerId || null });
    mergeTrain(view, seen);
    showNotice(controllerId ? `${label}: moving to ${controllerName(controllerId)}`
                            : `${label}: unassigned`);
    return true;
  } catch (e) {
    showError(`Could not move ${label}`, e);
    return false;
  } finally {
    if (button) button.disabled = false;
  }
}

/* A destructive button asks once more in place, never in a dialog: the first tap arms it
 * (for 4 s), the second acts. */
function twoStep(btn, armedText, action) {
  const idle = btn.textContent;
  let timer = 0;
  btn.addEventListener("click", async () => {
    if (!btn.dataset.armed) {
      btn.dataset.armed = "1";
      setText(btn, armedText);
      timer = setTimeout(() => { delete btn.dataset.armed; setText(btn, idle); }, 4000);
      return;
    }
    clearTimeout(timer);
    delete btn.dataset.armed;
    setText(btn, idle);
    btn.disabled = true;
    try { await action(); } finally { btn.disabled = false; }
  });
}

/* ---------------------------------------------------------------- throttle ------------- */

/* A train's throttle, on the train page and (compact) on each dashboard card. The slider
 * drives: dragging sends the speed as it goes, at most every SEND_EVERY_MS, and the last
 * value is always sent when the pointer lets go (arrow keys and Page Up/Down change it the
 * same way). The slider shows the operator's set point while held and for a moment after a
 * send; otherwise it follows the train's target speed, whoever set it. */
const SEND_EVERY_MS = 250;
const STALE_REPORT_MS = 12000;
const FOLLOW_AFTER_MS = 2500;

function throttle(id, compact) {
  const sid = compact ? `speed-${id}` : "speed-slider";
  const slider = h("input", { type: "range", min: 0, max: 100, step: 1, value: 0, id: sid,
                              "data-testid": "speed-slider", "aria-label": "Speed" });
  const value = h("output", { for: sid, "data-testid": "speed-value", text: "0" });
  const dirBtn = h("button", { type: "button", class: "dir-toggle", "data-testid": "dir-toggle",
                               "aria-label": "Direction" });
  const stopBtn = h("button", { type: "button", "data-testid": "stop" }, "Stop");
  const startBtn = h("button", { type: "button", "data-testid": "start" }, "Start");
  const estopBtn = h("button", { type: "button", class: "danger", "data-testid": "estop-train",
                                 title: "Cut the motor's power at once" }, compact ? "E-stop" : "Emergency stop");
  const result = h("p", { class: "muted small cmd-result", "data-testid": "command-result" });
  const el = h("div", { class: compact ? "throttle compact" : "throttle", "data-testid": "throttle" },
    h("label", { class: "slider-label", for: sid }, "Speed ", value, " %"),
    slider,
    h("div", { class: "row" }, dirBtn, stopBtn, compact ? null : startBtn, estopBtn),
    result);

  let held = false, heldUntil = 0, lastSent = null, lastSendAt = 0, timer = 0, dir = "FORWARD";

  function train() { return state.trains.get(id); }
  function label() { const t = train(); return t ? t.name : id; }

  async function command(body, what) {
    try {
      const r = await api("POST", `/api/trains/${encodeURIComponent(id)}/command`, body);
      if (r && r.delivered === false) {
        result.classList.add("warn");
        setText(result, `${what}: not delivered. ${r.message}`);
      } else {
        result.classList.remove("warn");
        setText(result, `${what}: sent ${new Date().toLocaleTimeString()}`);
      }
      return true;
    } catch (e) {
      showError(`${what} failed for ${label()}`, e);
      result.classList.add("warn");
      setText(result, `${what}: failed (${e.message})`);
      return false;
    }
  }

  function sendSpeed() {
    clearTimeout(timer);
    timer = 0;
    const speed = Number(slider.value);
    if (speed === lastSent) return;
    lastSent = speed;
    lastSendAt = Date.now();
    heldUntil = Date.now() + FOLLOW_AFTER_MS;
    command({ action: "setSpeed", speed }, `Speed ${speed} %`);
  }
  function speedChanged(final) {
    setText(value, slider.value);
    heldUntil = Date.now() + FOLLOW_AFTER_MS;
    const wait = SEND_EVERY_MS - (Date.now() - lastSendAt);
    if (final || wait <= 0) sendSpeed();
    else if (!timer) timer = setTimeout(sendSpeed, wait);
  }
  slider.addEventListener("pointerdown", () => { held = true; lastSent = null; });
  // Letting go always sends: someone else may have changed the speed meanwhile.
  const letGo = () => { if (held) { held = false; lastSent = null; speedChanged(true); } };
  window.addEventListener("pointerup", letGo);
  window.addEventListener("pointercancel", letGo);
  slider.addEventListener("input", () => { if (!held) lastSent = null; speedChanged(false); });
  slider.addEventListener("change", () => speedChanged(true));

  dirBtn.addEventListener("click", async () => {
    const want = dir === "FORWARD" ? "REVERSE" : "FORWARD";
    if (await command({ action: "setDirection", direction: want },
                      want === "FORWARD" ? "Forward" : "Reverse")) {
      dir = want;
      paintDir();
    }
  });
  stopBtn.addEventListener("click", async () => {
    slider.value = 0; setText(value, "0"); lastSent = 0; heldUntil = Date.now() + FOLLOW_AFTER_MS;
    await command({ action: "stop" }, "Stop");
  });
  startBtn.addEventListener("click", () => command({ action: "start" }, "Start"));
  // One tap: an emergency stop must never wait for a dialog.
  estopBtn.addEventListener("click", async () => {
    slider.value = 0; setText(value, "0"); lastSent = 0; heldUntil = Date.now() + FOLLOW_AFTER_MS;
    await command({ action: "emergencyStop" }, "Emergency stop");
  });

  function paintDir() {
    const fwd = dir === "FORWARD";
    setText(dirBtn, fwd ? "Forward ▶" : "◀ Reverse");
    dirBtn.dataset.value = dir;
    dirBtn.setAttribute("aria-pressed", fwd ? "false" : "true");
  }
  paintDir();

  function update(t) {
    const s = t && t.status;
    const stopped = !!(state.layout && state.layout.stopped);
    slider.disabled = startBtn.disabled = stopped;
    slider.title = stopped ? "The layout is stopped: Resume first" : "";
    if (s && s.direction && Date.now() > heldUntil) dir = dirValue(s.direction);
    paintDir();
    if (!held && Date.now() > heldUntil) {
      const target = s ? (Number.isInteger(s.target_speed) ? s.target_speed : s.speed) : 0;
      const v = Number.isInteger(target) ? target : 0;
      if (Number(slider.value) !== v) { slider.value = v; setText(value, String(v)); }
    }
  }
  function destroy() {
    clearTimeout(timer);
    window.removeEventListener("pointerup", letGo);
    window.removeEventListener("pointercancel", letGo);
  }
  return { el, update, destroy };
}

/* ---------------------------------------------------------------- dashboard ------------ */

function dashboardPage() {
  const counts = {};
  const countBox = h("div", { class: "counts" },
    ["online", "stale", "offline", "unknown"].map((p) => {
      counts[p] = h("strong", { "data-testid": `count-${p}`, text: "0" });
      return h("a", { class: `count c-${p}`, href: "#/controllers" }, counts[p], ` ${p}`);
    }));
  const trainCount = h("span", { "data-testid": "count-trains" });
  const grid = h("div", { class: "cards", "data-testid": "train-list" });
  const empty = h("p", { class: "muted", "data-testid": "no-trains", hidden: true },
    "No trains yet. Trains appear when a controller registers one (TRAIN_ID) or one is added through the API.");
  const el = h("section", null,
    h("h1", null, "Dashboard"),
    h("h2", { class: "sub" }, "Controllers"), countBox,
    h("h2", { class: "sub" }, "Trains ", trainCount), grid, empty);

  const throttles = new Map();
  function createCard(t) {
    const th = throttle(t.id, true);
    throttles.set(t.id, th);
    return h("div", { class: "card train-card", "data-testid": "train-card",
                      dataset: { trainId: t.id } },
      h("img", { class: "card-photo", alt: "", "data-field": "photo", loading: "lazy",
                 hidden: true }),
      h("div", { class: "card-head" },
        h("a", { class: "name", href: trainHref(t.id), "data-field": "name" }),
        h("span", { class: "badge", "data-field": "state" })),
      h("p", { class: "muted small card-desc", "data-field": "description" }),
      h("div", { class: "meta muted small" },
        h("span", { "data-field": "address" }), " ",
        h("span", { class: "mono", "data-field": "id" }), " ",
        h("span", { "data-field": "model" }), " ",
        h("span", { "data-field": "plugin" })),
      h("div", { class: "speedline" },
        h("span", { class: "big", "data-field": "speed" }),
        h("span", { class: "unit" }, "%"),
        h("span", { class: "dir", "data-field": "direction" })),
      h("div", { class: "bar" }, h("span", { "data-field": "bar" })),
      h("p", { class: "warn small", "data-field": "age", hidden: true }),
      h("div", { class: "meta" },
        h("span", { "data-field": "controller" }), " ",
        h("span", { class: "badge", "data-field": "presence" })),
      h("div", { class: "meta" }, "Placement ",
        h("span", { class: "badge", "data-field": "placement" })),
      th.el);
  }

  function updateCard(el, t) {
    const s = t.status;
    showPhoto(field(el, "photo"), t.photo_url);
    setText(field(el, "name"), t.name);
    setText(field(el, "id"), t.id);
    setText(field(el, "address"), Number.isInteger(t.address) ? `#${t.address}` : "");
    const d = field(el, "description");
    setText(d, t.description || "");
    d.hidden = !t.description;
    setText(field(el, "model"), t.model || "");
    const plugin = t.plugin || {};
    const port = plugin.config && plugin.config.motor_port;
    setText(field(el, "plugin"), `${plugin.name || dash}${port ? ` M${port}` : ""}`);
    setBadge(field(el, "state"), liveState(t));
    const th = throttles.get(t.id);
    if (th) th.update(t);
    // A moving train reports at least every 5 s: a report much older than that is history.
    const at = s && parseTime(s.timestamp || s.updated_at);
    const ageMs = at ? Date.now() - at.getTime() : 0;
    const old = !!s && s.speed > 0 && ageMs > STALE_REPORT_MS;
    const ageEl = field(el, "age");
    ageEl.hidden = !old;
    if (old) setText(ageEl, `Last report ${Math.round(ageMs / 1000)} s ago: this may be out of date`);
    setText(field(el, "speed"), s && Number.isInteger(s.speed) ? s.speed : dash);
    setText(field(el, "direction"), s ? dirLabel(s.direction) : dash);
    field(el, "bar").style.width = `${s && Number.isInteger(s.speed) ? s.speed : 0}%`;
    const cid = t.desired_controller_id;
    setText(field(el, "controller"), cid ? controllerName(cid) : "not assigned");
    const pb = field(el, "presence");
    pb.hidden = !cid;
    if (cid) setBadge(pb, presenceOf(cid));
    setBadge(field(el, "placement"), t.reassignment_status || "complete");
  }

  return {
    name: "dashboard", nav: "dashboard", title: "Dashboard", el,
    destroy() { for (const th of throttles.values()) th.destroy(); },
    update() {
      const n = { online: 0, stale: 0, offline: 0, unknown: 0 };
      for (const c of state.controllers.values()) n[c.status in n ? c.status : "unknown"]++;
      for (const k of Object.keys(n)) setText(counts[k], n[k]);
      const trains = [...state.trains.values()].sort(byName);
      setText(trainCount, `(${trains.length})`);
      syncList(grid, trains, (t) => t.id, createCard, updateCard);
      for (const [tid, th] of throttles) {
        if (!state.trains.has(tid)) { th.destroy(); throttles.delete(tid); }
      }
      empty.hidden = !state.loaded || trains.length > 0;
    },
  };
}

/* ---------------------------------------------------------------- train page ----------- */

/* An <img> showing a train's photo, or hidden when it has none. */
function showPhoto(img, url) {
  img.hidden = !url;
  if (url && img.getAttribute("src") !== url) img.setAttribute("src", url);
  else if (!url) img.removeAttribute("src");
}

/* The central keeps photos of at most 512 KiB. A larger picture (a phone camera's is several
 * MB) is scaled down here, in the browser, and sent as a JPEG; a small PNG or JPEG goes as it
 * is. The central checks the type again from the bytes. */
const PHOTO_MAX_BYTES = 512 * 1024;
async function photoBlob(file) {
  if ((file.type === "image/png" || file.type === "image/jpeg") && file.size <= PHOTO_MAX_BYTES) {
    return file;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (_) {
    throw new Error("the file is not a picture this browser can read (use PNG or JPEG)");
  }
  for (const [edge, quality] of [[1280, 0.85], [960, 0.8], [640, 0.75]]) {
    const scale = Math.min(1, edge / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((ok) => canvas.toBlob(ok, "image/jpeg", quality));
    if (blob && blob.size <= PHOTO_MAX_BYTES) return blob;
  }
  throw new Error("the picture is too large even when scaled down");
}

function trainPage(id) {
  const title = h("h1", { "data-testid": "train-name" });
  const desc = h("p", { class: "muted", "data-testid": "train-description" });
  const missing = h("p", { class: "error-inline", hidden: true, "data-testid": "train-missing" },
    `No train with id ${id}.`);

  // Telemetry.
  const tele = {
    speed: h("span", { class: "big", "data-testid": "telemetry-speed" }),
    target: h("span", { "data-testid": "telemetry-target" }),
    direction: h("span", { "data-testid": "telemetry-direction" }),
    state: h("span", { class: "badge", "data-testid": "telemetry-state" }),
    controller: h("span", { "data-testid": "telemetry-controller" }),
    updated: timeEl("telemetry-updated"),
    bar: h("span"),
  };
  const teleCard = h("section", { class: "panel", "data-testid": "telemetry" },
    h("h2", null, "Live telemetry"),
    h("div", { class: "speedline" }, tele.speed, h("span", { class: "unit" }, "%"), " ", tele.state),
    h("div", { class: "bar" }, tele.bar),
    h("dl", { class: "facts" },
      h("dt", null, "Direction"), h("dd", null, tele.direction),
      h("dt", null, "Target speed"), h("dd", null, tele.target),
      h("dt", null, "Reported by"), h("dd", null, tele.controller),
      h("dt", null, "Last report"), h("dd", null, tele.updated)));

  // Throttle.
  const th = throttle(id, false);
  const offlineNote = h("p", { class: "warn", "data-testid": "throttle-offline", hidden: true });
  const throttleCard = h("section", { class: "panel", "data-testid": "throttle-panel" },
    h("h2", null, "Throttle"), th.el, offlineNote);

  // Placement.
  const plc = {
    desired: h("span", { "data-testid": "placement-desired" }),
    actual: h("span", { "data-testid": "placement-actual" }),
    status: h("span", { class: "badge", "data-testid": "placement-status" }),
    help: h("span", { class: "muted small", "data-testid": "placement-help" }),
    select: h("select", { "data-testid": "assign-select", id: "assign-select",
                          "aria-label": "Controller" }),
    button: h("button", { type: "button", "data-testid": "assign-button" }, "Move"),
  };
  const placeCard = h("section", { class: "panel", "data-testid": "placement" },
    h("h2", null, "Placement"),
    h("dl", { class: "facts" },
      h("dt", null, "Assigned to"), h("dd", null, plc.desired),
      h("dt", null, "Running on"), h("dd", null, plc.actual),
      h("dt", null, "Status"), h("dd", null, plc.status, " ", plc.help)),
    h("label", { for: "assign-select" }, "Move to"),
    h("div", { class: "row" }, plc.select, plc.button));

  // Configuration form.
  const cfg = {
    name: h("input", { type: "text", id: "cfg-name", "data-testid": "cfg-name", autocomplete: "off",
                       placeholder: "e.g. Express", "aria-describedby": "cfg-name-error" }),
    nameCount: h("span", { class: "count-chars", "data-testid": "cfg-name-count" }),
    nameErr: h("span", { class: "field-error", id: "cfg-name-error", "data-testid": "cfg-name-error" }),
    desc: h("textarea", { id: "cfg-description", rows: 3, "data-testid": "cfg-description",
                          "aria-describedby": "cfg-description-error" }),
    descCount: h("span", { class: "count-chars", "data-testid": "cfg-description-count" }),
    descErr: h("span", { class: "field-error", id: "cfg-description-error",
                         "data-testid": "cfg-description-error" }),
    clear: h("button", { type: "button", "data-testid": "cfg-clear-description" }, "Clear description"),
    invert: h("input", { type: "checkbox", id: "cfg-invert", "data-testid": "cfg-invert" }),
    address: h("input", { type: "number", id: "cfg-address", min: 1, max: 9999, step: 1,
                          "data-testid": "cfg-address", inputmode: "numeric" }),
    accel: h("input", { type: "number", id: "cfg-accel", min: 0, max: 600, step: 0.1,
                        "data-testid": "cfg-accel", placeholder: "default" }),
    brake: h("input", { type: "number", id: "cfg-brake", min: 0, max: 600, step: 0.1,
                        "data-testid": "cfg-brake", placeholder: "default" }),
    minSpeed: h("input", { type: "number", id: "cfg-min-speed", min: 0, max: 99, step: 1,
                           "data-testid": "cfg-min-speed", placeholder: "0" }),
    maxSpeed: h("input", { type: "number", id: "cfg-max-speed", min: 1, max: 100, step: 1,
                           "data-testid": "cfg-max-speed", placeholder: "100" }),
    resume: h("input", { type: "checkbox", id: "cfg-resume", "data-testid": "cfg-resume" }),
    save: h("button", { type: "submit", class: "primary", "data-testid": "cfg-save" }, "Save"),
    reset: h("button", { type: "button", "data-testid": "cfg-reset" }, "Undo changes"),
    result: h("span", { class: "muted small", "data-testid": "cfg-result" }),
    del: h("button", { type: "button", class: "danger", "data-testid": "train-delete" }, "Delete train"),
  };
  twoStep(cfg.del, "Tap again: stop and delete it", async () => {
    try {
      await api("DELETE", `/api/trains/${encodeURIComponent(id)}`);
      state.trains.delete(id);
      showNotice("Train stopped and deleted.");
      location.hash = "#/";
    } catch (e) { showError("Could not delete the train", e); }
  });
  const form = h("form", { class: "panel", "data-testid": "config-form", novalidate: true },
    h("h2", null, "Configuration"),
    h("label", { for: "cfg-name" }, "Name ", cfg.nameCount), cfg.name, cfg.nameErr,
    h("label", { for: "cfg-description" }, "Description ", cfg.descCount), cfg.desc, cfg.descErr,
    h("div", { class: "row" }, cfg.clear),
    h("label", { for: "cfg-address" }, "Address (the number a WiThrottle or DCC handheld selects, 1-9999)"),
    cfg.address,
    h("fieldset", { class: "driving" }, h("legend", null, "Driving"),
      h("label", { for: "cfg-accel" }, "Acceleration: seconds from 0 to 100 % (empty: 3 s for any change)"), cfg.accel,
      h("label", { for: "cfg-brake" }, "Braking: seconds from 100 % to 0"), cfg.brake,
      h("label", { for: "cfg-min-speed" }, "Starting speed: motor output at speed 1 (%)"), cfg.minSpeed,
      h("label", { for: "cfg-max-speed" }, "Top speed: motor output at speed 100 (%)"), cfg.maxSpeed,
      h("label", { class: "check" }, cfg.resume, " Start resumes the last speed (instead of 50 %)")),
    h("label", { class: "check" }, cfg.invert,
      " Invert directions (the motor is mounted the other way round)"),
    h("div", { class: "row" }, cfg.save, cfg.reset, cfg.result),
    h("div", { class: "row" }, cfg.del));

  // Photo.
  const ph = {
    img: h("img", { class: "train-photo", "data-testid": "train-photo", hidden: true }),
    none: h("p", { class: "muted small", "data-testid": "train-photo-none" }, "No photo yet."),
    file: h("input", { type: "file", id: "photo-file", accept: "image/png,image/jpeg,image/*",
                       "data-testid": "photo-file" }),
    remove: h("button", { type: "button", "data-testid": "photo-remove" }, "Remove photo"),
    result: h("span", { class: "muted small", "data-testid": "photo-result", "aria-live": "polite" }),
  };
  const photoCard = h("section", { class: "panel", "data-testid": "photo-panel" },
    h("h2", null, "Photo"), ph.img, ph.none,
    h("label", { for: "photo-file" }, "Choose a picture (PNG or JPEG; a large one is scaled down)"),
    ph.file, h("div", { class: "row" }, ph.remove, ph.result));
  ph.file.addEventListener("change", async () => {
    const file = ph.file.files && ph.file.files[0];
    if (!file) return;
    setText(ph.result, "Uploading…");
    try {
      const blob = await photoBlob(file);
      const seen = trainEventCount(id);
      mergeTrain(await api("PUT", `/api/trains/${encodeURIComponent(id)}/photo`, blob), seen);
      setText(ph.result, `Photo saved (${Math.ceil(blob.size / 1024)} KiB).`);
      update();
    } catch (e) {
      setText(ph.result, `Not saved: ${e.message}`);
      showError("Could not save the photo", e);
    } finally {
      ph.file.value = "";
    }
  });
  ph.remove.addEventListener("click", async () => {
    try {
      await api("DELETE", `/api/trains/${encodeURIComponent(id)}/photo`);
      const t = state.trains.get(id);
      if (t) t.photo_url = null;
      setText(ph.result, "Photo removed.");
      update();
    } catch (e) { showError("Could not remove the photo", e); }
  });

  const el = h("section", null,
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Dashboard"), " / train"),
    title, desc, missing,
    h("div", { class: "grid" }, teleCard, throttleCard, placeCard, form, photoCard));

  plc.select.addEventListener("change", () => { plc.select.dataset.dirty = "1"; });
  plc.button.addEventListener("click", async () => {
    const target = plc.select.value || null;
    if (await assignTrain(id, target, plc.button)) delete plc.select.dataset.dirty;
  });

  /* Configuration form: filled from the train until the operator edits it. */
  let formDirty = false;
  function validate() {
    const name = cfg.name.value.trim(), d = cfg.desc.value.trim();
    const nl = charCount(name), dl = charCount(d);
    setText(cfg.nameCount, `${nl}/100`);
    setText(cfg.descCount, `${dl}/500`);
    let ok = true;
    if (nl === 0) { setText(cfg.nameErr, "A name is required."); ok = false; }
    else if (nl > 100) { setText(cfg.nameErr, `The name is ${nl} characters long; at most 100 are allowed.`); ok = false; }
    else setText(cfg.nameErr, "");
    if (dl > 500) { setText(cfg.descErr, `The description is ${dl} characters long; at most 500 are allowed.`); ok = false; }
    else setText(cfg.descErr, "");
    cfg.name.setAttribute("aria-invalid", cfg.nameErr.textContent ? "true" : "false");
    cfg.desc.setAttribute("aria-invalid", cfg.descErr.textContent ? "true" : "false");
    return ok;
  }
  function fillForm(t) {
    cfg.name.value = t.name || "";
    cfg.desc.value = t.description || "";
    cfg.invert.checked = !!t.invert_directions;
    cfg.address.value = Number.isInteger(t.address) ? String(t.address) : "";
    const d = t.driving || {};
    const num = (v) => (typeof v === "number" ? String(v) : "");
    cfg.accel.value = num(d.acceleration_s);
    cfg.brake.value = num(d.braking_s);
    cfg.minSpeed.value = num(d.min_speed);
    cfg.maxSpeed.value = num(d.max_speed);
    cfg.resume.checked = !!d.start_resumes;
    validate();
  }
  /* The driving settings as the form has them, keys in a fixed order, empty fields left out. */
  function formDriving() {
    const d = {};
    if (cfg.accel.value !== "") d.acceleration_s = Number(cfg.accel.value);
    if (cfg.brake.value !== "") d.braking_s = Number(cfg.brake.value);
    if (cfg.minSpeed.value !== "") d.min_speed = Number(cfg.minSpeed.value);
    if (cfg.maxSpeed.value !== "") d.max_speed = Number(cfg.maxSpeed.value);
    if (cfg.resume.checked) d.start_resumes = true;
    return d;
  }
  function normDriving(d) {
    const out = {};
    for (const k of ["acceleration_s", "braking_s", "min_speed", "max_speed"]) {
      if (d && typeof d[k] === "number") out[k] = d[k];
    }
    if (d && d.start_resumes) out.start_resumes = true;
    return out;
  }
  for (const inp of [cfg.name, cfg.desc, cfg.invert, cfg.address, cfg.accel, cfg.brake,
                     cfg.minSpeed, cfg.maxSpeed, cfg.resume]) {
    inp.addEventListener("input", () => { formDirty = true; setText(cfg.result, ""); validate(); });
  }
  cfg.clear.addEventListener("click", () => {
    cfg.desc.value = ""; formDirty = true; setText(cfg.result, ""); validate(); cfg.desc.focus();
  });
  cfg.reset.addEventListener("click", () => {
    const t = state.trains.get(id);
    formDirty = false; setText(cfg.result, "");
    if (t) fillForm(t);
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const t = state.trains.get(id);
    if (!t) return;
    if (!validate()) { setText(cfg.result, "Fix the marked fields first."); return; }
    const name = cfg.name.value.trim();
    const description = cfg.desc.value.trim() === "" ? null : cfg.desc.value.trim();
    const invert = cfg.invert.checked;
    const body = {};
    if (name !== t.name) body.name = name;
    if (description !== (t.description === undefined ? null : t.description)) body.description = description;
    if (invert !== !!t.invert_directions) body.invert_directions = invert;
    const address = cfg.address.value.trim() === "" ? null : Number(cfg.address.value);
    if (address !== null && address !== t.address) body.address = address;
    const driving = formDriving();
    if (JSON.stringify(driving) !== JSON.stringify(normDriving(t.driving))) body.driving = driving;
    if (Object.keys(body).length === 0) {
      formDirty = false; setText(cfg.result, "No changes to save."); return;
    }
    cfg.save.disabled = true;
    setText(cfg.result, "Saving…");
    try {
      const seen = trainEventCount(id);
      const view = await api("PUT", `/api/trains/${encodeURIComponent(id)}`, body);
      formDirty = false;
      mergeTrain(view, seen);
      fillForm(view);
      setText(cfg.result, `Saved at ${new Date().toLocaleTimeString()}.`);
    } catch (e) {
      setText(cfg.result, `Not saved: ${e.message}`);
      if (e.field === "name") setText(cfg.nameErr, e.message);
      else if (e.field === "description") setText(cfg.descErr, e.message);
      showError(`Could not save ${t.name}`, e);
    } finally {
      cfg.save.disabled = false;
    }
  });

  function sameForm(t) {
    return cfg.name.value === (t.name || "") && cfg.desc.value === (t.description || "") &&
      cfg.invert.checked === !!t.invert_directions &&
      cfg.address.value === (Number.isInteger(t.address) ? String(t.address) : "") &&
      JSON.stringify(formDriving()) === JSON.stringify(normDriving(t.driving));
  }

  function update() {
    const t = state.trains.get(id);
    missing.hidden = !state.loaded || !!t;
    for (const p of [teleCard, throttleCard, placeCard, form, photoCard]) p.hidden = !t;
    if (!t) { setText(title, state.loaded ? "Unknown train" : "Loading…"); setText(desc, ""); return; }
    setText(title, t.name);
    setText(desc, t.description || "");
    document.title = `${t.name} · Roundhouse`;
    const s = t.status;

    showPhoto(ph.img, t.photo_url);
    ph.img.setAttribute("alt", `Photo of ${t.name}`);
    ph.none.hidden = !!t.photo_url;
    ph.remove.hidden = !t.photo_url;

    // Telemetry.
    const live = liveState(t);
    setText(tele.speed, s && Number.isInteger(s.speed) ? s.speed : dash);
    tele.bar.style.width = `${s && Number.isInteger(s.speed) ? s.speed : 0}%`;
    setBadge(tele.state, live);
    setText(tele.direction, s ? dirLabel(s.direction) : dash);
    setText(tele.target, s && Number.isInteger(s.target_speed) ? `${s.target_speed} %` : dash);
    const rep = s && (s.controller_id || t.actual_controller_id);
    setText(tele.controller, rep ? `${controllerName(rep)} (${presenceOf(rep)})` : dash);
    setTime(tele.updated, s ? s.timestamp || s.updated_at : null);

    // Throttle.
    th.update(t);
    const runner = t.actual_controller_id || (s && s.controller_id);
    const rp = presenceOf(runner);
    offlineNote.hidden = !!runner && rp !== "offline" && rp !== "unknown";
    setText(offlineNote, !t.desired_controller_id && !runner
      ? "This train is not assigned to a controller: commands reach no motor."
      : "No live controller runs this train right now: commands may reach no motor.");

    // Placement.
    const dc = t.desired_controller_id, ac = t.actual_controller_id;
    setText(plc.desired, dc ? `${controllerName(dc)} (${presenceOf(dc)})` : "not assigned");
    setText(plc.actual, ac ? `${controllerName(ac)} (${presenceOf(ac)})` : "no controller");
    setBadge(plc.status, t.reassignment_status || "complete");
    setText(plc.help, t.reassignment_reason || placementHelp[t.reassignment_status] || "");
    const dirtySel = plc.select.dataset.dirty === "1";
    syncControllerOptions(plc.select, dirtySel ? undefined : dc || "");
    if (!dirtySel && plc.select.value !== (dc || "") && document.activeElement !== plc.select) {
      plc.select.value = dc || "";
    }

    // Someone else's edit shows at once, unless the operator has started editing.
    if (!formDirty && !sameForm(t)) fillForm(t);
  }

  return { name: "train", nav: "dashboard", title: "Train", el, update, destroy: th.destroy };
}

/* ---------------------------------------------------------------- controllers ---------- */

/* Rows the controller list adds at a time. */
const LIST_STEP = 100;

/* "pi-2" before "pi-10": names compared with their numbers as numbers. */
const natural = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
function byNaturalName(a, b) {
  return natural.compare(a.name || "", b.name || "") || String(a.id).localeCompare(String(b.id));
}

/* What is wrong with a controller, in words; [] when nothing is. */
function controllerProblems(c) {
  const out = [];
  if (c.config_error) out.push(c.config_error);
  const errs = (c.metadata && Array.isArray(c.metadata.errors)) ? c.metadata.errors : [];
  for (const e of errs) if (e !== c.config_error) out.push(e);
  if (c.metadata && c.metadata.returned_after_delete) {
    out.push(`deleted, but came back (${fmtTime(c.metadata.returned_after_delete)}): its edge still runs`);
  }
  if (c.enabled === false) out.push("disabled");
  if (c.status === "offline" || c.status === "stale") out.push(c.status);
  return out;
}

function controllersPage() {
  const search = h("input", { type: "search", placeholder: "Search name, address, id",
                              "data-testid": "controller-search", "aria-label": "Search controllers" });
  const filter = h("select", { "data-testid": "controller-filter", "aria-label": "Presence" },
    [["", "All"], ["online", "Online"], ["stale", "Stale"], ["offline", "Offline"], ["unknown", "Unknown"]]
      .map(([v, l]) => h("option", { value: v, text: l })));
  const problems = h("input", { type: "checkbox", "data-testid": "controller-problems" });
  const count = h("span", { class: "muted small", "data-testid": "controller-count" });
  const rows = h("tbody", { "data-testid": "controller-list" });
  const empty = h("p", { class: "muted", "data-testid": "no-controllers", hidden: true },
    "No controllers yet. They appear here when they register with the central API.");
  const nomatch = h("p", { class: "muted", "data-testid": "no-matching-controllers", hidden: true },
    "No controller matches.");
  // A fleet of thousands is listed a hundred rows at a time (the DOM of ten thousand rows
  // made every update slow): "Show more" adds the next hundred, and keyboard focus moves to
  // the first row it added. Search and filters always look at the whole fleet.
  let shown = LIST_STEP;
  const moreBtn = h("button", { type: "button", class: "more", "data-testid": "controller-more" });
  const more = h("div", { class: "row more-row", hidden: true }, moreBtn);
  const loading = h("p", { class: "muted small", "data-testid": "controller-loading", role: "status",
                           hidden: true });
  const table = h("div", { class: "table-wrap" },
    h("table", { class: "fleet" },
      h("thead", null, h("tr", null,
        ["Name", "Presence", "Address", "Software", "Last seen", "First seen", "Config (desired/applied)", "Trains", "Problems"]
          .map((x) => h("th", null, x)))),
      rows));
  const pruneAge = h("select", { "data-testid": "prune-age", "aria-label": "Offline for at least" },
    [["3600", "1 hour"], ["86400", "1 day"], ["604800", "1 week"], ["2592000", "30 days"]]
      .map(([v, l]) => h("option", { value: v, text: l })));
  const pruneBtn = h("button", { type: "button", "data-testid": "prune" }, "Remove offline controllers");
  twoStep(pruneBtn, "Tap again to remove them", async () => {
    try {
      const r = await api("POST", "/api/controllers/prune", { offline_for: Number(pruneAge.value) });
      showNotice(r.deleted ? `Removed ${r.deleted} controller(s): ${r.controllers.map((x) => x.name).join(", ")}`
                           : "No controller has been offline that long.");
    } catch (e) { showError("Could not remove the offline controllers", e); }
  });
  const el = h("section", null, h("h1", null, "Controllers"),
    h("div", { class: "row toolbar" }, search, filter,
      h("label", { class: "check" }, problems, " Problems only"), count),
    table, more, loading, empty, nomatch,
    h("div", { class: "row" }, h("span", { class: "muted small" }, "Offline for at least"), pruneAge, pruneBtn));
  for (const c of [search, filter, problems]) {
    c.addEventListener("input", () => { shown = LIST_STEP; scheduleRender(true); });
  }
  moreBtn.addEventListener("click", () => {
    const before = rows.children.length;
    shown += LIST_STEP;
    scheduleRender(true);
    const next = rows.children[before];
    const link = next && field(next, "name");
    if (link) link.focus();
  });

  function create(c) {
    const tr = h("tr", { "data-testid": "controller-row", dataset: { controllerId: c.id } },
      h("td", { "data-label": "Name", class: "nowrap" }, h("a", { href: controllerHref(c.id), "data-field": "name" })),
      h("td", { "data-label": "Presence" }, h("span", { class: "badge", "data-field": "presence" })),
      h("td", { "data-label": "Address", "data-field": "address" }),
      h("td", { "data-label": "Software", "data-field": "version" }),
      h("td", { "data-label": "Last seen" }, h("time", { "data-field": "last-seen", "data-rel": "" })),
      h("td", { "data-label": "First seen" }, h("time", { "data-field": "first-seen" })),
      h("td", { "data-label": "Config", "data-field": "config" }),
      h("td", { "data-label": "Trains", "data-field": "trains" }),
      h("td", { "data-label": "Problems" }, h("span", { class: "badge", "data-field": "problems" })));
    // The whole row leads to the controller, as the name does.
    tr.addEventListener("click", (ev) => {
      if (!ev.target.closest("a, button, select, input")) location.hash = controllerHref(c.id);
    });
    return tr;
  }
  function update1(el, c) {
    setText(field(el, "name"), c.name);
    setBadge(field(el, "presence"), c.status);
    setText(field(el, "address"), c.address || dash);
    setText(field(el, "version"), [c.version, c.platform, c.python_version && `Python ${c.python_version}`]
      .filter(Boolean).join(" · ") || dash);
    const ls = field(el, "last-seen");
    ls.dataset.live = c.status === "online" ? "1" : "0";
    setTime(ls, c.last_seen);
    setTime(field(el, "first-seen"), c.first_seen);
    const cfgCell = field(el, "config");
    setText(cfgCell, `${c.config_version ?? dash}/${c.applied_config_version ?? dash}` +
                     (c.config_version === c.applied_config_version ? " ✓" : ""));
    cfgCell.title = configText(c);
    const names = (trainsOf.get(c.id) || []).sort(byNaturalName).map((t) => t.name);
    setText(field(el, "trains"), names.length ? names.join(", ") : "waiting for assignment");
    const pb = field(el, "problems");
    const probs = controllerProblems(c).filter((p) => p !== c.status);
    pb.title = probs.join("\n");
    if (c.config_error) setBadge(pb, "offline", "config refused");
    else if (c.metadata && c.metadata.returned_after_delete) setBadge(pb, "offline", "came back after delete");
    else if (c.enabled === false) setBadge(pb, "stale", "disabled");
    else if (probs.length) setBadge(pb, "stale", "errors reported");
    else setBadge(pb, "complete", "none");
  }
  function matches(c) {
    const q = search.value.trim().toLowerCase();
    if (q && ![c.name, c.address, c.id, c.description].some((v) => v && String(v).toLowerCase().includes(q))) return false;
    if (filter.value && c.status !== filter.value) return false;
    if (problems.checked && controllerProblems(c).length === 0) return false;
    return true;
  }
  // The trains of each controller, gathered once per update rather than once per row.
  let trainsOf = new Map();
  // The fleet sorted by name, kept while no controller changes (sorting ten thousand names
  // with the collator on every update was most of its time).
  let sorted = [], sortedVersion = -1;
  return {
    name: "controllers", nav: "controllers", title: "Controllers", el,
    update() {
      if (sortedVersion !== state.controllersVersion) {
        sorted = [...state.controllers.values()].sort(byNaturalName);
        sortedVersion = state.controllersVersion;
      }
      const all = sorted;
      const cs = all.filter(matches);
      const visible = cs.slice(0, shown);
      trainsOf = new Map();
      for (const t of state.trains.values()) {
        const k = t.desired_controller_id;
        if (k) { if (!trainsOf.has(k)) trainsOf.set(k, []); trainsOf.get(k).push(t); }
      }
      syncList(rows, visible, (c) => c.id, create, update1);
      const n = { online: 0, stale: 0, offline: 0, unknown: 0 };
      for (const c of all) n[c.status in n ? c.status : "unknown"]++;
      setText(count, `${visible.length} of ${all.length} shown · ${n.online} online, ${n.stale} stale, ` +
                     `${n.offline} offline, ${n.unknown} unknown` +
                     (cs.length > visible.length ? ` · ${cs.length} match` : ""));
      const rest = cs.length - visible.length;
      more.hidden = rest <= 0;
      setText(moreBtn, `Show ${Math.min(LIST_STEP, rest)} more (${rest} not shown yet)`);
      loading.hidden = !state.loading;
      if (state.loading) setText(loading, `Loading the fleet… ${state.loading.controllers} controllers so far`);
      empty.hidden = !state.loaded || all.length > 0;
      nomatch.hidden = all.length === 0 || cs.length > 0;
      table.hidden = cs.length === 0;
    },
  };
}

function configText(c) {
  const d = c.config_version, a = c.applied_config_version;
  const ds = d === null || d === undefined ? dash : d, as = a === null || a === undefined ? dash : a;
  return `desired ${ds} / applied ${as}${d === a ? " (in sync)" : ""}`;
}

function controllerPage(id) {
  const f = {};
  for (const k of ["address", "version", "platform", "hardware", "config-desired", "config-applied",
                   "epoch", "id"]) {
    f[k] = h("span", { "data-testid": `controller-${k}` });
  }
  f.first = timeEl("controller-first-seen");
  f.last = timeEl("controller-last-seen");
  const title = h("h1", { "data-testid": "controller-name" });
  const presence = h("span", { class: "badge", "data-testid": "controller-presence" });
  const desc = h("p", { class: "muted", "data-testid": "controller-description" });
  const missing = h("p", { class: "error-inline", hidden: true, "data-testid": "controller-missing" },
    `No controller with id ${id}.`);
  const sync = h("span", { class: "muted small", "data-testid": "controller-config-sync" });
  const cfgError = h("p", { class: "problem-box", "data-testid": "controller-config-error", hidden: true });
  const errList = h("ul", { class: "errors-reported", "data-testid": "controller-errors" });
  const info = h("section", { class: "panel" },
    h("h2", null, "Controller"),
    h("dl", { class: "facts" },
      h("dt", null, "Presence"), h("dd", null, presence),
      h("dt", null, "ID"), h("dd", { class: "mono" }, f.id),
      h("dt", null, "Address"), h("dd", null, f.address),
      h("dt", null, "Software version"), h("dd", null, f.version),
      h("dt", null, "Platform"), h("dd", null, f.platform),
      h("dt", null, "Hardware"), h("dd", null, f.hardware),
      h("dt", null, "First seen"), h("dd", null, f.first),
      h("dt", null, "Last seen"), h("dd", null, f.last),
      h("dt", null, "Config version"), h("dd", null, "desired ", f["config-desired"], " · applied ",
                                              f["config-applied"], " ", sync),
      h("dt", null, "Session"), h("dd", null, f.epoch),
      h("dt", null, "Reported errors"), h("dd", null, errList)));

  const rows = h("tbody", { "data-testid": "assigned-trains" });
  const none = h("p", { class: "muted", "data-testid": "no-assigned-trains", hidden: true },
    "No train is assigned: the controller is waiting for an assignment.");
  const addSelect = h("select", { "data-testid": "assign-here-select", "aria-label": "Train" });
  const addBtn = h("button", { type: "button", "data-testid": "assign-here-button" }, "Assign here");
  const trainsPanel = h("section", { class: "panel wide" },
    h("h2", null, "Trains"),
    h("div", { class: "table-wrap", "data-field": "table" },
      h("table", null,
        h("thead", null, h("tr", null, ["Train", "Id", "Plugin", "Model", "Speed", "State", "Runs here?", "Placement", "Move to"]
          .map((x) => h("th", null, x)))),
        rows)),
    none,
    h("div", { class: "row" }, h("label", null, "Assign a train here "), addSelect, addBtn));

  // Manage: name, description, enabled, delete.
  const m = {
    name: h("input", { type: "text", "data-testid": "ctl-name", "aria-label": "Name", autocomplete: "off" }),
    desc: h("input", { type: "text", "data-testid": "ctl-description", "aria-label": "Description" }),
    enabled: h("input", { type: "checkbox", "data-testid": "ctl-enabled" }),
    save: h("button", { type: "button", class: "primary", "data-testid": "ctl-save" }, "Save"),
    del: h("button", { type: "button", class: "danger", "data-testid": "ctl-delete" }, "Delete controller"),
  };
  let manageDirty = false;
  for (const x of [m.name, m.desc, m.enabled]) x.addEventListener("input", () => { manageDirty = true; });
  const managePanel = h("section", { class: "panel", "data-testid": "controller-manage" },
    h("h2", null, "Manage"),
    h("label", null, "Name"), m.name,
    h("label", null, "Description"), m.desc,
    h("label", { class: "check" }, m.enabled,
      " Enabled (a disabled controller gets no trains, and its trains cannot be driven)"),
    h("div", { class: "row" }, m.save, m.del));
  m.save.addEventListener("click", async () => {
    const body = { name: m.name.value.trim(), description: m.desc.value.trim() || null,
                   enabled: m.enabled.checked };
    try {
      const view = await api("PATCH", `/api/controllers/${encodeURIComponent(id)}`, body);
      state.controllers.set(id, view);
      manageDirty = false;
      showNotice(`${view.name}: saved`);
      scheduleRender(true);
    } catch (e) { showError("Could not save the controller", e); }
  });
  twoStep(m.del, "Tap again: delete it (its trains stop)", async () => {
    try {
      await api("DELETE", `/api/controllers/${encodeURIComponent(id)}`);
      showNotice("Controller deleted; its trains were stopped and are unassigned.");
      location.hash = "#/controllers";
    } catch (e) { showError("Could not delete the controller", e); }
  });

  // Add a train here.
  const nt = {
    id: h("input", { type: "text", "data-testid": "new-train-id", "aria-label": "Train id",
                     placeholder: "e.g. br-101", autocomplete: "off" }),
    name: h("input", { type: "text", "data-testid": "new-train-name", "aria-label": "Train name",
                       placeholder: "e.g. Express" }),
    port: h("select", { "data-testid": "new-train-port", "aria-label": "Motor port" },
      [["1", "M1"], ["2", "M2"], ["3", "M3"], ["4", "M4"]].map(([v, l]) => h("option", { value: v, text: l }))),
    invert: h("input", { type: "checkbox", "data-testid": "new-train-invert" }),
    add: h("button", { type: "button", "data-testid": "new-train-add" }, "Add train"),
  };
  const addPanel = h("section", { class: "panel", "data-testid": "add-train" },
    h("h2", null, "Add a train"),
    h("label", null, "Train id"), nt.id, h("label", null, "Name"), nt.name,
    h("label", null, "Motor port (DC-motor HAT)"), nt.port,
    h("label", { class: "check" }, nt.invert, " Invert directions"),
    h("div", { class: "row" }, nt.add));
  nt.add.addEventListener("click", async () => {
    const body = { train_id: nt.id.value.trim(), name: nt.name.value.trim(),
                   invert_directions: nt.invert.checked,
                   plugin: { name: "dc_motor_hat", config: { motor_port: Number(nt.port.value) } } };
    try {
      const view = await api("POST", `/api/controllers/${encodeURIComponent(id)}/trains`, body);
      state.trains.set(view.id, view);
      showNotice(`${view.name}: added`);
      nt.id.value = nt.name.value = "";
      scheduleRender(true);
    } catch (e) { showError("Could not add the train", e); }
  });

  const el = h("section", null,
    h("p", { class: "crumbs" }, h("a", { href: "#/controllers" }, "Controllers"), " / controller"),
    title, desc, missing, cfgError, h("div", { class: "grid" }, info, trainsPanel, managePanel, addPanel));

  addBtn.addEventListener("click", async () => {
    if (!addSelect.value) { showError("Assign a train", new Error("choose a train first")); return; }
    if (await assignTrain(addSelect.value, id, addBtn)) addSelect.value = "";
  });

  function createRow(t) {
    const select = h("select", { "data-testid": "move-select", "aria-label": `Move ${t.name} to` });
    const btn = h("button", { type: "button", "data-testid": "move-button" }, "Move");
    select.addEventListener("change", () => { select.dataset.dirty = "1"; });
    btn.addEventListener("click", async () => {
      if (await assignTrain(t.id, select.value || null, btn)) delete select.dataset.dirty;
    });
    return h("tr", { "data-testid": "assigned-train", dataset: { trainId: t.id } },
      h("td", { "data-label": "Train" }, h("a", { href: trainHref(t.id), "data-field": "name" })),
      h("td", { "data-label": "Id", class: "mono", "data-field": "id" }),
      h("td", { "data-label": "Plugin", "data-field": "plugin" }),
      h("td", { "data-label": "Model", "data-field": "model" }),
      h("td", { "data-label": "Speed", "data-field": "speed" }),
      h("td", { "data-label": "State" }, h("span", { class: "badge", "data-field": "state" })),
      h("td", { "data-label": "Runs here?", "data-field": "running-here" }),
      h("td", { "data-label": "Placement" }, h("span", { class: "badge", "data-field": "placement" })),
      h("td", { "data-label": "Move to", class: "nowrap" }, select, " ", btn));
  }
  function updateRow(el, t) {
    const s = t.status;
    setText(field(el, "name"), t.name);
    setText(field(el, "speed"), s && Number.isInteger(s.speed) ? `${s.speed} % ${dirLabel(s.direction)}` : dash);
    setText(field(el, "id"), t.id);
    const pl = t.plugin || {};
    const port = pl.config && pl.config.motor_port;
    setText(field(el, "plugin"), `${pl.name || dash}${port ? ` M${port}` : ""}`);
    setText(field(el, "model"), t.model || dash);
    setBadge(field(el, "state"), liveState(t));
    const here = t.actual_controller_id === id;
    const cell = field(el, "running-here");
    cell.dataset.value = here ? "yes" : "no";
    let text;
    if (here && t.desired_controller_id !== id) {
      text = t.desired_controller_id ? `yes – leaving for ${controllerName(t.desired_controller_id)}`
                                     : "yes – being unassigned";
    } else if (here) text = "yes";
    else if (t.actual_controller_id) text = `no – still on ${controllerName(t.actual_controller_id)}`;
    else text = "no – not running yet";
    setText(cell, text);
    setBadge(field(el, "placement"), t.reassignment_status || "complete");
    const select = el.querySelector("select");
    const dirtySel = select.dataset.dirty === "1";
    syncControllerOptions(select, dirtySel ? undefined : t.desired_controller_id || "");
    if (!dirtySel && document.activeElement !== select) select.value = t.desired_controller_id || "";
  }

  function update() {
    const c = state.controllers.get(id);
    missing.hidden = !state.loaded || !!c;
    info.hidden = trainsPanel.hidden = managePanel.hidden = addPanel.hidden = !c;
    if (!c) { setText(title, state.loaded ? "Unknown controller" : "Loading…"); setText(desc, ""); return; }
    setText(title, c.name);
    document.title = `${c.name} · Roundhouse`;
    if (!manageDirty && document.activeElement !== m.name && document.activeElement !== m.desc) {
      m.name.value = c.name || "";
      m.desc.value = c.description || "";
      m.enabled.checked = c.enabled !== false;
    }
    setText(desc, c.description || "");
    setBadge(presence, c.status);
    setText(f.id, c.id);
    setText(f.address, c.address || dash);
    setText(f.version, c.version || dash);
    const plat = [c.platform, c.cpu_count ? `${c.cpu_count} CPU` : null,
                  c.memory_mb ? `${c.memory_mb} MB` : null].filter(Boolean).join(", ");
    setText(f.platform, plat || dash);
    setText(f.hardware, c.hardware_id || dash);
    setTime(f.first, c.first_seen);
    f.last.dataset.live = c.status === "online" ? "1" : "0";
    setTime(f.last, c.last_seen);
    setText(f["config-desired"], c.config_version ?? dash);
    setText(f["config-applied"], c.applied_config_version ?? dash);
    setText(sync, c.config_error ? "(refused: still running the applied one)"
      : c.config_version === c.applied_config_version ? "(in sync)" : "(not applied yet)");
    cfgError.hidden = !c.config_error;
    setText(cfgError, c.config_error
      ? `The controller refused its runtime config and still runs version ${c.applied_config_version ?? dash}: ${c.config_error}`
      : "");
    const errs = (c.metadata && Array.isArray(c.metadata.errors)) ? c.metadata.errors : [];
    const errSig = JSON.stringify(errs);
    if (errList.dataset.sig !== errSig) {
      errList.replaceChildren(...(errs.length ? errs.map((e) => h("li", { text: e }))
                                              : [h("li", { class: "muted", text: "none" })]));
      errList.dataset.sig = errSig;
    }
    setText(f.epoch, c.session_epoch ?? dash);

    const mine = [...state.trains.values()]
      .filter((t) => t.desired_controller_id === id || t.actual_controller_id === id).sort(byName);
    syncList(rows, mine, (t) => t.id, createRow, updateRow);
    none.hidden = mine.some((t) => t.desired_controller_id === id);
    field(trainsPanel, "table").hidden = mine.length === 0;

    const others = [...state.trains.values()].filter((t) => t.desired_controller_id !== id).sort(byName);
    const want = [["", "— choose a train —"]].concat(others.map((t) => [t.id,
      `${t.name} (${t.desired_controller_id ? `on ${controllerName(t.desired_controller_id)}` : "unassigned"})`]));
    const sig = JSON.stringify(want);
    if (addSelect.dataset.sig !== sig) {
      const v = addSelect.value;
      addSelect.replaceChildren(...want.map(([v2, l]) => h("option", { value: v2, text: l })));
      addSelect.dataset.sig = sig;
      addSelect.value = v;
      if (addSelect.value !== v) addSelect.value = "";
    }
  }
  return { name: "controller", nav: "controllers", title: "Controller", el, update };
}

function notFoundPage() {
  const el = h("section", null, h("h1", null, "Page not found"),
    h("p", null, "There is no page at this address. ", h("a", { href: "#/" }, "Go to the dashboard.")));
  return { name: "notfound", nav: "", title: "Not found", el, update() {} };
}

/* ---------------------------------------------------------------- global actions ------- */

/* Resume after a layout stop: driving is allowed again; no train starts by itself. */
$("#resume").addEventListener("click", async () => {
  const btn = $("#resume");
  btn.disabled = true;
  try {
    state.layout = await api("POST", "/api/layout/resume", {});
    showNotice("Layout resumed: trains may be driven again.");
    scheduleRender(true);
  } catch (e) {
    showError("Could not resume the layout", e);
  } finally {
    btn.disabled = false;
  }
});

/* The layout stop: one tap, never a dialog in the way. */
$("#estop-all").addEventListener("click", async () => {
  const btn = $("#estop-all");
  btn.disabled = true;
  try {
    const r = await api("POST", "/api/emergency-stop", {});
    const reached = r && Number.isInteger(r.trains)
      ? ` (${r.trains} train(s) on ${r.controllers} controller(s))` : "";
    showNotice(`Emergency stop sent to every train${reached} at ${new Date().toLocaleTimeString()}.`);
  } catch (e) {
    showError("EMERGENCY STOP FAILED", e);
  } finally {
    btn.disabled = false;
  }
});

/* "n s ago" texts: a local clock, no request; and the dashboard's report ages. */
setInterval(() => {
  if (page && page.name === "dashboard") scheduleRender();
  for (const el of document.querySelectorAll("time[data-rel]")) if (el.dataset.iso) refreshTime(el);
}, 1000);

window.addEventListener("hashchange", route);
window.addEventListener("error", (ev) => showError("The page hit a bug", ev.error || ev.message));
window.addEventListener("unhandledrejection", (ev) => showError("The page hit a bug", ev.reason));
/* ---------------------------------------------------------------- accounts ----------- */

/* Operator accounts (--auth, GET /api/me). Without them everything is allowed, as before. A
 * viewer (or, with --public-read, someone not logged in) sees everything but cannot drive:
 * every control of the page is disabled; the layout EMERGENCY STOP stays for any logged-in
 * user. The central checks every call anyway; this only spares pointless clicks. */
const auth = { on: false, publicRead: false, user: null, role: null, asked: false };

function canDrive() { return !auth.on || auth.role === "operator" || auth.role === "admin"; }

function lockControls() {
  if (canDrive()) return;
  for (const el of document.querySelectorAll("#view button, #view input, #view select, #view textarea")) {
    if (!el.disabled) {
      el.disabled = true;
      el.title = auth.user ? `${auth.user} is a viewer: driving needs an operator`
        : "Log in to drive";
    }
  }
}

function showAccount() {
  document.body.dataset.role = auth.on ? (auth.role || "none") : "";
  const who = $("#who");
  who.hidden = !auth.user;
  setText(who, auth.user ? `${auth.user} (${auth.role})` : "");
  $("#logout").hidden = !auth.user;
  $("#login-open").hidden = !auth.on || !!auth.user;
}

function showLogin() {
  if (source) source.close();
  source = null;
  clearTimeout(retryTimer);
  $("#view").hidden = true;
  $("#login").hidden = false;
  $("#login-user").focus();
}

/* A 401 from the central: the login is missing or over. */
function needLogin() {
  if (!auth.on && auth.asked) return; // without accounts a 401 cannot mean a login
  auth.on = true;
  auth.user = null;
  auth.role = null;
  showAccount();
  showLogin();
}

async function recheckLogin() {
  try {
    const me = await api("GET", "/api/me");
    if (me && me.auth && !me.username && !me.public_read) needLogin();
  } catch (_) { /* down: the banners say so */ }
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = $("#login-error");
  const btn = ev.submitter || $("#login-form button");
  btn.disabled = true;
  err.hidden = true;
  try {
    await api("POST", "/api/login", { username: $("#login-user").value, password: $("#login-password").value });
    $("#login-password").value = "";
    location.reload(); // everything again, with the session cookie
  } catch (e) {
    setText(err, e.status === 401 ? "Wrong user name or password." : e.message);
    err.hidden = false;
    btn.disabled = false;
  }
});

$("#login-open").addEventListener("click", showLogin);

$("#logout").addEventListener("click", async () => {
  try { await api("POST", "/api/logout", {}); } catch (e) { showError("Could not log out", e); return; }
  location.reload();
});

async function start() {
  try {
    const me = await api("GET", "/api/me");
    auth.on = !!(me && me.auth);
    auth.publicRead = !!(me && me.public_read);
    auth.user = (me && me.username) || null;
    auth.role = (me && me.role) || null;
  } catch (_) { /* an older central, or one that is down: as without accounts */ }
  auth.asked = true;
  showAccount();
  if (auth.on && !auth.user && !auth.publicRead) {
    showLogin();
    return;
  }
  route();
  connect();
}
start();
