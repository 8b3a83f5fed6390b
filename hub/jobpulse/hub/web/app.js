// The jobpulse live page: the hub's public GET API, kept live by server-sent events (every job's
// changes on one connection, a job's own stream in its view) and the node WebSocket. Every value
// from the API is put on the page as text (textContent, attributes), never parsed as HTML.
"use strict";

const API = "/api/v1";
const ACTIVE = new Set(["running", "stalled", "pending"]);
const jobs = new Map();
const nodes = new Map();
let listStream = null;
let jobStream = null;
let nodeSocket = null;
let openJob = null;
let chartDrawnAt = 0;
// The chart is redrawn from the series endpoint at most this often while its job runs.
const CHART_EVERY_MS = 5000;

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

// --- formatting -------------------------------------------------------------------------------

function bytes(n) {
  if (n === null || n === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = Number(n), i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : String(v)) + " " + units[i];
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  let s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return h ? `${h}h${m}m${s}s` : m ? `${m}m${s}s` : `${s}s`;
}

function ageOf(iso) {
  return iso ? (Date.now() - Date.parse(iso)) / 1000 : null;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "-";
}

function marks(job) {
  const out = [];
  if (job.status === "stalled") out.push(["stalled", "stalled"]);
  if (job.status === "failed") out.push(["failed", "failed"]);
  if (job.late) out.push(["late", "late"]);
  if (job.slow) out.push(["slow", "slow"]);
  if (job.conflicting_sender) out.push(["conflict", "second sender"]);
  return out;
}

function markList(job) {
  const span = el("span");
  for (const [cls, text] of marks(job)) span.append(el("span", text, `mark ${cls}`));
  return span;
}

function progressBar(percent) {
  const bar = el("progress");
  bar.max = 100;
  bar.value = Number(percent) || 0;
  bar.title = `${Number(percent || 0).toFixed(1)} %`;
  return bar;
}

function jobHref(id) {
  return "#/job/" + encodeURIComponent(id);
}

// --- talking to the hub -----------------------------------------------------------------------

async function get(path) {
  const r = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (r.status === 401) {
    needLogin();
    throw new Error("login needed");
  }
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

function needLogin() {
  $("login").hidden = false;
  $("live").textContent = "login needed";
}

async function logIn(event) {
  event.preventDefault();
  const r = await fetch(`${API}/session`, {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: $("token").value }),
  });
  $("token").value = "";
  if (!r.ok) {
    $("login-error").textContent = r.status === 429 ? "Too many attempts: wait a minute." : "Wrong token.";
    return;
  }
  $("login").hidden = true;
  $("login-error").textContent = "";
  start();
}

// --- the job list -----------------------------------------------------------------------------

function merge(job) {
  const known = jobs.get(job.id);
  if (!known || known.updated_at <= job.updated_at) jobs.set(job.id, job);
}

function ordered() {
  const rank = (j) => (ACTIVE.has(j.status) ? 0 : 1);
  return [...jobs.values()].sort((a, b) => rank(a) - rank(b) || (a.created_at < b.created_at ? 1 : -1));
}

function fillFilter(select, values) {
  const current = select.value;
  const wanted = ["", ...[...values].sort()];
  if ([...select.options].map((o) => o.value).join("\n") === wanted.join("\n")) return;
  select.replaceChildren(...wanted.map((v) => {
    const o = el("option", v || "any");
    o.value = v;
    return o;
  }));
  select.value = wanted.includes(current) ? current : "";
}

function renderList() {
  const all = ordered();
  fillFilter($("f-status"), new Set(all.map((j) => j.status)));
  fillFilter($("f-type"), new Set(all.map((j) => j.job_type)));
  fillFilter($("f-machine"), new Set(all.map((j) => j.machine)));
  const want = { status: $("f-status").value, job_type: $("f-type").value, machine: $("f-machine").value };
  const rows = all.filter((j) => Object.entries(want).every(([k, v]) => !v || j[k] === v)).map(jobRow);
  $("jobs").tBodies[0].replaceChildren(...rows);
  $("empty").hidden = rows.length > 0;
}

function jobRow(job) {
  const tr = el("tr", null, job.status);
  tr.dataset.jobId = job.id;
  const link = el("a", job.id);
  link.href = jobHref(job.id);
  const id = el("td", null, "id");
  id.append(link, el("div", `${job.job_type} on ${job.machine}`, "muted"));
  const progress = el("td");
  progress.append(progressBar(job.progress_percent), el("span", ` ${Number(job.progress_percent).toFixed(1)} %`));
  const cells = [
    id,
    el("td", job.status, "status"),
    el("td", job.current_phase),
    progress,
    el("td", `${bytes(job.bytes_transferred)} of ${bytes(job.total_bytes)}`),
    el("td", ACTIVE.has(job.status) ? `${bytes(job.transfer_speed_bps)}/s` : "-"),
    el("td", ACTIVE.has(job.status) ? duration(job.eta_seconds) : "-"),
    el("td", job.last_telemetry_at ? `${duration(ageOf(job.last_telemetry_at))} ago` : "never", "age"),
  ];
  const m = el("td", null, "marks");
  m.append(markList(job));
  cells.push(m);
  tr.append(...cells);
  return tr;
}

function updateAges() {
  for (const tr of $("jobs").tBodies[0].rows) {
    const job = jobs.get(tr.dataset.jobId);
    if (job && job.last_telemetry_at) tr.querySelector(".age").textContent = `${duration(ageOf(job.last_telemetry_at))} ago`;
  }
  for (const tr of $("nodes").tBodies[0].rows) {
    const node = nodes.get(tr.dataset.nodeId);
    if (node) tr.querySelector(".age").textContent = `${duration(ageOf(node.last_seen_at))} ago`;
  }
}

async function loadList() {
  const page = await get(`${API}/jobs?limit=500`);
  for (const job of page.data) merge(job);
  renderList();
}

function followList() {
  if (listStream) listStream.close();
  listStream = new EventSource(`${API}/stream/jobs`);
  listStream.onopen = () => {
    $("live").textContent = "live";
    $("live").className = "live on";
    // Changes made while the stream was down (a hub restart) are read once, then followed.
    loadList().catch(() => {});
  };
  listStream.addEventListener("jobs", (event) => {
    for (const job of JSON.parse(event.data)) {
      merge(job);
      if (openJob === job.id) renderJob(jobs.get(job.id));
    }
    renderList();
  });
  listStream.addEventListener("dropped", () => {
    listStream.close();
    setTimeout(followList, 2000);
  });
  listStream.onerror = () => {
    $("live").textContent = "reconnecting";
    $("live").className = "live";
    if (listStream.readyState === EventSource.CLOSED) setTimeout(followList, 2000);
  };
}

// --- the pipeline banner ------------------------------------------------------------------------

async function checkPipeline() {
  try {
    const p = await get(`${API}/pipeline`);
    $("banner").hidden = p.fresh;
    $("banner").textContent = p.fresh ? "" : `Telemetry is not fresh: ${p.reason}. Figures may be behind.`;
  } catch (err) {
    $("banner").hidden = false;
    $("banner").textContent = "The hub cannot be reached: figures may be behind.";
  }
}

// --- nodes ----------------------------------------------------------------------------------------

function renderNodes() {
  const rows = [...nodes.values()].sort((a, b) => (a.node_id < b.node_id ? -1 : 1)).map((n) => {
    const tr = el("tr");
    tr.dataset.nodeId = n.node_id;
    const pct = (v) => (v === null || v === undefined ? "-" : `${Number(v).toFixed(1)} %`);
    tr.append(el("td", n.node_id), el("td", pct(n.cpu_percent)), el("td", pct(n.memory_percent)),
      el("td", pct(n.disk_percent)), el("td", n.load_avg_1m ?? "-"),
      el("td", `${duration(ageOf(n.last_seen_at))} ago`, "age"));
    return tr;
  });
  $("nodes").tBodies[0].replaceChildren(...rows);
}

async function loadNodes() {
  const page = await get(`${API}/nodes`);
  for (const n of page.data) nodes.set(n.node_id, n);
  renderNodes();
}

function followNodes() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  nodeSocket = new WebSocket(`${scheme}//${location.host}${API}/nodes/stream`);
  nodeSocket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "node") {
      nodes.set(message.data.node_id, message.data);
      renderNodes();
    }
  };
  nodeSocket.onclose = () => setTimeout(followNodes, 3000);
}

// --- one job --------------------------------------------------------------------------------------

function fact(dl, name, value) {
  dl.append(el("dt", name), el("dd", value));
}

function renderJob(job) {
  $("job-title").replaceChildren(el("span", job.id), el("span", ` (${job.status})`, "status"), markList(job));
  const dl = $("job-facts");
  dl.replaceChildren();
  fact(dl, "type / machine", `${job.job_type} on ${job.machine}`);
  fact(dl, "phase", job.current_phase);
  fact(dl, "progress", `${Number(job.progress_percent).toFixed(2)} %: ${bytes(job.bytes_transferred)} of ${bytes(job.total_bytes)}`);
  fact(dl, "speed", `${bytes(job.transfer_speed_bps)}/s (average ${bytes(job.average_speed_bps)}/s)`);
  fact(dl, "ETA", duration(job.eta_seconds));
  fact(dl, "deadline", when(job.deadline));
  fact(dl, "predicted end", job.predicted_completion_at
    ? `${when(job.predicted_completion_at)} (latest ${when(job.predicted_completion_latest_at)})` : "-");
  fact(dl, "speed vs usual", job.speed_vs_usual === null ? "-" : `${(job.speed_vs_usual * 100).toFixed(0)} %`);
  fact(dl, "created", when(job.created_at));
  fact(dl, "started", when(job.started_at));
  fact(dl, "ended", when(job.completed_at));
  fact(dl, "last telemetry", job.last_telemetry_at ? `${when(job.last_telemetry_at)}` : "never");
  $("job-error").textContent = job.error_message || "";
  const disks = (job.disks || []).map((d) => {
    const row = el("div", null, "disk");
    row.dataset.diskIndex = d.disk_index;
    row.append(el("span", `disk ${d.disk_index}`), progressBar(d.progress_percent),
      el("span", `${Number(d.progress_percent).toFixed(1)} %`, "percent"),
      el("span", `${bytes(d.bytes_transferred)} of ${bytes(d.size_bytes)}`), el("span", d.status));
    return row;
  });
  $("disks").replaceChildren(...disks);
}

function polyline(points, x, y, cls) {
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("class", cls);
  line.setAttribute("points", points.map((p) => `${x(p).toFixed(1)},${y(p).toFixed(1)}`).join(" "));
  return line;
}

function svgText(text, x, y) {
  const t = document.createElementNS("http://www.w3.org/2000/svg", "text");
  t.setAttribute("x", x);
  t.setAttribute("y", y);
  t.textContent = text;
  return t;
}

async function drawChart(job) {
  chartDrawnAt = Date.now();
  const span = (Date.parse(job.completed_at || new Date().toISOString()) - Date.parse(job.created_at)) / 1000;
  const step = `${Math.max(1, Math.ceil(span / 150))}s`;
  const id = encodeURIComponent(job.id);
  const [speed, progress] = await Promise.all(["jobpulse.job.speed", "jobpulse.job.progress"].map(
    (metric) => get(`${API}/jobs/${id}/series?metric=${metric}&step=${step}`).catch(() => null)));
  const svg = $("chart");
  svg.replaceChildren();
  const speedPoints = speed && speed.series[0] ? speed.series[0].points : [];
  const progressPoints = progress && progress.series[0] ? progress.series[0].points : [];
  const all = speedPoints.concat(progressPoints);
  if (!all.length) {
    svg.append(svgText("no telemetry in InfluxDB for this job yet", 20, 100));
    return;
  }
  const t0 = Math.min(...all.map((p) => Date.parse(p.time)));
  const t1 = Math.max(...all.map((p) => Date.parse(p.time)), t0 + 1000);
  const top = Math.max(1, ...speedPoints.map((p) => p.value));
  const x = (p) => 40 + ((Date.parse(p.time) - t0) / (t1 - t0)) * 550;
  svg.append(polyline(speedPoints, x, (p) => 190 - (p.value / top) * 170, "speed"),
    polyline(progressPoints, x, (p) => 190 - (p.value / 100) * 170, "progress"),
    svgText(`${bytes(top)}/s`, 2, 16), svgText("100 %", 2, 32), svgText(duration((t1 - t0) / 1000), 540, 198));
}

function showJob(id) {
  openJob = id;
  $("list-view").hidden = true;
  $("job-view").hidden = false;
  if (jobStream) jobStream.close();
  get(`${API}/jobs/${encodeURIComponent(id)}`).then((job) => {
    merge(job);
    renderJob(job);
    drawChart(job);
  }).catch((err) => { $("job-error").textContent = String(err.message); });
  jobStream = new EventSource(`${API}/jobs/${encodeURIComponent(id)}/events`);
  jobStream.addEventListener("job", (event) => {
    const job = JSON.parse(event.data);
    merge(job);
    renderJob(job);
    if (Date.now() - chartDrawnAt > CHART_EVERY_MS) drawChart(job);
  });
  jobStream.addEventListener("end", () => {
    jobStream.close();
    drawChart(jobs.get(id));
  });
}

function showList() {
  openJob = null;
  if (jobStream) jobStream.close();
  $("job-view").hidden = true;
  $("list-view").hidden = false;
  renderList();
}

function route() {
  const match = location.hash.match(/^#\/job\/(.+)$/);
  if (match) showJob(decodeURIComponent(match[1]));
  else showList();
}

// --- start --------------------------------------------------------------------------------------

async function start() {
  try {
    await loadList();
  } catch (err) {
    return; // the login form is up, or the hub is down: the banner says so
  }
  followList();
  loadNodes().then(followNodes).catch(() => {});
  route();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", logIn);
  for (const id of ["f-status", "f-type", "f-machine"]) $(id).addEventListener("change", renderList);
  window.addEventListener("hashchange", route);
  // Ages move with the clock, between events too.
  setInterval(updateAges, 1000);
  setInterval(checkPipeline, 10000);
  checkPipeline();
  start();
});
