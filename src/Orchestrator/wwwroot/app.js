// RunSaga's page: plain JavaScript over the same HTTP API the CLI uses, with a reader key kept in this tab.
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = { cursor: null, timer: null, openRun: null };

function key() { return sessionStorage.getItem("runsaga-key") || ""; }

async function api(path, body) {
  const init = body === undefined
    ? { headers: { "X-Api-Key": key() } }
    : { method: "POST", headers: { "X-Api-Key": key(), "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch { /* not a problem body */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response.json();
}

function show(message) {
  const box = $("#message");
  box.textContent = message || "";
  box.hidden = !message;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text ?? "";
  if (className) td.className = className;
  return td;
}

function badge(td, text, className) {
  td.textContent = "";
  const span = document.createElement("span");
  span.className = `${className} ${text}`;
  span.textContent = text;
  td.append(span);
}

function when(value) { return value ? new Date(value).toLocaleString() : ""; }

function link(td, href, text) {
  td.textContent = "";
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  td.append(a);
}

// Durations and deadlines as people say them: "4 min", "in 4 min", "2 min ago".
function span(seconds) {
  const s = Math.abs(seconds);
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  const minutes = Math.round(s / 60);
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function plural(count, one, many) { return `${count} ${count === 1 ? one : many}`; }

function relative(value) {
  const seconds = (new Date(value) - Date.now()) / 1000;
  return seconds >= 0 ? `in ${span(seconds)}` : `${span(seconds)} ago`;
}

function sourceLink(td, source) {
  link(td, `#/sources/${encodeURIComponent(source)}`, source);
}

// ---- SVG charts, drawn by the page (no library). Never colour alone: every series has its own pattern and a
// labelled legend swatch, every bar a <title> tooltip and data attributes, every chart a <title>/<desc> and a data table.

const SVG = "http://www.w3.org/2000/svg";

function svgEl(name, attributes = {}, text) {
  const element = document.createElementNS(SVG, name);
  for (const [attribute, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) element.setAttribute(attribute, String(value));
  }
  if (text !== undefined) element.textContent = text;
  return element;
}

// One fill per series: a colour and a mark (solid, hatch, cross, dots, lines) that tells it apart in grey too.
function addPattern(defs, id, colour, mark) {
  const pattern = svgEl("pattern", { id, patternUnits: "userSpaceOnUse", width: 8, height: 8 });
  pattern.append(svgEl("rect", { width: 8, height: 8, fill: mark === "solid" ? colour : "#fff" }));
  const marks = {
    hatch: ["path", { d: "M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4", stroke: colour, "stroke-width": 2 }],
    cross: ["path", { d: "M0,0 L8,8 M8,0 L0,8", stroke: colour, "stroke-width": 1.4 }],
    dots: ["circle", { cx: 4, cy: 4, r: 1.9, fill: colour }],
    horizontal: ["path", { d: "M0,2 H8 M0,6 H8", stroke: colour, "stroke-width": 1.6 }],
    vertical: ["path", { d: "M2,0 V8 M6,0 V8", stroke: colour, "stroke-width": 1.6 }],
  };
  if (marks[mark]) pattern.append(svgEl(...marks[mark]));
  defs.append(pattern);
}

const OUTCOMES = [
  { key: "completed", label: "completed", colour: "#2e7d32", mark: "solid" },
  { key: "failed", label: "failed", colour: "#b42318", mark: "hatch" },
  { key: "cancelled", label: "cancelled", colour: "#5b6474", mark: "cross" },
  { key: "open", label: "still open", colour: "#1e40af", mark: "dots" },
];

function formatNumber(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/**
 * A bar chart in `figure`: one <g class="bar"> per row (a link when the row has an href), its series stacked or side
 * by side. rows: [{ label, href, tip, data: {attribute: value}, values: {seriesKey: number|null} }].
 */
function barChart(figure, { id, title, description, series, rows, stacked = false, unit = "", caption }) {
  const width = 760, height = 250, left = 52, right = 12, top = 36, bottom = 42;
  const plotWidth = width - left - right, plotHeight = height - top - bottom;
  const heightOf = (row) => stacked
    ? series.reduce((sum, s) => sum + (row.values[s.key] ?? 0), 0)
    : Math.max(0, ...series.map((s) => row.values[s.key] ?? 0));
  const max = Math.max(1, ...rows.map(heightOf));
  const y = (value) => top + plotHeight - (value / max) * plotHeight;

  const svg = svgEl("svg", { id, class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `${id}-title ${id}-desc` });
  svg.append(svgEl("title", { id: `${id}-title` }, title), svgEl("desc", { id: `${id}-desc` }, description));
  const defs = svgEl("defs");
  svg.append(defs);
  let legendX = left;
  for (const s of series) {
    addPattern(defs, `${id}-${s.key}`, s.colour, s.mark);
    svg.append(svgEl("rect", { x: legendX, y: 8, width: 14, height: 14, fill: `url(#${id}-${s.key})`, stroke: s.colour }));
    svg.append(svgEl("text", { x: legendX + 19, y: 19, class: "legend" }, s.label));
    legendX += 40 + s.label.length * 6.5;
  }
  for (const value of [0, max / 2, max]) {
    svg.append(svgEl("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), class: "grid" }));
    svg.append(svgEl("text", { x: left - 6, y: y(value) + 4, class: "axis", "text-anchor": "end" }, `${formatNumber(value)}${unit}`));
  }

  const slot = plotWidth / Math.max(rows.length, 1);
  const barWidth = Math.min(44, slot * 0.72);
  const labelEvery = Math.ceil(30 / slot);
  rows.forEach((row, index) => {
    const x0 = left + index * slot + (slot - barWidth) / 2;
    const bar = svgEl("g", { class: "bar" });
    for (const [name, value] of Object.entries(row.data ?? {})) bar.setAttribute(`data-${name}`, value ?? "");
    bar.append(svgEl("title", {}, row.tip));
    bar.append(svgEl("rect", { x: x0 - 2, y: top, width: barWidth + 4, height: plotHeight, class: "hit" }));
    let base = 0;
    series.forEach((s, at) => {
      const value = row.values[s.key];
      if (value === null || value === undefined) return;
      const w = stacked ? barWidth : barWidth / series.length;
      const x = stacked ? x0 : x0 + at * w;
      const from = stacked ? base : 0;
      const rect = svgEl("rect", { x, y: y(from + value), width: Math.max(w - (stacked ? 0 : 1), 1), height: Math.max(y(from) - y(from + value), value > 0 ? 1 : 0),
        fill: `url(#${id}-${s.key})`, stroke: s.colour, "stroke-width": 1, "data-series": s.key, "data-value": value });
      bar.append(rect);
      if (!stacked && w >= 12 && value > 0) {
        bar.append(svgEl("text", { x: x + w / 2, y: y(value) - 3, class: "value", "text-anchor": "middle" }, formatNumber(value)));
      }
      base += value;
    });
    if (stacked && base > 0) bar.append(svgEl("text", { x: x0 + barWidth / 2, y: y(base) - 3, class: "value", "text-anchor": "middle" }, formatNumber(base)));
    if (series.every((s) => row.values[s.key] === null || row.values[s.key] === undefined)) {
      bar.append(svgEl("text", { x: x0 + barWidth / 2, y: y(0) - 3, class: "value", "text-anchor": "middle" }, "–"));
    }
    if (index % labelEvery === 0) {
      bar.append(svgEl("text", { x: x0 + barWidth / 2, y: height - bottom + 14, class: "axis", "text-anchor": "middle" }, row.label));
    }
    if (row.href) {
      const anchor = svgEl("a", { href: row.href });
      anchor.append(bar);
      svg.append(anchor);
    } else {
      svg.append(bar);
    }
  });
  if (caption) svg.append(svgEl("text", { x: left + plotWidth / 2, y: height - 6, class: "axis", "text-anchor": "middle" }, caption));

  const table = document.createElement("table");
  table.className = "chart-data";
  const head = table.createTHead().insertRow();
  for (const name of ["", ...series.map((s) => s.label)]) {
    const th = document.createElement("th");
    th.textContent = name;
    head.append(th);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    const first = cell(tr, row.label);
    if (row.href) link(first, row.href, row.tableLabel ?? row.label);
    for (const s of series) cell(tr, row.values[s.key] ?? "", "num");
  }
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = `${title}: the numbers`;
  details.append(summary, table);
  const figcaption = document.createElement("figcaption");
  figcaption.textContent = title;
  figure.replaceChildren(figcaption, svg, details);
}

// ---- Home: the fleet's runs per hour (by the hour they were created), stacked by outcome.

async function loadFleet() {
  const hourly = await api("runs/hourly?hours=24");
  const rows = hourly.buckets.map((b) => {
    const start = new Date(b.hour);
    const hour = start.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return {
      label: String(start.getHours()).padStart(2, "0"),
      tableLabel: `${start.toLocaleDateString()} ${hour}`,
      tip: `${start.toLocaleString()} + 1 h: ${b.completed} completed, ${b.failed} failed, ${b.cancelled} cancelled, ${b.open} still open`,
      data: { hour: b.hour, completed: b.completed, failed: b.failed, cancelled: b.cancelled, open: b.open },
      values: { completed: b.completed, failed: b.failed, cancelled: b.cancelled, open: b.open },
    };
  });
  barChart($("#fleet"), {
    id: "fleet-chart",
    title: "Runs per hour, last 24 hours, by outcome",
    description: "One stacked bar per hour (the hour each run was created, local time): completed solid, failed hatched, cancelled cross-hatched, still open dotted; the number above a bar is its total.",
    series: OUTCOMES,
    rows,
    stacked: true,
    caption: "hour each run was created (local time)",
  });
}

async function loadSources() {
  const sources = await api("sources");
  const body = $("#sources tbody");
  body.replaceChildren();
  const select = $("#filter-source");
  const chosen = select.value;
  select.replaceChildren(new Option("all", ""));
  for (const s of sources) {
    const row = body.insertRow();
    row.dataset.source = s.source;
    sourceLink(cell(row, ""), s.source);
    badge(cell(row, ""), s.health, "health");
    cell(row, s.items, "num");
    const last = cell(row, "");
    if (s.lastRun) link(last, `#/runs/${s.lastRun.id}`, s.lastRun.id.slice(0, 8));
    cell(row, s.lastRun?.status);
    cell(row, when(s.lastSuccessfulRun?.finishedAt));
    cell(row, s.healthReason);
    select.add(new Option(s.source, s.source));
  }
  select.value = chosen;
}

// What retention did lately: its cycles and the runs it (or an operator) deleted, newest first.
async function loadRetention() {
  const [cycles, deleted] = await Promise.all([api("retention/cycles?limit=10"), api("audit/runs?limit=10")]);
  const cycleRows = $("#cycles tbody");
  cycleRows.replaceChildren();
  for (const c of cycles.items) {
    const row = cycleRows.insertRow();
    cell(row, when(c.startedAt));
    cell(row, c.source ?? "(runs without a source)");
    cell(row, c.dryRun ? `${c.trigger} (dry run)` : c.trigger);
    badge(cell(row, ""), c.outcome, "status");
    cell(row, c.projectsDeleted, "num");
    cell(row, c.runsArchived, "num");
    cell(row, c.runsDeleted, "num");
    cell(row, c.error ?? c.reason);
  }
  const deletedRows = $("#deleted-runs tbody");
  deletedRows.replaceChildren();
  for (const a of deleted.items) {
    const row = deletedRows.insertRow();
    row.dataset.run = a.runId;
    cell(row, a.runId.slice(0, 8));
    cell(row, a.source);
    cell(row, a.action);
    cell(row, a.requestedBy);
    cell(row, when(a.recordedAt));
    cell(row, a.status);
    cell(row, a.reason);
  }
}

// The dead-letter queues and their counts (a passive declare each: nothing is read from them here).
async function loadDeadLetterQueues() {
  const queues = await api("errors");
  const rows = $("#dead-letter-queues tbody");
  rows.replaceChildren();
  for (const q of queues) {
    const row = rows.insertRow();
    row.dataset.queue = q.name;
    link(cell(row, ""), `#/errors/${encodeURIComponent(q.name)}`, q.name);
    cell(row, q.kind);
    cell(row, q.messages, "num");
  }
}

// One dead-letter queue's first messages, on demand (reading counts a delivery, so the live refresh never does it).
async function loadDeadLetters(queue) {
  $("#errors-queue").textContent = queue;
  $("#errors-replay-all").dataset.queue = queue;
  const letters = await api(`errors/${encodeURIComponent(queue)}?limit=200`);
  const rows = $("#dead-letters tbody");
  rows.replaceChildren();
  for (const m of letters) {
    const row = rows.insertRow();
    if (m.runId) row.dataset.run = m.runId;
    cell(row, when(m.failedAt));
    cell(row, m.messageType);
    const run = cell(row, "");
    if (m.runId) link(run, `#/runs/${m.runId}`, m.runId.slice(0, 8));
    cell(row, m.faultMessage ?? m.reason);
    cell(row, m.exceptionType);
    cell(row, m.deliveries, "num");
    cell(row, m.bytes, "num");
    const actions = cell(row, "");
    actions.append(actionButton("Replay", { action: "replay", message: m.messageId ?? "" }));
    if (m.runId) actions.append(actionButton("Replay run's", { action: "replay-run", run: m.runId }));
    actions.append(actionButton("Discard…", { action: "discard", message: m.messageId ?? "" }));
  }
}

function actionButton(text, data) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = text;
  Object.assign(button.dataset, data);
  return button;
}

// Replay (operator key) puts messages back on the queue they failed on; discard (admin key) removes one, its body kept.
async function deadLetterAction(queue, button) {
  const { action, message, run } = button.dataset;
  let path, body;
  if (action === "replay-all") {
    if (!confirm(`Replay every message of ${queue} to the queue it failed on?`)) return;
    [path, body] = [`errors/${encodeURIComponent(queue)}/replay`, { all: true }];
  } else if (action === "replay-run") {
    [path, body] = [`errors/${encodeURIComponent(queue)}/replay`, { runId: run }];
  } else if (action === "replay") {
    [path, body] = [`errors/${encodeURIComponent(queue)}/replay`, { messageId: message }];
  } else {
    const reason = prompt(`Discard message ${message} for good? Its body is kept in runsaga.dead_letter_actions. Reason:`);
    if (!reason) return;
    [path, body] = [`errors/${encodeURIComponent(queue)}/discard`, { messageId: message, reason }];
  }
  try {
    const moved = await api(path, body);
    await loadDeadLetters(queue);
    show(`${plural(moved.count, "message", "messages")} ${moved.target ? `replayed to ${moved.target}` : `discarded from ${moved.queue}`}.`);
  } catch (error) {
    show(`Not done: ${error.message}`);
  }
}

async function loadRuns(append) {
  const query = new URLSearchParams({ limit: "25" });
  if ($("#filter-source").value) query.set("source", $("#filter-source").value);
  if ($("#filter-status").value) query.set("status", $("#filter-status").value);
  if (append && state.cursor) query.set("cursor", state.cursor);
  const page = await api(`runs?${query}`);
  const body = $("#runs tbody");
  if (!append) body.replaceChildren();
  for (const r of page.items) {
    const row = body.insertRow();
    row.dataset.run = r.id;
    link(cell(row, ""), `#/runs/${r.id}`, r.id.slice(0, 8));
    cell(row, r.source);
    cell(row, r.processType);
    badge(cell(row, ""), r.status, "status");
    cell(row, when(r.times.createdAt));
    cell(row, r.counts.stagedItems, "num");
    cell(row, r.counts.inserted, "num");
    cell(row, r.counts.updated, "num");
    cell(row, r.counts.unchanged, "num");
    cell(row, r.counts.errored, "num");
    cell(row, r.error?.code);
  }
  state.cursor = page.nextCursor;
  $("#more").hidden = !page.nextCursor;
}

// ---- A run's lifecycle at a glance: the saga's states, the path this run took, where it is, where it failed.

const MAIN_STATES = ["Queued", "Running", "Flushed", "Completed"];
const UNFINISHED_FROM = ["Queued", "Running", "Flushed"];

/**
 * The path a run took, from its times, its saga state and its steps. A run that failed or was cancelled failed from
 * the last state it reached: Flushed only if its promotion began (a full run that flushed zero items fails NO_ITEMS at
 * the flush verdict, still Flushing); Running while Flushing once the scrape completed (expectedBatches known).
 */
function runPath(r) {
  const t = r.times;
  const saga = r.state ?? r.status;
  const promotionBegan = (r.steps ?? []).some((s) => s.name === "promotion");
  const reached = {
    Queued: Boolean(t.requestedAt) || saga === "AwaitingStart" || r.status === "Queued",
    Running: Boolean(t.startedAt),
    Flushed: Boolean(t.flushedAt) && (promotionBegan || r.status === "Flushed" || r.status === "Completed"),
    Completed: r.status === "Completed",
  };
  const path = MAIN_STATES.filter((s) => reached[s]);
  const scrapeCompleted = r.counts.expectedBatches !== null && r.counts.expectedBatches !== undefined;
  const result = { path, current: r.status, substate: null, end: null, from: null, fromSubstate: null };
  if (saga === "AwaitingStart" || saga === "Flushing") result.substate = saga;
  if (r.status === "Failed" || r.status === "Cancelled") {
    result.end = r.status;
    result.from = path[path.length - 1] ?? "Queued";
    if (result.from === "Running" && scrapeCompleted) result.fromSubstate = "Flushing";
    if (result.from === "Queued" && !t.requestedAt && !t.startedAt && scrapeCompleted) result.fromSubstate = "AwaitingStart";
    if (saga === "Duplicate" || r.error?.code === "DUPLICATE_RUN") result.substate = "Duplicate";
  }
  return result;
}

function pathSentence(r, p) {
  const steps = p.path.map((s) => (p.end && s === p.from && p.fromSubstate) ? `${s} (${p.fromSubstate})` : s);
  if (p.end) {
    return `${steps.join(" → ") || "(never requested or started)"} → ${p.end}${p.substate ? ` (${p.substate})` : ""}`
      + `${r.error ? `: ${r.error.code}` : ""}, from ${p.from}${p.fromSubstate ? ` while ${p.fromSubstate}` : ""}.`;
  }
  return r.status === "Completed" ? `${steps.join(" → ")}.` : `${steps.join(" → ")}${p.substate ? ` (${p.substate})` : ""}: here now.`;
}

const LIFECYCLE_NODES = {
  Cancelled: { x: 305, y: 8, sub: "Duplicate", time: (t) => t.failedAt },
  Queued: { x: 20, y: 124, sub: "AwaitingStart", time: (t) => t.requestedAt },
  Running: { x: 210, y: 124, sub: "Flushing", time: (t) => t.startedAt },
  Flushed: { x: 400, y: 124, time: (t) => t.flushedAt },
  Completed: { x: 590, y: 124, time: (t) => t.completedAt },
  Failed: { x: 305, y: 246, time: (t) => t.failedAt },
};
const NODE_WIDTH = 150, NODE_HEIGHT = 66;

function drawLifecycle(figure, r, p) {
  const svg = svgEl("svg", { id: "lifecycle", class: "lifecycle", viewBox: "0 0 760 340", role: "img", "aria-labelledby": "lifecycle-title lifecycle-desc" });
  svg.append(svgEl("title", { id: "lifecycle-title" }, `Lifecycle of run ${r.id}`), svgEl("desc", { id: "lifecycle-desc" }, pathSentence(r, p)));
  const defs = svgEl("defs");
  for (const [id, className] of [["arrow-taken", "taken"], ["arrow", "not-taken"]]) {
    const marker = svgEl("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 10, markerHeight: 10, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
    marker.append(svgEl("path", { d: "M0,0 L10,5 L0,10 z", class: className }));
    defs.append(marker);
  }
  // Referenced by style.css: a failed end is hatched, a cancelled one cross-hatched.
  addPattern(defs, "lifecycle-failed", "#b42318", "hatch");
  addPattern(defs, "lifecycle-cancelled", "#5b6474", "cross");
  svg.append(defs);

  const visited = new Set([...p.path, ...(p.end ? [p.end] : [])]);
  const edges = [["Queued", "Running"], ["Running", "Flushed"], ["Flushed", "Completed"],
    ...UNFINISHED_FROM.flatMap((from) => [[from, "Failed"], [from, "Cancelled"]])];
  for (const [from, to] of edges) {
    const main = MAIN_STATES.includes(to);
    const taken = main ? visited.has(from) && visited.has(to) && p.path.indexOf(to) === p.path.indexOf(from) + 1 : p.end === to && p.from === from;
    const a = LIFECYCLE_NODES[from], b = LIFECYCLE_NODES[to];
    const spread = (UNFINISHED_FROM.indexOf(from) - 1) * 45;
    const [x1, y1, x2, y2] = main
      ? [a.x + NODE_WIDTH, a.y + NODE_HEIGHT / 2, b.x - 2, b.y + NODE_HEIGHT / 2]
      : to === "Failed"
        ? [a.x + NODE_WIDTH / 2, a.y + NODE_HEIGHT, b.x + NODE_WIDTH / 2 + spread, b.y - 2]
        : [a.x + NODE_WIDTH / 2, a.y, b.x + NODE_WIDTH / 2 + spread, b.y + NODE_HEIGHT + 2];
    const line = svgEl("line", { x1, y1, x2, y2, class: `edge${taken ? " taken" : ""}`, "marker-end": `url(#${taken ? "arrow-taken" : "arrow"})`,
      "data-from": from, "data-to": to, "data-taken": taken });
    svg.append(line);
    if (taken && !main && r.error) {
      // Near the end the run reached, beside the arrow.
      svg.append(svgEl("text", { x: x1 + (x2 - x1) * 0.6 + 10, y: y1 + (y2 - y1) * 0.6, class: "edge-label" }, r.error.code));
    }
  }

  for (const [name, node] of Object.entries(LIFECYCLE_NODES)) {
    const isCurrent = p.current === name;
    const isFrom = p.from === name;
    const relevantSub = node.sub && ((isCurrent && p.substate === node.sub) || (isFrom && p.fromSubstate === node.sub)) ? node.sub : null;
    const g = svgEl("g", { class: `node${visited.has(name) ? " visited" : ""}${isCurrent ? " current" : ""}${isFrom ? " failed-from" : ""}`,
      "data-state": name, "data-visited": visited.has(name), "data-current": isCurrent, "data-failed-from": isFrom, "data-substate": relevantSub ?? "" });
    if (name === "Failed" && r.error && p.end === "Failed") g.setAttribute("data-error-code", r.error.code);
    if (isCurrent) g.append(svgEl("rect", { x: node.x - 5, y: node.y - 5, width: NODE_WIDTH + 10, height: NODE_HEIGHT + 10, rx: 12, class: "halo" }));
    g.append(svgEl("rect", { x: node.x, y: node.y, width: NODE_WIDTH, height: NODE_HEIGHT, rx: 8, class: "box" }));
    const label = svgEl("text", { x: node.x + NODE_WIDTH / 2, y: node.y + 22, class: "name", "text-anchor": "middle" }, name);
    g.append(label);
    const at = visited.has(name) ? node.time(r.times) : null;
    const detail = relevantSub ? `${isCurrent && !p.end ? "now" : "while"} ${relevantSub}` : node.sub ? `(incl. ${node.sub})` : "";
    g.append(svgEl("text", { x: node.x + NODE_WIDTH / 2, y: node.y + 40, class: relevantSub ? "sub relevant" : "sub", "text-anchor": "middle" }, detail));
    if (at) g.append(svgEl("text", { x: node.x + NODE_WIDTH / 2, y: node.y + 57, class: "time", "text-anchor": "middle" }, new Date(at).toLocaleTimeString()));
    // The markers go where no arrow ends: above the main row, below the final states.
    const markerY = MAIN_STATES.includes(name) ? node.y - 13 : node.y + NODE_HEIGHT + 20;
    if (isCurrent) {
      g.append(svgEl("text", { x: node.x + NODE_WIDTH / 2, y: markerY, class: "marker", "text-anchor": "middle" },
        MAIN_STATES.includes(name) ? "▼ you are here" : "▲ you are here"));
    } else if (isFrom) {
      g.append(svgEl("text", { x: node.x + NODE_WIDTH / 2, y: markerY, class: "marker failed", "text-anchor": "middle" },
        `✖ ${p.end === "Cancelled" ? "cancelled" : "failed"} here`));
    }
    svg.append(g);
  }
  figure.replaceChildren(svg);
}

/** What an open run waits for, in a sentence; empty for a run that ended. */
function waitingFor(r) {
  const t = r.times, c = r.counts;
  const deadline = (label, at, late = "") => at ? `; ${label} ${new Date(at) >= Date.now() ? relative(at) : `passed ${relative(at)}${late}`}` : "";
  const flushDeadline = (label) => deadline(label, t.flushDeadline, " (the verdict waits while staging catches up)");
  switch (r.state ?? r.status) {
    case "AwaitingStart":
      return `The scrape completed before anyone requested or started this run: waiting for RunRequested or RunStarted${flushDeadline("gives up")}.`;
    case "Queued":
      return `Waiting for RunStarted: requested ${relative(t.requestedAt ?? t.createdAt)}, not started yet${deadline("run deadline", t.runDeadline)}.`;
    case "Running":
      return `Waiting for ScrapeCompleted; ${plural(c.stagedBatches ?? 0, "batch", "batches")} (${plural(c.stagedItems ?? 0, "item", "items")}) staged so far${deadline("run deadline", t.runDeadline)}.`;
    case "Flushing": {
      const expected = c.expectedBatches ?? 0, staged = c.stagedBatches ?? 0;
      return staged < expected
        ? `Waiting for ${expected - staged} of ${expected} batches (${staged} staged so far)${flushDeadline("flush deadline")}.`
        : `All ${expected} batches are staged; waiting for the flush check to confirm the counts balance${flushDeadline("flush deadline")}.`;
    }
    case "Flushed":
      return c.inserted === null || c.inserted === undefined
        ? "Promoting: the staged items are going into projects in one transaction."
        : "Promoted; recording lineage before it completes.";
    default:
      return "";
  }
}

function showLifecycle(r) {
  const p = runPath(r);
  drawLifecycle($("#run-lifecycle"), r, p);
  $("#run-path").textContent = pathSentence(r, p);
  const waiting = waitingFor(r);
  $("#run-waiting").textContent = waiting;
  $("#run-waiting").hidden = !waiting;
}

async function loadRun(id) {
  const r = await api(`runs/${id}`);
  $("#run-id").textContent = r.id;
  badge($("#run-status"), r.status, "status");
  state.openRun = ["Completed", "Failed", "Cancelled"].includes(r.status) ? null : r.id;
  showLifecycle(r);
  const facts = $("#run-facts");
  facts.replaceChildren();
  const fact = (label, value, href) => {
    if (value === null || value === undefined || value === "") return;
    const dt = document.createElement("dt"); dt.textContent = label;
    const dd = document.createElement("dd"); dd.textContent = value;
    if (href) link(dd, href, value);
    facts.append(dt, dd);
  };
  fact("Source", r.source, r.source && `#/sources/${encodeURIComponent(r.source)}`);
  fact("Idempotency key", r.idempotencyKey);
  fact("Type", r.processType);
  fact("Folder", r.folderName);
  fact("Requested by", r.requestedBy);
  fact("Created", when(r.times.createdAt));
  fact("Finished", when(r.times.completedAt || r.times.failedAt));
  fact("Error", r.error && `${r.error.code}: ${r.error.message ?? ""}`);
  fact("Archived", r.archive.archivedAt && `${when(r.archive.archivedAt)} (${r.archive.archivePath})`);
  fact("Pinned until", when(r.archive.pinnedUntil));
  fact("Deleted", r.archive.deletedAt && `${when(r.archive.deletedAt)}: ${r.archive.deletionReason}`);
  fact("Attempt", r.attempt.number > 1 ? `${r.attempt.number} (retries ${r.attempt.retryOf})` : "");
  fact("Duplicate of", r.attempt.duplicateOf);
  fact("Cancelled by", r.cancelledBy);
  // Cancelling needs an operator key; with a reader key the API's 403 is shown.
  $("#run-cancel").hidden = ["Completed", "Failed", "Cancelled"].includes(r.status);
  $("#run-cancel").dataset.run = r.id;

  const counts = $("#run-counts tbody");
  counts.replaceChildren();
  for (const [name, value] of Object.entries(r.counts)) {
    const row = counts.insertRow();
    cell(row, name);
    cell(row, value ?? "", "num");
  }

  // A restored run's items are back in staging: show the first page of them.
  $("#run-items-section").hidden = !r.archive.restoredAt;
  if (r.archive.restoredAt) {
    const items = await api(`runs/${r.id}/items?limit=50`);
    const body = $("#run-items tbody");
    body.replaceChildren();
    for (const i of items.items) {
      const row = body.insertRow();
      cell(row, i.key);
      cell(row, i.batchId);
      cell(row, i.title);
      cell(row, i.error);
    }
  }

  await loadHistory(r.id);

  const steps = $("#run-steps");
  steps.replaceChildren();
  for (const step of r.steps ?? []) {
    const li = document.createElement("li");
    li.className = step.status;
    const title = document.createElement("strong");
    title.textContent = `${step.name}: ${step.status}`;
    const time = document.createElement("div");
    time.className = "when";
    const took = step.startedAt && step.finishedAt ? ` (${((new Date(step.finishedAt) - new Date(step.startedAt)) / 1000).toFixed(2)} s)` : "";
    time.textContent = `${when(step.startedAt)} → ${when(step.finishedAt)}${took}`;
    li.append(title, time);
    if (step.error) {
      const error = document.createElement("div");
      error.textContent = step.error;
      li.append(error);
    }
    steps.append(li);
  }
}

// ---- A run's history: every message the saga handled and every Consumers step, oldest first.

// What a line did, in words (a Consumers step that "changed" something is "done": it is not the saga's row).
const OUTCOME_WORDS = {
  changed: "changed the run",
  unchanged: "changed nothing",
  duplicate: "duplicate: seen before",
  ignored: "ignored in this state",
  late: "late: the run had moved on",
};

function historyItem(className, data, headline, lines) {
  const li = document.createElement("li");
  li.className = className;
  Object.assign(li.dataset, data);
  const title = document.createElement("strong");
  title.textContent = headline;
  li.append(title);
  for (const [text, cls] of lines) {
    if (!text) continue;
    const div = document.createElement("div");
    if (cls) div.className = cls;
    div.textContent = text;
    li.append(div);
  }
  return li;
}

async function loadHistory(id) {
  const page = await api(`runs/${id}/events?limit=500`);
  const list = $("#run-history");
  list.replaceChildren();
  const items = page.items.map((e) => ({
    at: new Date(e.recordedAt),
    li: historyItem(`outcome-${e.outcome}`, { actor: e.actor, event: e.event, outcome: e.outcome },
      `${e.event} (${e.actor})`,
      [
        [`${when(e.recordedAt)}${e.sentAt ? ` · sent ${when(e.sentAt)}` : ""}`, "when"],
        [e.stateBefore || e.stateAfter ? `${e.stateBefore ?? "?"} → ${e.stateAfter ?? "?"}` : "", "states"],
        [e.actor !== "saga" && e.outcome === "changed" ? "done" : OUTCOME_WORDS[e.outcome] ?? e.outcome, `outcome ${e.outcome}`],
        [e.summary, ""],
      ]),
  }));
  // Batches that staged normally are one line, placed where the first of them was staged.
  if (page.batches) {
    const b = page.batches;
    items.push({
      at: new Date(b.firstStagedAt),
      li: historyItem("outcome-batches", { actor: "staging", event: "batches", outcome: "summary" },
        `${plural(b.batches, "batch", "batches")} staged (staging)`,
        [
          [`${when(b.firstStagedAt)} → ${when(b.lastStagedAt)}`, "when"],
          [`${formatNumber(b.items)} items: ${formatNumber(b.newKeys)} new keys, ${formatNumber(b.duplicates)} repeated, ${formatNumber(b.rejected)} rejected`, ""],
        ]),
    });
  }
  items.sort((a, b) => a.at - b.at);
  for (const item of items) list.append(item.li);
  $("#run-history-more").hidden = !page.nextCursor;
  $("#run-history-more").textContent = page.nextCursor
    ? `The first 500 lines; the rest: runsaga runs events ${id} --cursor ${page.nextCursor}` : "";
}

// ---- A source's page: health, retention, and its last runs as charts and a table.

function sourceRunRows(runs, values) {
  // Oldest on the left, as time goes.
  return [...runs].reverse().map((run) => {
    const created = new Date(run.createdAt);
    return {
      label: created.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
      tableLabel: `${run.id.slice(0, 8)} (${created.toLocaleString()})`,
      href: `#/runs/${run.id}`,
      tip: `Run ${run.id.slice(0, 8)}, ${run.status}${run.errorCode ? ` ${run.errorCode}` : ""}, created ${created.toLocaleString()}: `
        + Object.entries(values(run)).map(([k, v]) => `${k} ${v ?? "–"}`).join(", "),
      data: { run: run.id, status: run.status, ...values(run) },
      values: values(run),
    };
  });
}

function outcomeOf(run) {
  return { Completed: "completed", Failed: "failed", Cancelled: "cancelled" }[run.status] ?? "open";
}

function drawSourceCharts(source, runs) {
  // An open run's bar is its time so far.
  const seconds = (run) => run.durationSeconds ?? (Date.now() - new Date(run.startedAt ?? run.createdAt)) / 1000;
  const longest = Math.max(0, ...runs.map(seconds));
  const [unit, divisor] = longest >= 7200 ? [" h", 3600] : longest >= 120 ? [" min", 60] : [" s", 1];
  const round = (value) => Math.round((value / divisor) * 10) / 10;
  barChart($("#source-duration"), {
    id: "source-duration-chart",
    title: `Duration per run (${unit.trim()}), oldest to newest`,
    description: `One bar per run of ${source}, from its start to its end (an open run: so far), patterned by outcome: completed solid, failed hatched, cancelled cross-hatched, still open dotted.`,
    series: OUTCOMES,
    rows: sourceRunRows(runs, (run) => Object.fromEntries(OUTCOMES.map((o) => [o.key, o.key === outcomeOf(run) ? round(seconds(run)) : null]))),
    stacked: true,
    unit,
    caption: "each run, by the time it was created",
  });
  barChart($("#source-items"), {
    id: "source-items-chart",
    title: "Items per run: staged, inserted, updated, errored",
    description: `Four bars per run of ${source}: items staged (vertical lines), inserted (solid), updated (horizontal lines), errored (hatched); a run that never flushed shows what staging holds of it.`,
    series: [
      { key: "staged", label: "staged", colour: "#374151", mark: "vertical" },
      { key: "inserted", label: "inserted", colour: "#2e7d32", mark: "solid" },
      { key: "updated", label: "updated", colour: "#1e40af", mark: "horizontal" },
      { key: "errored", label: "errored", colour: "#b42318", mark: "hatch" },
    ],
    rows: sourceRunRows(runs, (run) => ({ staged: run.stagedItems, inserted: run.inserted, updated: run.updated, errored: run.errored })),
    caption: "each run, by the time it was created",
  });
  barChart($("#source-rejected"), {
    id: "source-rejected-chart",
    title: "Rejected items per run",
    description: `One bar per run of ${source}: items refused at staging (no key, bad data), cross-hatched.`,
    series: [{ key: "rejected", label: "rejected", colour: "#92400e", mark: "cross" }],
    rows: sourceRunRows(runs, (run) => ({ rejected: run.rejectedItems })),
    caption: "each run, by the time it was created",
  });
}

function describeRetention(list, retention) {
  list.replaceChildren();
  const fact = (label, value, href) => {
    if (value === null || value === undefined || value === "") return;
    const dt = document.createElement("dt"); dt.textContent = label;
    const dd = document.createElement("dd"); dd.textContent = value;
    if (href) link(dd, href, value);
    list.append(dt, dd);
  };
  fact("Withheld", retention.withheld
    ? `yes, since ${when(retention.withheldAt)}: ${retention.withheldReason ?? "waits for an operator's release"} (runsaga retention release)`
    : "no");
  if (retention.withheld && retention.withheldByRunId) fact("Withheld by run", retention.withheldByRunId, `#/runs/${retention.withheldByRunId}`);
  fact("Last released", retention.releasedAt && `${when(retention.releasedAt)} by ${retention.releasedBy ?? "?"}`);
  fact("Keeps", `items seen by the last ${retention.keepRuns} completed full runs (KEEP_RUNS)`);
  fact("Next scheduled cycle", retention.nextScheduledCycle
    ? `${when(retention.nextScheduledCycle)} (${relative(retention.nextScheduledCycle)}; RETENTION_SCHEDULE ${retention.schedule}, UTC)`
    : `not recorded yet (RETENTION_SCHEDULE ${retention.schedule}, UTC)`);
  const c = retention.lastCycle;
  fact("Last cycle", c
    ? `${when(c.startedAt)}, ${c.trigger}: ${c.outcome}; deleted ${c.projectsDeleted} items, archived ${c.runsArchived} runs, deleted ${c.runsDeleted} runs${c.error || c.reason ? ` (${c.error ?? c.reason})` : ""}`
    : "none yet");
  if (c?.runId) fact("Last cycle applied by run", c.runId, `#/runs/${c.runId}`);
}

async function loadSource(source) {
  const detail = await api(`sources/${encodeURIComponent(source)}?limit=20`);
  const s = detail.summary;
  $("#source-name").textContent = s.source;
  badge($("#source-health"), s.health, "health");
  const facts = $("#source-facts");
  facts.replaceChildren();
  for (const [label, value, href] of [
    ["Health", s.healthReason ? `${s.health}: ${s.healthReason}` : s.health],
    ["Items", String(s.items)],
    ["Last run", s.lastRun && `${s.lastRun.id} (${s.lastRun.status})`, s.lastRun && `#/runs/${s.lastRun.id}`],
    ["Last success", s.lastSuccessfulRun && `${s.lastSuccessfulRun.id} (${when(s.lastSuccessfulRun.finishedAt)})`, s.lastSuccessfulRun && `#/runs/${s.lastSuccessfulRun.id}`],
  ]) {
    if (!value) continue;
    const dt = document.createElement("dt"); dt.textContent = label;
    const dd = document.createElement("dd"); dd.textContent = value;
    if (href) link(dd, href, value);
    facts.append(dt, dd);
  }
  describeRetention($("#source-retention"), detail.retention);
  $("#source-runs-count").textContent = `(the last ${detail.runs.length}${detail.nextCursor ? "; older runs: the runs table, filtered by source" : ""})`;
  drawSourceCharts(s.source, detail.runs);
  const body = $("#source-runs tbody");
  body.replaceChildren();
  for (const run of detail.runs) {
    const row = body.insertRow();
    row.dataset.run = run.id;
    link(cell(row, ""), `#/runs/${run.id}`, run.id.slice(0, 8));
    cell(row, run.processType);
    badge(cell(row, ""), run.status, "status");
    cell(row, when(run.createdAt));
    cell(row, run.durationSeconds === null ? "open" : span(run.durationSeconds), "num");
    for (const value of [run.stagedItems, run.inserted, run.updated, run.errored, run.rejectedItems]) cell(row, value, "num");
    cell(row, run.errorCode);
  }
}

// ---- Search: a run id, an idempotency key or a folder name; one match opens the run, several are listed.

function matchedBy(run, q) {
  if (run.id.toLowerCase() === q.toLowerCase().replace(/[{}]/g, "") || run.id.replace(/-/g, "") === q.toLowerCase()) return "run id";
  if (run.idempotencyKey === q) return "idempotency key";
  if (run.folderName === q) return "folder name";
  return "";
}

async function loadSearch(q) {
  $("#search-query").textContent = q;
  const page = await api(`runs/search?q=${encodeURIComponent(q)}&limit=100`);
  if (page.items.length === 1) {
    location.replace(`#/runs/${page.items[0].id}`);
    return;
  }
  $("#search-none").hidden = page.items.length > 0;
  const body = $("#search-runs tbody");
  body.replaceChildren();
  for (const r of page.items) {
    const row = body.insertRow();
    row.dataset.run = r.id;
    link(cell(row, ""), `#/runs/${r.id}`, r.id.slice(0, 8));
    cell(row, matchedBy(r, q));
    if (r.source) sourceLink(cell(row, ""), r.source); else cell(row, "");
    badge(cell(row, ""), r.status, "status");
    cell(row, r.attempt.number, "num");
    cell(row, when(r.times.createdAt));
    cell(row, r.idempotencyKey);
    cell(row, r.folderName);
    cell(row, r.error?.code);
  }
}

async function loadLineage(source, itemKey) {
  $("#item-key").textContent = itemKey;
  $("#item-source").textContent = source;
  const path = `projects/${encodeURIComponent(source)}/${encodeURIComponent(itemKey)}`;
  const facts = $("#item-facts");
  facts.replaceChildren();
  try {
    const item = await api(path);
    for (const [label, value] of [["Status", item.status], ["Error", item.error], ["Title", item.title], ["Created by run", item.createdBy?.id],
      ["Last updated by run", item.lastUpdatedBy?.id], ["Last seen by run", item.lastConfirmedBy?.id], ["Batch", item.batchId]]) {
      if (!value) continue;
      const dt = document.createElement("dt"); dt.textContent = label;
      const dd = document.createElement("dd"); dd.textContent = value;
      facts.append(dt, dd);
    }
  } catch (error) {
    const dd = document.createElement("dd");
    dd.textContent = `Not in projects now (${error.message}); its changes are below.`;
    facts.append(dd);
  }
  const changes = await api(`${path}/lineage`);
  const body = $("#item-changes tbody");
  body.replaceChildren();
  for (const c of changes) {
    const row = body.insertRow();
    cell(row, c.id, "num");
    cell(row, c.change);
    link(cell(row, ""), `#/runs/${c.runId}`, c.runId.slice(0, 8));
    cell(row, c.batchId);
    cell(row, when(c.recordedAt));
    cell(row, c.contentHash);
  }
}

async function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  for (const id of ["home", "run", "source", "search-results", "lineage", "errors"]) $(`#${id}`).hidden = true;
  state.openRun = null;
  show("");
  try {
    if (!key()) {
      show("Enter an API key (reader role is enough) to see runs.");
      return;
    }
    if (parts[0] === "runs" && parts[1]) {
      $("#run").hidden = false;
      await loadRun(parts[1]);
    } else if (parts[0] === "sources" && parts[1]) {
      $("#source").hidden = false;
      await loadSource(parts.slice(1).join("/"));
    } else if (parts[0] === "search" && parts.length >= 2) {
      $("#search-results").hidden = false;
      await loadSearch(parts.slice(1).join("/"));
    } else if (parts[0] === "errors" && parts[1]) {
      $("#errors").hidden = false;
      await loadDeadLetters(parts[1]);
    } else if (parts[0] === "lineage" && parts.length >= 3) {
      $("#lineage").hidden = false;
      await loadLineage(parts[1], parts.slice(2).join("/"));
    } else {
      $("#home").hidden = false;
      await Promise.all([loadFleet(), loadSources(), loadRuns(false), loadRetention(), loadDeadLetterQueues()]);
    }
    $("#refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    show(error.message);
  }
}

function live() {
  clearInterval(state.timer);
  if ($("#live").checked) {
    // The home view, and an open run's view (its "waiting for" sentence and lifecycle move on); never a dead-letter queue.
    state.timer = setInterval(() => { if (!$("#home").hidden || state.openRun) route(); }, 5000);
  }
}

$("#key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem("runsaga-key", $("#key").value.trim());
  $("#key").value = "";
  route();
});
$("#filter-source").addEventListener("change", () => loadRuns(false).catch((e) => show(e.message)));
$("#filter-status").addEventListener("change", () => loadRuns(false).catch((e) => show(e.message)));
$("#more").addEventListener("click", () => loadRuns(true).catch((e) => show(e.message)));
$("#live").addEventListener("change", live);
$("#run-cancel").addEventListener("click", async () => {
  const id = $("#run-cancel").dataset.run;
  const reason = prompt(`Cancel run ${id}? Nothing of it will be promoted. Reason:`);
  if (reason === null) return;
  try {
    await api(`runs/${id}/cancel`, { reason });
    await loadRun(id);
    show(`Run ${id} cancelled.`);
  } catch (error) {
    show(`Not cancelled: ${error.message}`);
  }
});
$("#dead-letters").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (button) deadLetterAction($("#errors-queue").textContent, button);
});
$("#errors-replay-all").addEventListener("click", (event) => deadLetterAction(event.target.dataset.queue, event.target));
$("#search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = $("#search").value.trim();
  if (q) location.hash = `#/search/${encodeURIComponent(q)}`;
});
$("#lineage-form").addEventListener("submit", (event) => {
  event.preventDefault();
  location.hash = `#/lineage/${encodeURIComponent($("#lineage-source").value)}/${encodeURIComponent($("#lineage-key").value)}`;
});
window.addEventListener("hashchange", route);
live();
route();
