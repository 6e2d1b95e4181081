"use strict";
function cell(row, text) { const td = document.createElement("td"); td.textContent = text; row.appendChild(td); return td; }
function when(iso) { return iso ? new Date(iso).toLocaleString() : "never"; }
async function getJson(path) {
  const r = await fetch(path);
  const body = await r.json();
  if (!r.ok) throw new Error(body.detail || r.statusText);
  return body;
}
async function load() {
  document.getElementById("error").textContent = "";
  try {
    const [controllers, trains] = await Promise.all([getJson("/api/controllers"), getJson("/api/trains")]);
    const names = {};
    const ct = document.getElementById("controllers"); ct.replaceChildren();
    for (const c of controllers) {
      names[c.id] = c.name;
      const tr = document.createElement("tr");
      cell(tr, c.name);
      const badge = document.createElement("span"); badge.className = "badge " + c.status; badge.textContent = c.status;
      cell(tr, "").appendChild(badge);
      cell(tr, c.address || "–"); cell(tr, when(c.last_seen));
      cell(tr, c.config_version + " / " + (c.applied_config_version === null ? "–" : c.applied_config_version));
      cell(tr, c.trains.map(t => t.name).join(", ") || "waiting for assignment");
      ct.appendChild(tr);
    }
    const tt = document.getElementById("trains"); tt.replaceChildren();
    for (const t of trains) {
      const tr = document.createElement("tr");
      cell(tr, t.id); cell(tr, t.name);
      cell(tr, t.controller_id ? (names[t.controller_id] || t.controller_id) : "unassigned");
      cell(tr, t.reassignment_status || "–");
      cell(tr, t.status ? t.status.speed : "–"); cell(tr, t.status && t.status.direction ? t.status.direction : "–");
      tt.appendChild(tr);
    }
  } catch (e) {
    document.getElementById("error").textContent = "Could not load the registry: " + e.message;
  }
}
document.getElementById("reload").addEventListener("click", load);
load();
