// denselab serve: the page. Talks to the JSON API and the job's event stream; no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const state = { session: null, options: null, upload: null, job: null, setup: null, preview: null,
                histories: {}, t0: 0, firstFrame: null, frames: 0, running: false, paused: false };
window.denselab = state;
// the settings kept in the page URL (uploads are not: a link cannot carry the file)
const URL_FIELDS = ["source", "points", "test_size", "initializer", "l1", "l2", "optimizer", "learning_rate",
                    "batch_size", "epochs", "noise_sigma", "noise_fraction", "seed", "speed", "vary", "members",
                    "learning_rates"];

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new Error(body && body.error ? body.error : `${response.status} ${response.statusText}`);
  return body;
}
const sessionPath = (rest) => `/api/sessions/${state.session}${rest}`;
const post = (rest, body) => api(sessionPath(rest), { method: "POST", headers: { "content-type": "application/json" },
                                                     body: JSON.stringify(body || {}) });

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

function fillSelect(select, values, chosen) {
  select.innerHTML = "";
  for (const v of values) {
    const o = document.createElement("option");
    o.value = typeof v === "object" ? v.value : v;
    o.textContent = typeof v === "object" ? v.label : v;
    select.appendChild(o);
  }
  if (chosen !== undefined && chosen !== null) select.value = chosen;
}

const escapeHtml = (t) => String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");

// --- the form ---------------------------------------------------------------------
function addLayer(units = 8, activation = "relu", dropout = 0) {
  const row = document.createElement("div");
  row.className = "layer";
  row.innerHTML = `<span></span><input type="number" class="units" min="1" max="1024" value="${units}" title="neurons">
    <select title="activation"></select>
    <input type="number" class="rate" min="0" max="0.9" step="0.05" value="${dropout}" title="dropout rate after this layer">
    <button type="button" title="remove this layer">×</button>`;
  fillSelect(row.querySelector("select"), state.options.activations, activation);
  row.querySelector("button").onclick = () => { if ($("layers").children.length > 1) { row.remove(); numberLayers(); saveUrl(); } };
  row.querySelectorAll("input, select").forEach((el) => { el.oninput = saveUrl; el.onchange = saveUrl; });
  $("layers").appendChild(row);
  numberLayers();
}

function numberLayers() {
  [...$("layers").children].forEach((row, i) => { row.querySelector("span").textContent = `layer ${i + 1}`; });
  $("add-layer").disabled = $("layers").children.length >= state.options.max_layers;
}

function layersForm() {
  return [...$("layers").children].map((row) => ({ units: Number(row.querySelector(".units").value),
    activation: row.querySelector("select").value, dropout: Number(row.querySelector(".rate").value) }));
}

function onSource() {
  const value = $("source").value;
  const upload = value === "upload";
  $("upload-box").hidden = !upload;
  const ds = state.options.datasets.find((d) => d.name === value);
  $("points-row").hidden = !(ds && ds.generated);
  $("about").textContent = ds ? ds.about : "any number of numeric or text columns; pick the target and features below";
  saveUrl();
  drawPreview();
}

function uploadInfo(info) {
  state.upload = info;
  const sheets = info.sheets || [];
  $("sheet-row").hidden = sheets.length < 2;
  if (sheets.length) fillSelect($("sheet"), sheets, info.sheet);
  fillSelect($("target"), info.columns, info.target);
  $("columns").hidden = false;
  $("features").dataset.target = "";
  const missing = Object.entries(info.missing || {});
  $("missing-note").textContent = missing.length
    ? `${info.missing_rows} of ${info.rows} rows have a missing value (${missing.map(([c, n]) => `${c}: ${n}`).join(", ")})`
    : "no missing values in this table";
  $("upload-note").textContent = `${info.name}${info.sheet ? ` · sheet ${info.sheet}` : ""}: ${info.rows} rows, ${info.columns.length} columns`;
  onUploadColumns();
}

function onUploadColumns() {
  const up = state.upload;
  const target = $("target").value;
  const box = $("features");
  const checked = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
  const fresh = box.dataset.target !== target;
  box.innerHTML = "";
  for (const c of up.columns) {
    if (c === target) continue;
    const l = document.createElement("label");
    l.innerHTML = `<input type="checkbox" value="${escapeHtml(c)}"> ${escapeHtml(c)}`;
    l.querySelector("input").checked = fresh || checked.has(c);
    l.querySelector("input").onchange = onFeatures;
    box.appendChild(l);
  }
  box.dataset.target = target;
  onFeatures();
}

function onFeatures() {
  const chosen = [...$("features").querySelectorAll("input:checked")].map((i) => i.value);
  const numeric = chosen.filter((c) => state.upload.numeric.includes(c));
  const x = $("map-x").value, y = $("map-y").value;
  fillSelect($("map-x"), numeric, numeric.includes(x) ? x : numeric[0]);
  fillSelect($("map-y"), numeric, numeric.includes(y) && y !== $("map-x").value ? y : numeric.find((c) => c !== $("map-x").value));
  drawPreview();
}

async function onFile() {
  const file = $("file").files[0];
  if (!file) return;
  showError("");
  $("columns").hidden = true;
  state.upload = null;
  $("upload-note").textContent = `uploading ${file.name}…`;
  try {  // the file itself is the body: the server caps it while it streams in
    uploadInfo(await api(sessionPath(`/uploads?name=${encodeURIComponent(file.name)}`), { method: "POST", body: file }));
  } catch (e) {
    $("upload-note").textContent = "";
    showError(e.message);
  }
}

async function onSheet() {
  showError("");
  try {
    uploadInfo(await api(sessionPath(`/uploads/${state.upload.upload}?sheet=${encodeURIComponent($("sheet").value)}`)));
  } catch (e) { showError(e.message); }
}

function num(id) { return $(id).value === "" ? null : Number($(id).value); }

function formData() {
  const form = {
    hidden: layersForm(), initializer: $("initializer").value, optimizer: $("optimizer").value,
    vary: $("vary").value, learning_rates: $("learning_rates").value, speed: $("speed").value,
  };
  for (const id of ["points", "test_size", "l1", "l2", "learning_rate", "batch_size", "epochs",
                    "noise_sigma", "noise_fraction", "seed", "members"]) form[id] = num(id);
  Object.assign(form, dataForm());
  return form;
}

function dataForm() {
  if ($("source").value !== "upload") return { source: $("source").value, points: num("points"), test_size: num("test_size") };
  if (!state.upload) throw new Error("upload: choose a csv or xlsx file first");
  const form = { source: `upload:${state.upload.upload}`, target: $("target").value, missing: $("missing").value,
                 test_size: num("test_size"),
                 features: [...$("features").querySelectorAll("input:checked")].map((i) => i.value),
                 map: [$("map-x").value, $("map-y").value].filter(Boolean) };
  if (state.upload.sheet) form.sheet = state.upload.sheet;
  if (!form.features.length) throw new Error("data.features: tick at least one feature");
  return form;
}

// --- settings in the URL -------------------------------------------------------------
function saveUrl() {
  if (!state.options) return;
  const q = new URLSearchParams();
  for (const id of URL_FIELDS) if ($(id).value !== "") q.set(id, $(id).value);
  q.set("layers", layersForm().map((l) => `${l.units}:${l.activation}:${l.dropout}`).join(","));
  history.replaceState(null, "", `${location.pathname}?${q}`);
}

function loadUrl() {
  const q = new URLSearchParams(location.search);
  for (const id of URL_FIELDS) {
    if (!q.has(id)) continue;
    const el = $(id), value = q.get(id);
    if (el.tagName === "SELECT" && ![...el.options].some((o) => o.value === value)) continue;
    el.value = value;
  }
  const layers = (q.get("layers") || "").split(",").filter(Boolean).map((t) => t.split(":"))
    .filter(([u]) => Number(u) >= 1).slice(0, state.options.max_layers);
  if (layers.length) {
    $("layers").innerHTML = "";
    for (const [u, a, d] of layers) addLayer(Number(u), state.options.activations.includes(a) ? a : "relu", Number(d) || 0);
  }
}

// --- the data before training: the points, coloured by their class or value ------------------
let previewSeq = 0;
async function drawPreview() {
  if (state.running) return;
  let form;
  try { form = dataForm(); } catch (e) { return; }
  const seq = ++previewSeq;
  try {
    const p = await post("/preview", { ...form, seed: num("seed") });
    if (seq !== previewSeq || state.running) return;
    showError("");
    state.preview = p;
    state.setup = null;
    if (!p.map) { Plotly.react("map-plot", [], mapLayoutEmpty("no map: it needs two numeric features")); drawLegend(p); return; }
    describeMap(p);
    await Plotly.react("map-plot", [pointsTrace(p)], mapLayout(p), { responsive: true, displaylogo: false });
    document.body.dataset.preview = String(p.map.points.x.length);
  } catch (e) {
    if (seq === previewSeq) showError(e.message);
  }
}

function describeMap(s) {
  const m = s.map;
  const cls = s.task === "classification";
  const over = ` over ${m.fx} × ${m.fy}`;
  $("map-title").textContent = !s.metric ? `The data: ${s.target}${over}`
    : cls ? (s.binary ? `Decision boundary: P(${s.target} = ${s.classes[1]})${over}` : `Predicted class of ${s.target}${over}`)
          : `Predicted ${s.target}${over}`;
  const held = Object.entries(m.held);
  const spread = s.metric && cls && s.binary && s.labels.length > 1 ? "lines: where each network's P = 0.5 (their spread) · " : "";
  $("map-note").textContent = (s.metric ? "colour: network 1 · " : "") + spread + "dots: training rows"
    + (held.length ? ` · the map shows ${m.fx} (horizontal) and ${m.fy} (vertical); the ${held.length} other feature(s) are held at their median / most common value: `
      + `${held.slice(0, 6).map(([k, v]) => `${k}=${v}`).join(", ")}${held.length > 6 ? "…" : ""}` : "");
  drawLegend(s);
}

function drawLegend(s) {
  const box = $("legend");
  if (s.task !== "classification") { box.innerHTML = s.map ? `<span>dots and colour: the value of ${escapeHtml(s.target)}</span>` : ""; return; }
  box.innerHTML = s.classes.map((c, j) => `<span><i style="background:${classColor(s, j)}"></i>${escapeHtml(s.target)} = ${escapeHtml(c)}</span>`).join("");
}

const classColor = (s, j) => (s.classes.length === 2 ? ["#1f77b4", "#d62728"][j] : COLORS[j % 10]);

function pointsTrace(s) {
  const p = s.map.points;
  const cls = s.task === "classification";
  const marker = cls ? { size: 5, color: p.c.map((c) => classColor(s, c)), line: { width: 0.5, color: "#fff" } }
                     : { size: 5, color: p.c, colorscale: "Viridis", line: { width: 0.5, color: "#fff" } };
  return { type: "scattergl", mode: "markers", x: p.x, y: p.y, marker, hoverinfo: "x+y", name: "rows" };
}

// --- training and its live view ------------------------------------------------------
function lock(on) {
  state.running = on;
  for (const f of document.querySelectorAll("#form fieldset")) f.disabled = on;
  $("locked").hidden = !on;
  $("train").disabled = on;
  for (const id of ["pause", "step", "stop"]) $(id).disabled = !on;
  $("pause").textContent = "❚❚ Pause";
  state.paused = false;
}

async function train() {
  showError("");
  let form;
  try { form = formData(); } catch (e) { showError(e.message); return; }
  if (state.events) state.events.close();
  saveUrl();
  Object.assign(state, { t0: performance.now(), firstFrame: null, frames: 0, drawn: 0, setup: null, histories: {},
                         lastFrame: null, lastMaps: null, states: [] });
  delete document.body.dataset.done;
  delete document.body.dataset.stopped;
  $("results").hidden = true;
  $("timing").textContent = "";
  $("progress-fill").style.width = "0";
  $("status").textContent = "starting…";
  lock(true);
  let job;
  try {
    job = await post("/jobs", form);
  } catch (e) {
    showError(e.message);
    $("status").textContent = "ready";
    lock(false);
    return;
  }
  state.job = job.job;
  const events = new EventSource(sessionPath(`/jobs/${job.job}/events`));
  state.events = events;
  const end = () => { events.close(); lock(false); };
  events.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    $("status").textContent = s.state === "running" && state.lastFrame ? statusLine(state.lastFrame) : s.message;
    document.body.dataset.state = s.state;
    state.states.push(s.state);
  });
  events.addEventListener("setup", (e) => onSetup(JSON.parse(e.data)));
  events.addEventListener("frame", (e) => onFrame(JSON.parse(e.data)));
  events.addEventListener("done", (e) => { onResults(JSON.parse(e.data), false); end(); });
  events.addEventListener("stopped", (e) => { onResults(JSON.parse(e.data), true); end(); });
  events.addEventListener("error", (e) => {
    if (e.data) { showError(JSON.parse(e.data).message); $("status").textContent = "failed"; }
    else if (events.readyState !== EventSource.CLOSED) return; // transient; the browser reconnects
    end();
  });
}

async function control(action) {
  if (!state.job) return;
  try { return await post(`/jobs/${state.job}/control`, { action }); } catch (e) { showError(e.message); }
}

function stop() { $("stop").disabled = true; state.stopClicked = performance.now(); return control("stop"); }

function pause() {
  state.paused = !state.paused;
  $("pause").textContent = state.paused ? "▶ Resume" : "❚❚ Pause";
  return control(state.paused ? "pause" : "resume");
}

function step() {
  state.paused = true;
  $("pause").textContent = "▶ Resume";
  return control("step");
}

async function reset() {
  if (state.running) await stop();
  if (state.events) state.events.close();
  lock(false);
  Object.assign(state, { setup: null, histories: {}, lastFrame: null, lastMaps: null, job: null });
  $("results").hidden = true;
  $("timing").textContent = "";
  $("progress-fill").style.width = "0";
  $("status").textContent = "ready";
  Plotly.react("loss-plot", [], lossLayoutEmpty());
  drawPreview();
}

function onSetup(setup) {
  state.setup = setup;
  $("status").textContent = `training ${setup.labels.length} network(s) on ${setup.rows_train} rows…`;
  if (!setup.map) {
    $("map-title").textContent = "What the network predicts";
    $("map-note").textContent = "no map: it needs two numeric features";
    $("legend").innerHTML = "";
    Plotly.purge("map-plot");
    return;
  }
  describeMap(setup);
}

function lossTraces(histories) {
  const traces = [];
  const labels = state.setup.labels;
  for (const [i, h] of Object.entries(histories)) {
    const color = COLORS[i % COLORS.length];
    const x = h.loss.map((_, k) => k + 1);
    const name = labels.length > 1 ? labels[i] : "";
    traces.push({ x, y: h.loss, name: `${name} train`.trim(), mode: "lines", line: { color, width: 2 }, legendgroup: i });
    traces.push({ x, y: h.val_loss, name: `${name} test`.trim(), mode: "lines", line: { color, width: 2, dash: "dash" }, legendgroup: i });
  }
  return traces;
}

function mapTraces(maps) {
  const s = state.setup, m = s.map;
  const cls = s.task === "classification";
  const traces = [];
  const first = maps["0"];
  if (first) {
    const heat = { type: "heatmap", x: m.x, y: m.y, z: first, hoverinfo: "x+y+z", showscale: !cls || s.binary, opacity: 0.85 };
    if (cls && s.binary) Object.assign(heat, { zmin: 0, zmax: 1, colorscale: [[0, "#9ecae1"], [0.5, "#f7f7f7"], [1, "#fcae91"]],
                                              colorbar: { title: { text: "P" }, len: 0.8 } });
    else if (cls) {
      const k = s.classes.length;
      Object.assign(heat, { zmin: -0.5, zmax: k - 0.5,
        colorscale: s.classes.flatMap((_, j) => [[j / k, classColor(s, j)], [(j + 1) / k, classColor(s, j)]]), opacity: 0.35 });
    } else Object.assign(heat, { colorscale: "Viridis", colorbar: { title: { text: s.target }, len: 0.8 } });
    traces.push(heat);
  }
  if (cls && s.binary) {
    for (const [i, z] of Object.entries(maps)) {
      traces.push({ type: "contour", x: m.x, y: m.y, z, showscale: false, hoverinfo: "skip",
        contours: { start: 0.5, end: 0.5, size: 1, coloring: "lines" }, name: s.labels[i],
        line: { width: i === "0" ? 3 : 1.5 },
        colorscale: [[0, s.labels.length > 1 ? COLORS[i % 10] : "#222"], [1, s.labels.length > 1 ? COLORS[i % 10] : "#222"]] });
    }
  }
  traces.push(pointsTrace(s));
  return traces;
}

const lossLayout = () => ({ margin: { l: 50, r: 10, t: 10, b: 40 }, xaxis: { title: { text: "epoch" } },
  yaxis: { title: { text: "loss" }, rangemode: "tozero" }, legend: { orientation: "h", y: -0.18 }, uirevision: state.job });
const mapLayout = (s) => ({ margin: { l: 50, r: 10, t: 10, b: 40 }, showlegend: false, uirevision: state.job || "preview",
  xaxis: { title: { text: s.map.fx } }, yaxis: { title: { text: s.map.fy } } });

function addHistories(frame) {
  for (const [i, h] of Object.entries(frame.histories)) {
    const mine = state.histories[i] || (state.histories[i] = {});
    for (const [k, values] of Object.entries(h)) {
      const kept = (mine[k] || []).slice(0, frame.start);
      mine[k] = kept.concat(values);
    }
  }
}

function statusLine(frame) {
  const h = state.histories["0"];
  const last = (a) => (a && a.length ? a[a.length - 1] : null);
  const metric = state.setup.metric;
  const fmt = (v) => (v === null || v === undefined ? "–" : v.toFixed(metric === "mse" ? 4 : 3));
  return `epoch ${frame.epoch}/${frame.total} · train loss ${fmt(last(h.loss))} · test loss ${fmt(last(h.val_loss))}`
    + ` · test ${metric} ${fmt(last(h["val_" + metric]))}${state.paused ? " · paused" : ""}`;
}

function onFrame(frame) {
  if (!state.setup) return;
  addHistories(frame);
  state.lastFrame = { ...frame, histories: state.histories };
  if (frame.maps && Object.keys(frame.maps).length) state.lastMaps = frame.maps;
  state.frames += 1;
  document.body.dataset.frames = state.frames;
  // draw the newest frame once the browser is ready for it: a slow machine skips frames, never lags behind
  if (!state.drawing) state.drawing = requestAnimationFrame(draw);
}

async function draw() {
  const frame = state.lastFrame;
  try {
    const work = [Plotly.react("loss-plot", lossTraces(frame.histories), lossLayout(), { responsive: true, displaylogo: false })];
    if (state.setup.map && state.lastMaps)
      work.push(Plotly.react("map-plot", mapTraces(state.lastMaps), mapLayout(state.setup), { responsive: true, displaylogo: false }));
    await Promise.all(work);
  } finally {
    state.drawing = null;
  }
  state.drawn = (state.drawn || 0) + 1;
  if (state.firstFrame === null) {
    state.firstFrame = (performance.now() - state.t0) / 1000;
    $("timing").textContent = `first frame ${state.firstFrame.toFixed(2)} s after pressing Train`;
  }
  if (state.running) {  // a frame drawn after the end must not overwrite the final status
    $("progress-fill").style.width = `${Math.round(100 * frame.epoch / frame.total)}%`;
    $("status").textContent = statusLine(frame);
  }
  if (state.lastFrame !== frame && !state.drawing) state.drawing = requestAnimationFrame(draw);  // newer arrived meanwhile
}

function onResults(done, stopped) {
  if (stopped && state.stopClicked) state.stopLatency = (performance.now() - state.stopClicked) / 1000;
  state.stopClicked = null;
  if (!done.scores) {  // stopped before the first frame: nothing to keep
    $("status").textContent = done.message || "stopped";
    document.body.dataset.stopped = "1";
    return;
  }
  const metric = done.metric;
  const f = (v, d = 4) => (v === null || v === undefined ? "–" : v.toFixed(d));  // null: the network diverged
  const rows = done.scores.map((s) => `<tr><td>${escapeHtml(s.label)}</td><td>${f(s.loss)}</td><td>${f(s[metric])}</td></tr>`);
  if (done.scores.length > 1) rows.push(`<tr class="mean"><td>mean ± std</td><td></td><td>${f(done.mean)} ± ${f(done.std)}</td></tr>`);
  $("scores").innerHTML = `<tr><th>network</th><th>test loss</th><th>test ${metric}</th></tr>` + rows.join("");
  $("results-title").textContent = stopped ? `Stopped at epoch ${done.epoch}: result on the test rows so far` : "Result on the test rows";
  for (const k of ["model", "labels", "script", "spec", "report"]) $(`dl-${k}`).href = done.downloads[k];
  $("results").hidden = false;
  if (stopped) {
    $("status").textContent = `${done.message || "stopped"} at epoch ${done.epoch} · test ${metric} ${f(done.mean, 3)}`;
    document.body.dataset.stopped = "1";
    return;
  }
  $("progress-fill").style.width = "100%";
  $("status").textContent = `done · test ${metric} ${f(done.mean, 3)}${done.scores.length > 1 ? ` ± ${f(done.std, 3)} over ${done.scores.length} networks` : ""}`;
  const paced = $("speed").value === "live" ? " (paced for watching)" : "";
  $("timing").textContent += `${$("timing").textContent ? " · " : ""}training ${done.train_s.toFixed(2)} s${paced}, compiling ${done.compile_s.toFixed(2)} s`;
  document.body.dataset.done = "1";
}

async function downloadReport(e) {
  e.preventDefault();
  const link = $("dl-report");
  $("report-status").textContent = "running cross-validation for the report…";
  try {
    const response = await fetch(link.href);
    if (!response.ok) throw new Error((await response.json()).error);
    const url = URL.createObjectURL(await response.blob());
    const a = document.createElement("a");
    a.href = url; a.download = "report.zip"; a.click();
    $("report-status").textContent = "";
  } catch (err) {
    $("report-status").textContent = "";
    showError(err.message);
  }
}

async function init() {
  state.options = await api("/api/options");
  state.session = (await api("/api/sessions", { method: "POST" })).session;
  const sets = state.options.datasets.map((d) => ({ value: d.name, label: d.name }));
  sets.push({ value: "upload", label: "upload a CSV / xlsx…" });
  fillSelect($("source"), sets, "f1");
  fillSelect($("optimizer"), state.options.optimizers, "adam");
  fillSelect($("initializer"), state.options.initializers, "glorot_uniform");
  $("limit").textContent = String(+(state.options.max_upload_bytes / 1048576).toFixed(1));
  addLayer(8, "relu");
  addLayer(8, "relu");
  loadUrl();
  for (const id of URL_FIELDS) for (const kind of ["input", "change"]) $(id).addEventListener(kind, saveUrl);
  for (const id of ["points", "test_size", "seed"]) $(id).addEventListener("change", drawPreview);
  $("source").onchange = onSource;
  $("file").onchange = onFile;
  $("sheet").onchange = onSheet;
  $("target").onchange = onUploadColumns;
  $("missing").onchange = drawPreview;
  $("map-x").onchange = onFeatures;
  $("map-y").onchange = drawPreview;
  $("add-layer").onclick = () => { addLayer(); saveUrl(); };
  const onVary = () => { const lr = $("vary").value === "learning_rate"; $("lrs-row").hidden = !lr; $("members-row").hidden = lr; };
  $("vary").addEventListener("change", onVary);
  onVary();
  $("train").onclick = train;
  $("stop").onclick = stop;
  $("pause").onclick = pause;
  $("step").onclick = step;
  $("reset").onclick = reset;
  $("dl-report").onclick = downloadReport;
  window.addEventListener("pagehide", () => navigator.sendBeacon(sessionPath("/close")));
  Plotly.newPlot("loss-plot", [], lossLayoutEmpty(), { responsive: true, displaylogo: false });
  Plotly.newPlot("map-plot", [], mapLayoutEmpty("the data appear here"), { responsive: true, displaylogo: false });
  onSource();
  document.body.dataset.ready = "1";
}

const lossLayoutEmpty = () => ({ margin: { l: 50, r: 10, t: 10, b: 40 }, xaxis: { title: { text: "epoch" } }, yaxis: { title: { text: "loss" } },
  annotations: [{ text: "press Train", showarrow: false, font: { color: "#999", size: 16 }, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }] });
const mapLayoutEmpty = (text) => ({ margin: { l: 50, r: 10, t: 10, b: 40 }, xaxis: { visible: false }, yaxis: { visible: false },
  annotations: [{ text, showarrow: false, font: { color: "#999", size: 16 }, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }] });

init().catch((e) => showError(`could not start: ${e.message}`));
