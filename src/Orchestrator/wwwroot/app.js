// RunSaga's page: plain JavaScript over the same HTTP API the CLI uses, with a reader key kept in this tab.
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = { cursor: null, timer: null };

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

async function loadSources() {
  const sources = await api("sources");
  const body = $("#sources tbody");
  body.replaceChildren();
  const select = $("#filter-source");
  const chosen = select.value;
  select.replaceChildren(new Option("all", ""));
  for (const s of sources) {
    const row = body.insertRow();
    cell(row, s.source);
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

async function loadRun(id) {
  const r = await api(`runs/${id}`);
  $("#run-id").textContent = r.id;
  badge($("#run-status"), r.status, "status");
  const facts = $("#run-facts");
  facts.replaceChildren();
  const fact = (label, value) => {
    if (value === null || value === undefined || value === "") return;
    const dt = document.createElement("dt"); dt.textContent = label;
    const dd = document.createElement("dd"); dd.textContent = value;
    facts.append(dt, dd);
  };
  fact("Source", r.source);
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
  for (const id of ["home", "run", "lineage", "errors"]) $(`#${id}`).hidden = true;
  show("");
  try {
    if (!key()) {
      show("Enter an API key (reader role is enough) to see runs.");
      return;
    }
    if (parts[0] === "runs" && parts[1]) {
      $("#run").hidden = false;
      await loadRun(parts[1]);
    } else if (parts[0] === "errors" && parts[1]) {
      $("#errors").hidden = false;
      await loadDeadLetters(parts[1]);
    } else if (parts[0] === "lineage" && parts.length >= 3) {
      $("#lineage").hidden = false;
      await loadLineage(parts[1], parts.slice(2).join("/"));
    } else {
      $("#home").hidden = false;
      await Promise.all([loadSources(), loadRuns(false), loadRetention(), loadDeadLetterQueues()]);
    }
    $("#refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    show(error.message);
  }
}

function live() {
  clearInterval(state.timer);
  if ($("#live").checked) {
    state.timer = setInterval(() => { if (!$("#home").hidden) route(); }, 5000);
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
$("#lineage-form").addEventListener("submit", (event) => {
  event.preventDefault();
  location.hash = `#/lineage/${encodeURIComponent($("#lineage-source").value)}/${encodeURIComponent($("#lineage-key").value)}`;
});
window.addEventListener("hashchange", route);
live();
route();
