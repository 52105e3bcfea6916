// tend's dashboard: the apps table (refreshed every few seconds and on every state event),
// start/stop/restart/reload buttons, CPU and memory sparklines, and a live log pane for the
// selected app. Talks only to this daemon's own API, with the session cookie the login
// link set. Everything that comes from the daemon is inserted as text, never as HTML.
"use strict";

const REFRESH_MS = 2000;
const HISTORY = 60;          // samples kept per instance for the sparklines
const MAX_LOG_LINES = 2000;  // lines kept in the log pane

const state = {
  rows: new Map(),      // "app/instance" -> <tr>
  history: new Map(),   // "app/instance" -> {cpu: [], mem: []}
  gateway: new Map(),   // app -> gateway figures (describe)
  selected: null,       // app whose logs are shown
  logSource: null,
  eventSource: null,
  refreshTimer: null,
  refreshSoon: null,
  loggedIn: true,
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

function toast(message, isError) {
  const t = el("div", { class: "toast" + (isError ? " error" : "") }, message);
  $("#toasts").append(t);
  setTimeout(() => t.remove(), isError ? 8000 : 3000);
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    throw new Error("the daemon does not answer (" + e.message + ")");
  }
  if (res.status === 401) showLogin(true);
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const why = data && data.error ? data.error : res.status + " " + res.statusText;
    const err = new Error(why);
    err.status = res.status;
    throw err;
  }
  return data;
}

function showLogin(show) {
  state.loggedIn = !show;
  $("#login").hidden = !show;
  $("#apps-section").hidden = show;
  $("#logs-section").hidden = show;
}

// ---- formatting ----------------------------------------------------------------------------

function humanBytes(n) {
  if (!n) return "0 B";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function humanDuration(ms) {
  if (!ms) return "-";
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + "s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + "m " + (s % 60) + "s";
  const h = Math.floor(m / 60);
  if (h < 24) return h + "h " + (m % 60) + "m";
  return Math.floor(h / 24) + "d " + (h % 24) + "h";
}

function sparkline(values) {
  const w = 60, h = 16;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("aria-hidden", "true");
  if (values.length > 1) {
    const max = Math.max(...values, 1e-9);
    const step = w / (HISTORY - 1);
    const offset = w - step * (values.length - 1);
    const points = values.map((v, i) =>
      `${(offset + i * step).toFixed(1)},${(h - 1 - (v / max) * (h - 2)).toFixed(1)}`);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points.join(" "));
    svg.append(line);
  }
  return svg;
}

// ---- the apps table ------------------------------------------------------------------------

function onDemandState(inst) {
  if (!inst.on_demand) return "-";
  if (inst.status === "online") return "active";
  if (inst.status === "starting") return "waking";
  if (inst.status === "stopped") return "idle";
  return inst.status;
}

function cell(label, content, cls) {
  const td = el("td", { "data-label": label });
  if (cls) td.className = cls;
  if (content instanceof Node) td.append(content); else td.textContent = content;
  return td;
}

function actionButton(app, action) {
  const b = el("button", { type: "button", class: "small", "data-action": action }, action);
  b.addEventListener("click", async (ev) => {
    ev.stopPropagation();
    b.disabled = true;
    try {
      await api("POST", `/api/apps/${encodeURIComponent(app)}/${action}`);
      toast(`${app}: ${action} done`);
    } catch (e) {
      toast(`${app}: ${action} failed: ${e.message}`, true);
    } finally {
      b.disabled = false;
      refresh();
    }
  });
  return b;
}

function renderRow(inst) {
  const key = inst.name + "/" + inst.instance;
  const hist = state.history.get(key) || { cpu: [], mem: [] };
  const label = inst.instance > 0 || hist.multi ? `${inst.name} [${inst.instance}]` : inst.name;
  const status = el("span", { class: "status status-" + inst.status }, inst.status);
  if (inst.reason) status.title = inst.reason;
  const cpu = el("span", {}, inst.pid ? inst.cpu.toFixed(1) + "%" : "-");
  const mem = el("span", {}, inst.pid ? humanBytes(inst.memory) : "-");
  const gw = state.gateway.get(inst.name);
  const conns = inst.on_demand && gw ? String((gw.in_flight || 0) + (gw.open_streams || 0)) : "-";
  const tr = el("tr", { "data-app": inst.name, "data-instance": String(inst.instance) },
    cell("app", label, "name"),
    cell("status", status, "status-cell"),
    cell("pid", inst.pid ? String(inst.pid) : "-", "num pid"),
    cell("cpu", el("span", {}, cpu, sparkline(hist.cpu)), "num cpu"),
    cell("memory", el("span", {}, mem, sparkline(hist.mem)), "num mem"),
    cell("restarts", String(inst.restarts), "num restarts"),
    cell("uptime", humanDuration(inst.uptime_ms), "num uptime"),
    cell("port", inst.port ? String(inst.port) : "-", "num port"),
    cell("on demand", onDemandState(inst), "ondemand"),
    cell("connections", conns, "num conns"));
  const actions = el("td", { class: "actions" });
  if (inst.instance === 0) {
    for (const a of ["start", "stop", "restart", "reload"]) actions.append(actionButton(inst.name, a));
  }
  tr.append(actions);
  if (state.selected === inst.name) tr.classList.add("selected");
  tr.addEventListener("click", () => selectApp(inst.name));
  return tr;
}

function renderTable(list) {
  const body = $("#apps tbody");
  const names = new Set();
  for (const inst of list) {
    const key = inst.name + "/" + inst.instance;
    names.add(inst.name);
    const hist = state.history.get(key) || { cpu: [], mem: [] };
    hist.cpu.push(inst.pid ? inst.cpu : 0);
    hist.mem.push(inst.pid ? inst.memory : 0);
    if (hist.cpu.length > HISTORY) { hist.cpu.shift(); hist.mem.shift(); }
    state.history.set(key, hist);
  }
  const multi = new Set(list.filter((i) => i.instance > 0).map((i) => i.name));
  const rows = [];
  for (const inst of list) {
    const h = state.history.get(inst.name + "/" + inst.instance);
    h.multi = multi.has(inst.name);
    rows.push(renderRow(inst));
  }
  body.replaceChildren(...rows);
  $("#empty").hidden = list.length > 0;
  for (const key of [...state.history.keys()])
    if (!names.has(key.split("/")[0])) state.history.delete(key);
  if (state.selected && !names.has(state.selected)) selectApp(null);
  if (!state.selected && list.length > 0) selectApp(list[0].name);
}

async function refresh() {
  clearTimeout(state.refreshTimer);
  try {
    const list = await api("GET", "/api/apps");
    showLogin(false);
    // Gateway figures (open connections) for the on-demand apps.
    const onDemand = [...new Set(list.filter((i) => i.on_demand).map((i) => i.name))];
    await Promise.all(onDemand.map(async (name) => {
      try {
        const d = await api("GET", `/api/apps/${encodeURIComponent(name)}`);
        if (d && d[0] && d[0].gateway) state.gateway.set(name, d[0].gateway);
      } catch (e) { /* shown by the next refresh */ }
    }));
    renderTable(list);
    if (!state.eventSource) connectEvents();
  } catch (e) {
    if (e.status !== 401) toast("refresh failed: " + e.message, true);
  }
  state.refreshTimer = setTimeout(refresh, REFRESH_MS);
}

function refreshSoon() {
  clearTimeout(state.refreshSoon);
  state.refreshSoon = setTimeout(refresh, 150);
}

async function loadDaemon() {
  try {
    const d = await api("GET", "/api/ping");
    $("#daemon").textContent = `daemon pid ${d.pid} · ${d.home} · v${d.version}`;
  } catch (e) { /* the table says it */ }
}

// ---- events --------------------------------------------------------------------------------

function connectEvents() {
  const es = new EventSource("/api/events?types=state,restart,activation,idle_stop,refused");
  state.eventSource = es;
  const live = $("#live");
  es.onopen = () => { live.textContent = "live"; live.className = "pill on"; };
  es.onerror = () => { live.textContent = "reconnecting"; live.className = "pill off"; };
  es.addEventListener("state", (ev) => {
    const e = JSON.parse(ev.data);
    const tr = document.querySelector(`tr[data-app="${CSS.escape(e.app)}"][data-instance="${e.instance}"]`);
    if (tr) {
      const s = tr.querySelector(".status");
      s.textContent = e.status;
      s.className = "status status-" + e.status;
      tr.querySelector(".pid").textContent = e.pid ? String(e.pid) : "-";
    }
    refreshSoon();
  });
  for (const type of ["restart", "activation", "idle_stop", "refused"]) {
    es.addEventListener(type, (ev) => {
      const e = JSON.parse(ev.data);
      const words = { restart: "restarted", activation: "woken by a request",
                      idle_stop: "stopped after its idle timeout", refused: "refused a connection" };
      appendMeta(e.app, `${words[type]}${e.reason ? ": " + e.reason : ""}`);
      refreshSoon();
    });
  }
}

// ---- logs ----------------------------------------------------------------------------------

function appendLogLine(e) {
  const pre = $("#log");
  const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 30;
  // Live lines carry the time they arrived; lines read back from the files carry their own
  // stamp (when the app's logs have timestamps).
  const stamp = e.time ? new Date(e.time).toISOString() + " " : "";
  const line = el("div", { class: e.stream === "err" ? "err" : "" },
                  `[${e.instance}] ${stamp}${e.line}`);
  pre.append(line);
  while (pre.childElementCount > MAX_LOG_LINES) pre.firstElementChild.remove();
  if (atBottom && $("#log-follow").checked) pre.scrollTop = pre.scrollHeight;
}

function appendMeta(app, text) {
  if (app !== state.selected) return;
  const pre = $("#log");
  pre.append(el("div", { class: "meta" }, `-- ${app} ${text}`));
  if ($("#log-follow").checked) pre.scrollTop = pre.scrollHeight;
}

function selectApp(name) {
  if (state.selected === name && state.logSource) return;
  state.selected = name;
  for (const tr of document.querySelectorAll("#apps tbody tr"))
    tr.classList.toggle("selected", tr.dataset.app === name);
  if (state.logSource) { state.logSource.close(); state.logSource = null; }
  $("#log").replaceChildren();
  $("#log-app").textContent = name ? name : "(select an app)";
  if (!name) return;
  // The last lines, then every new one, as one event stream.
  const es = new EventSource(`/api/apps/${encodeURIComponent(name)}/logs?lines=200&follow=1`);
  state.logSource = es;
  let first = true;
  es.addEventListener("log", (ev) => appendLogLine(JSON.parse(ev.data)));
  es.onopen = () => {
    // A reconnected stream sends its backlog again: start over rather than repeat lines.
    $("#log").replaceChildren();
    if (!first) appendMeta(name, "log stream reconnected");
    first = false;
  };
}

document.addEventListener("DOMContentLoaded", () => {
  $("#log-clear").addEventListener("click", () => $("#log").replaceChildren());
  loadDaemon();
  refresh();
});
