#include "page.hpp"

namespace musegen::server {

// One document: the models with their loss curves, the form, the job's progress, the piece
// (piano roll, audio, downloads, metrics) and the history. Text from the server is put in
// with textContent, never innerHTML, so a run's name cannot inject markup. The empty icon
// (data:,) keeps the browser from asking for /favicon.ico, a 404 in its console.
const char* page_html() {
  return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>musegen</title>
<link rel="icon" href="data:,">
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 70rem; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; }
  table { border-collapse: collapse; } td, th { padding: .25rem .6rem; text-align: left; border-bottom: 1px solid #ddd; }
  tr.model { cursor: pointer; } tr.model.chosen { background: #eef3ff; }
  form { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .6rem 1rem; align-items: end; }
  label { display: flex; flex-direction: column; font-size: .9rem; gap: .2rem; }
  [hidden] { display: none !important; }  /* else a label's display: flex shows it */
  input, select, button { font: inherit; padding: .25rem; }
  #error { color: #b00020; white-space: pre-wrap; }
  progress { width: 100%; }
  #roll { width: 100%; border: 1px solid #ddd; line-height: 0; }
  #roll svg { width: 100%; height: auto; }
  #roll .playhead { stroke: #d1301f; stroke-width: 2; }
  #metrics td:nth-child(n+2), #metrics th:nth-child(n+2) { text-align: right; }
  .muted { color: #777; font-size: .85rem; }
</style>
</head>
<body>
<h1>musegen</h1>
<h2>Models</h2>
<table id="models"><thead><tr><th>run</th><th>encoding</th><th>data</th><th>parameters</th><th>best valid loss</th><th>loss</th></tr></thead><tbody></tbody></table>
<p class="muted" id="models-note"></p>

<h2>Generate</h2>
<form id="form">
  <label>model <select id="model" required></select></label>
  <label>length <span><select id="length-unit"><option value="seconds">seconds</option><option value="steps">steps</option></select>
    <input id="length" type="number" min="1" step="any" value="30"></span></label>
  <label>temperature <input id="temperature" type="number" min="0.01" max="100" step="0.01" value="1"></label>
  <label>top-k (0: all) <input id="top_k" type="number" min="0" max="100000" step="1" value="0"></label>
  <label>top-p <input id="top_p" type="number" min="0.01" max="1" step="0.01" value="0.95"></label>
  <label>seed <span><input id="seed" type="number" min="0" step="1" value="1"> <button type="button" id="new-seed">new seed</button></span></label>
  <label>tempo (bpm, 0: default) <input id="tempo" type="number" min="0" max="1000" step="any" value="0"></label>
  <label>primer <select id="primer-kind"><option value="data">a piece of the model's data</option><option value="file">a MIDI file</option><option value="none">none</option></select></label>
  <label>primer steps <input id="primer-steps" type="number" min="0" max="20000" step="1" value="16"></label>
  <label id="instruments-label" hidden>instruments, one per part (empty: the model chooses) <input id="instruments" list="instrument-names" placeholder="violin, viola, cello"></label>
  <datalist id="instrument-names"></datalist>
  <label id="primer-piece-label">piece <select id="primer-piece"><option value="-1">picked by the seed</option></select></label>
  <label id="primer-file-label" hidden>MIDI file <input id="primer-file" type="file" accept=".mid,.midi,audio/midi"></label>
  <button type="submit" id="generate">Generate</button>
</form>
<p id="error" role="alert"></p>
<div id="job" hidden><span id="job-stage"></span> <progress id="job-progress" max="1" value="0"></progress> <button type="button" id="cancel">cancel</button></div>

<section id="piece" hidden>
  <h2>Piece <span id="piece-id" class="muted"></span></h2>
  <div id="roll" role="img" aria-label="piano roll of the piece (one colour per instrument, the legend at its top right)"></div>
  <p><audio id="audio" controls preload="auto"></audio></p>
  <p><a id="download-midi" download>MIDI</a> · <a id="download-wav" download>WAV</a> · <a id="download-svg" download>piano roll (SVG)</a>
     · <button type="button" id="regenerate">make it again</button></p>
  <table id="metrics"><thead><tr><th>metric</th><th>this piece</th><th>the model's data (mean ± sd)</th></tr></thead><tbody></tbody></table>
</section>

<h2>Training runs</h2>
<table id="runs"><thead><tr><th>run</th><th>state</th><th>last step</th><th>loss (train grey, validation blue)</th></tr></thead><tbody></tbody></table>
<p class="muted" id="runs-note">The curves follow metrics.csv while <code>musegen train</code> runs in another terminal.</p>

<h2>History</h2>
<table id="history"><thead><tr><th>made</th><th>model</th><th>length</th><th>seed</th><th></th></tr></thead><tbody></tbody></table>

<script>
"use strict";
const $ = (id) => document.getElementById(id);
let currentJob = null;

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  const res = await fetch(path, init);
  const json = await res.json().catch(() => null);
  if (!res.ok) {
    const e = new Error(json && json.error ? json.error : res.status + " " + res.statusText);
    e.field = json && json.field;
    throw e;
  }
  return json;
}

function showError(e) { $("error").textContent = e ? (e.message || String(e)) : ""; }

function cell(row, text) { const td = row.insertCell(); td.textContent = text; return td; }

// A small loss curve: training loss in grey, validation loss in blue, log-free, scaled to its own range.
function lossCurve(points, w = 160, h = 36) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", w); svg.setAttribute("height", h);
  const values = points.flatMap((p) => [p.train_loss, p.valid_loss]).filter((v) => v !== null);
  if (points.length < 2 || values.length < 2) return svg;
  const lo = Math.min(...values), hi = Math.max(...values), s0 = points[0].step, s1 = points[points.length - 1].step;
  const x = (s) => (s1 > s0 ? (s - s0) / (s1 - s0) : 0) * (w - 2) + 1;
  const y = (v) => (hi > lo ? 1 - (v - lo) / (hi - lo) : 0.5) * (h - 2) + 1;
  for (const [key, colour] of [["train_loss", "#999"], ["valid_loss", "#1f5fd1"]]) {
    const pts = points.filter((p) => p[key] !== null).map((p) => x(p.step).toFixed(1) + "," + y(p[key]).toFixed(1));
    if (pts.length < 2) continue;
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.join(" ")); line.setAttribute("fill", "none"); line.setAttribute("stroke", colour);
    svg.appendChild(line);
  }
  return svg;
}

const modelsById = new Map();
async function loadModels() {
  const { models } = await api("GET", "/api/models");
  for (const m of models) modelsById.set(m.id, m);
  const body = $("models").tBodies[0], select = $("model"), chosen = select.value;
  body.replaceChildren(); select.replaceChildren();
  for (const m of models) {
    const row = body.insertRow(); row.className = "model";
    cell(row, m.name);
    if (!m.available) { cell(row, "cannot be opened: " + m.error).colSpan = 5; continue; }
    cell(row, m.encoding); cell(row, m.dataset + " (" + m.train_sequences + " / " + m.valid_sequences + ")");
    cell(row, m.parameters.toLocaleString() + " (" + m.layers + "×" + m.hidden + ")");
    cell(row, m.best_valid_loss === null ? "—" : m.best_valid_loss.toFixed(3));
    row.insertCell().appendChild(lossCurve(m.loss_curve));
    const option = new Option(m.name + " (" + m.encoding + ")", m.id); select.add(option);
    row.addEventListener("click", () => { select.value = m.id; markChosen(); });
  }
  // A list read again (a run got its weights) keeps the model chosen.
  if (chosen && [...select.options].some((o) => o.value === chosen)) select.value = chosen;
  $("models-note").textContent = models.length ? "" : "No trained runs under --runs yet (musegen train --run-dir runs/NAME).";
  markChosen();
}

// The instruments field, for a model that knows several (multitrack).
function showInstruments() {
  const m = modelsById.get($("model").value);
  const known = m && m.instruments ? m.instruments : [];
  $("instruments-label").hidden = known.length === 0;
  $("instruments").placeholder = known.length ? "e.g. " + known.slice(0, 3).join(", ") + " (at most " + m.max_parts + ")" : "";
  $("instrument-names").replaceChildren(...known.map((n) => new Option(n)));
}

// The pieces of the chosen model's data to start from (primer.sequence), read once per model.
const primersByModel = new Map();
async function showPrimers() {
  const id = $("model").value, select = $("primer-piece");
  if (!id || !modelsById.get(id) || !modelsById.get(id).available) { select.replaceChildren(new Option("picked by the seed", "-1")); return; }
  if (!primersByModel.has(id)) primersByModel.set(id, await api("GET", "/api/models/" + id + "/primers"));
  if ($("model").value !== id) return;  // another model was chosen meanwhile
  const { split, total, primers } = primersByModel.get(id);
  const options = [new Option("picked by the seed", "-1")];
  for (const p of primers) options.push(new Option(p.name + " (" + p.steps + " steps)", String(p.index)));
  if (total > primers.length) options.push(Object.assign(new Option("… " + (total - primers.length) + " more in the " + split + " split", ""), { disabled: true }));
  select.replaceChildren(...options);
}

function showPrimerFields() {
  const kind = $("primer-kind").value;
  $("primer-file-label").hidden = kind !== "file";
  $("primer-piece-label").hidden = kind !== "data";
}

function markChosen() {
  showInstruments();
  showPrimers().catch(showError);
  const rows = $("models").tBodies[0].rows, options = $("model").options;
  let k = 0;
  for (const row of rows) {
    if (row.cells.length < 6) { row.classList.remove("chosen"); continue; }
    row.classList.toggle("chosen", options[k] && options[k].value === $("model").value);
    k++;
  }
}

function fileAsBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",")[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function request() {
  const body = { model: $("model").value };
  const length = Number($("length").value);
  if ($("length-unit").value === "steps") body.steps = Math.round(length); else body.seconds = length;
  body.temperature = Number($("temperature").value);
  body.top_k = Math.round(Number($("top_k").value));
  body.top_p = Number($("top_p").value);
  body.seed = Math.round(Number($("seed").value));
  body.tempo = Number($("tempo").value);
  const kind = $("primer-kind").value, steps = Math.round(Number($("primer-steps").value));
  const instruments = $("instruments-label").hidden ? [] : $("instruments").value.split(",").map((s) => s.trim()).filter((s) => s);
  if (instruments.length) body.instruments = instruments;
  // With an ensemble chosen, a piece of the data (written for its own ensemble) is no primer.
  if (kind === "none" || (kind === "data" && instruments.length)) body.primer = { steps: 0 };
  else if (kind === "data") body.primer = { steps, sequence: Number($("primer-piece").value) };
  else {
    const file = $("primer-file").files[0];
    if (!file) throw new Error("primer: choose a MIDI file");
    body.primer = { steps, midi_base64: await fileAsBase64(file) };
  }
  return body;
}

async function follow(job) {
  currentJob = job.id;
  $("job").hidden = false;
  while (job.state === "queued" || job.state === "running") {
    $("job-stage").textContent = job.stage;
    $("job-progress").max = Math.max(1, job.progress.total);
    $("job-progress").value = job.progress.done;
    await new Promise((r) => setTimeout(r, 150));
    job = await api("GET", "/api/jobs/" + job.id);
  }
  $("job").hidden = true;
  currentJob = null;
  if (job.state === "done") { await showPiece(job.piece); await loadHistory(); }
  else if (job.state === "failed") showError(new Error("the generation failed: " + job.error));
  else showError(new Error("cancelled"));
}

async function showPiece(id) {
  const piece = await api("GET", "/api/pieces/" + id);
  $("piece").hidden = false;
  $("piece-id").textContent = id;
  await showRoll(piece.files.svg);
  $("audio").src = piece.files.wav;
  $("download-midi").href = piece.files.midi; $("download-midi").download = id + ".mid";
  $("download-wav").href = piece.files.wav; $("download-wav").download = id + ".wav";
  $("download-svg").href = piece.files.svg; $("download-svg").download = id + ".svg";
  $("regenerate").dataset.piece = id;
  // The model's data, measured as the piece is: the server computes it once per model.
  const data = await api("GET", "/api/models/" + piece.model.id + "/data-metrics").catch(() => null);
  const body = $("metrics").tBodies[0];
  body.replaceChildren();
  const shown = (v) => v === null || v === undefined ? "—" : typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : String(v);
  for (const [key, value] of Object.entries(piece.metrics)) {
    const row = body.insertRow();
    cell(row, key.replaceAll("_", " "));
    cell(row, shown(value));
    const d = data && data.metrics[key];
    cell(row, d ? shown(d.mean) + " ± " + shown(d.std) : "");
  }
}

// The roll drawn inline (not as an <img>), so that a playhead can be laid over it. Its time
// axis is read from the SVG's own ticks: the first and the last tick line with their labels
// (seconds) give the x of any time.
let rollTime = null;
async function showRoll(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error("the piano roll: " + res.status);
  const doc = new DOMParser().parseFromString(await res.text(), "image/svg+xml");
  const svg = document.importNode(doc.documentElement, true);
  if (svg.nodeName !== "svg") throw new Error("the piano roll is not an SVG");
  $("roll").replaceChildren(svg);
  const ticks = [...svg.querySelectorAll("line.tick")], labels = [...svg.querySelectorAll("text.tick-label")];
  const frame = [...svg.querySelectorAll("line.axis")];
  rollTime = null;
  if (ticks.length >= 2 && labels.length === ticks.length) {
    const t0 = Number(labels[0].textContent), t1 = Number(labels[labels.length - 1].textContent);
    const x0 = Number(ticks[0].getAttribute("x1")), x1 = Number(ticks[ticks.length - 1].getAttribute("x1"));
    const top = Math.min(...frame.map((l) => Number(l.getAttribute("y1")))), bottom = Math.max(...frame.map((l) => Number(l.getAttribute("y2"))));
    if (t1 > t0) rollTime = { t0, x0, scale: (x1 - x0) / (t1 - t0), right: Math.max(...frame.map((l) => Number(l.getAttribute("x2")))) };
    const head = document.createElementNS("http://www.w3.org/2000/svg", "line");
    head.setAttribute("class", "playhead");
    head.setAttribute("y1", top); head.setAttribute("y2", bottom);
    svg.appendChild(head);
    movePlayhead();
  }
}

function movePlayhead() {
  const head = document.querySelector("#roll .playhead");
  if (!head || !rollTime) return;
  const x = Math.min(rollTime.right, rollTime.x0 + ($("audio").currentTime - rollTime.t0) * rollTime.scale);
  head.setAttribute("x1", x.toFixed(1)); head.setAttribute("x2", x.toFixed(1));
}
// timeupdate comes four times a second; while playing, every frame moves it smoothly.
function followAudio() { movePlayhead(); if (!$("audio").paused) requestAnimationFrame(followAudio); }
$("audio").addEventListener("play", () => requestAnimationFrame(followAudio));
$("audio").addEventListener("timeupdate", movePlayhead);
$("audio").addEventListener("seeked", movePlayhead);

// Training runs: the list every few seconds, and of each run only the rows after the last
// step the page has (GET /api/runs/{id}/metrics?after=STEP).
const runCurves = new Map();
let modelsWithWeights = -1;
async function pollRuns() {
  const { runs } = await api("GET", "/api/runs");
  const body = $("runs").tBodies[0];
  body.replaceChildren();
  const withWeights = runs.filter((r) => r.has_weights).length;
  if (modelsWithWeights >= 0 && withWeights !== modelsWithWeights) await loadModels();
  modelsWithWeights = withWeights;
  for (const r of runs) {
    let known = runCurves.get(r.id);
    if (!known) { known = { points: [], last: -1 }; runCurves.set(r.id, known); }
    while (r.last_step > known.last) {
      const m = await api("GET", "/api/runs/" + r.id + "/metrics?after=" + known.last);
      if (m.points.length === 0) break;
      known.points.push(...m.points);
      known.last = m.points[m.points.length - 1].step;
      if (!m.more) break;
    }
    const row = body.insertRow();
    cell(row, r.name); cell(row, r.training ? "training" : r.has_weights ? "trained" : "stopped");
    cell(row, String(r.last_step));
    const step = Math.max(1, Math.floor(known.points.length / 400));
    row.insertCell().appendChild(lossCurve(known.points.filter((p, i) => i % step === 0 || i === known.points.length - 1), 320, 60));
  }
}
function keepPolling() { pollRuns().catch(() => {}).finally(() => setTimeout(keepPolling, 3000)); }

async function loadHistory() {
  const { pieces } = await api("GET", "/api/pieces");
  const body = $("history").tBodies[0];
  body.replaceChildren();
  for (const p of pieces) {
    const row = body.insertRow();
    cell(row, p.created); cell(row, p.model.name);
    cell(row, "steps" in p.parameters ? p.parameters.steps + " steps" : p.parameters.seconds + " s");
    cell(row, String(p.parameters.seed));
    const open = document.createElement("button"); open.type = "button"; open.textContent = "open";
    open.addEventListener("click", () => showPiece(p.id).catch(showError));
    row.insertCell().appendChild(open);
  }
}

$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(null);
  try { await follow(await api("POST", "/api/generate", await request())); } catch (e) { showError(e); }
});
$("cancel").addEventListener("click", () => { if (currentJob) api("POST", "/api/jobs/" + currentJob + "/cancel", {}).catch(showError); });
$("regenerate").addEventListener("click", async () => {
  showError(null);
  try { await follow(await api("POST", "/api/pieces/" + $("regenerate").dataset.piece + "/regenerate", {})); } catch (e) { showError(e); }
});
$("new-seed").addEventListener("click", () => { $("seed").value = Math.floor(Math.random() * 2 ** 31); });
$("primer-kind").addEventListener("change", showPrimerFields);
$("model").addEventListener("change", markChosen);
$("seed").value = Math.floor(Math.random() * 2 ** 31);
loadModels().then(loadHistory).catch(showError).finally(keepPolling);
</script>
</body>
</html>
)html";
}

}  // namespace musegen::server
