// denselab serve: the page. Talks to the JSON API and the job's event stream; no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const state = { session: null, options: null, upload: null, job: null, source: null, setup: null,
                t0: 0, firstFrame: null, frames: 0 };
window.denselab = state;

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new Error(body && body.error ? body.error : `${response.status} ${response.statusText}`);
  return body;
}

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
  if (chosen !== undefined) select.value = chosen;
}

// --- the form ---------------------------------------------------------------------
function addLayer(units = 8, activation = "relu") {
  const row = document.createElement("div");
  row.className = "layer";
  row.innerHTML = `<span></span><input type="number" min="1" max="1024" value="${units}" title="neurons">
    <select title="activation"></select><button type="button" title="remove this layer">×</button>`;
  fillSelect(row.querySelector("select"), state.options.activations, activation);
  row.querySelector("button").onclick = () => { if ($("layers").children.length > 1) { row.remove(); numberLayers(); } };
  $("layers").appendChild(row);
  numberLayers();
}

function numberLayers() {
  [...$("layers").children].forEach((row, i) => { row.querySelector("span").textContent = `layer ${i + 1}`; });
  $("add-layer").disabled = $("layers").children.length >= state.options.max_layers;
}

function onSource() {
  const value = $("source").value;
  const upload = value === "upload";
  $("upload-box").hidden = !upload;
  const ds = state.options.datasets.find((d) => d.name === value);
  $("points-row").hidden = !(ds && ds.generated);
  $("about").textContent = ds ? ds.about : "any number of numeric or text columns; pick the target and features below";
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
    l.innerHTML = `<input type="checkbox" value="${c.replace(/"/g, "&quot;")}"> ${c.replace(/</g, "&lt;")}`;
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
}

async function onFile() {
  const file = $("file").files[0];
  if (!file) return;
  showError("");
  $("columns").hidden = true;
  state.upload = null;
  const body = new FormData();
  body.append("file", file);
  try {
    state.upload = await api(`/api/sessions/${state.session}/uploads`, { method: "POST", body });
  } catch (e) {
    showError(e.message);
    return;
  }
  fillSelect($("target"), state.upload.columns, state.upload.target);
  $("columns").hidden = false;
  $("features").dataset.target = "";
  onUploadColumns();
  $("status").textContent = `${state.upload.name}: ${state.upload.rows} rows, ${state.upload.columns.length} columns`;
}

function num(id) { return $(id).value === "" ? null : Number($(id).value); }

function formData() {
  const form = {
    hidden: [...$("layers").children].map((row) => ({ units: Number(row.querySelector("input").value),
                                                      activation: row.querySelector("select").value })),
    initializer: $("initializer").value, optimizer: $("optimizer").value, vary: $("vary").value,
    learning_rates: $("learning_rates").value,
  };
  for (const id of ["points", "test_size", "dropout", "l1", "l2", "learning_rate", "batch_size", "epochs",
                    "noise_sigma", "noise_fraction", "seed", "members"]) form[id] = num(id);
  if ($("source").value === "upload") {
    if (!state.upload) throw new Error("upload: choose a csv or xlsx file first");
    form.source = `upload:${state.upload.upload}`;
    form.target = $("target").value;
    form.features = [...$("features").querySelectorAll("input:checked")].map((i) => i.value);
    if (!form.features.length) throw new Error("data.features: tick at least one feature");
    form.map = [$("map-x").value, $("map-y").value].filter(Boolean);
  } else {
    form.source = $("source").value;
  }
  return form;
}

// --- training and its live view ------------------------------------------------------
async function train() {
  showError("");
  let form;
  try { form = formData(); } catch (e) { showError(e.message); return; }
  if (state.events) state.events.close();
  state.t0 = performance.now();
  state.firstFrame = null;
  state.frames = 0;
  state.setup = null;
  $("results").hidden = true;
  $("timing").textContent = "";
  $("progress-fill").style.width = "0";
  $("status").textContent = "starting…";
  $("train").disabled = true;
  let job;
  try {
    job = await api(`/api/sessions/${state.session}/jobs`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(form) });
  } catch (e) {
    showError(e.message);
    $("status").textContent = "ready";
    $("train").disabled = false;
    return;
  }
  state.job = job.job;
  $("stop").disabled = false;
  const events = new EventSource(`/api/jobs/${job.job}/events`);
  state.events = events;
  const end = () => { events.close(); $("train").disabled = false; $("stop").disabled = true; };
  events.addEventListener("status", (e) => { $("status").textContent = JSON.parse(e.data).message; });
  events.addEventListener("setup", (e) => onSetup(JSON.parse(e.data)));
  events.addEventListener("frame", (e) => onFrame(JSON.parse(e.data)));
  events.addEventListener("done", (e) => { onDone(JSON.parse(e.data)); end(); });
  events.addEventListener("stopped", () => { $("status").textContent = "stopped"; end(); });
  events.addEventListener("error", (e) => {
    if (e.data) { showError(JSON.parse(e.data).message); $("status").textContent = "failed"; }
    else if (events.readyState !== EventSource.CLOSED) return; // transient; the browser reconnects
    end();
  });
}

async function stop() {
  if (!state.job) return;
  $("stop").disabled = true;
  try { await api(`/api/jobs/${state.job}/stop`, { method: "POST" }); } catch (e) { showError(e.message); }
}

function onSetup(setup) {
  state.setup = setup;
  $("status").textContent = `training ${setup.labels.length} network(s) on ${setup.rows_train} rows…`;
  const m = setup.map;
  if (!m) {
    $("map-title").textContent = "What the network predicts";
    $("map-note").textContent = "no map: it needs two numeric features";
    Plotly.purge("map-plot");
    return;
  }
  const cls = setup.task === "classification";
  $("map-title").textContent = cls ? (setup.binary ? `Decision boundary: P(${setup.target} = ${setup.classes[1]})`
                                                   : `Predicted class of ${setup.target}`)
                                   : `Predicted ${setup.target}`;
  const held = Object.entries(m.held);
  $("map-note").textContent = (cls && setup.binary && setup.labels.length > 1
      ? "colour: network 1 · lines: where each network's P = 0.5 (their spread) · " : "colour: network 1 · ")
    + "dots: training rows"
    + (held.length ? ` · others held at median/most common: ${held.slice(0, 6).map(([k, v]) => `${k}=${v}`).join(", ")}${held.length > 6 ? "…" : ""}` : "");
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
        colorscale: s.classes.flatMap((_, j) => [[j / k, COLORS[j % 10]], [(j + 1) / k, COLORS[j % 10]]]), opacity: 0.35 });
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
  const p = m.points;
  const marker = cls ? { size: 5, color: p.c.map((c) => s.binary ? (c ? "#d62728" : "#1f77b4") : COLORS[c % 10]),
                         line: { width: 0.5, color: "#fff" } }
                     : { size: 5, color: p.c, colorscale: "Viridis", line: { width: 0.5, color: "#fff" } };
  traces.push({ type: "scattergl", mode: "markers", x: p.x, y: p.y, marker, hoverinfo: "x+y", name: "rows" });
  return traces;
}

const lossLayout = () => ({ margin: { l: 50, r: 10, t: 10, b: 40 }, xaxis: { title: { text: "epoch" } },
  yaxis: { title: { text: "loss" }, rangemode: "tozero" }, legend: { orientation: "h", y: -0.18 }, uirevision: state.job });
const mapLayout = () => ({ margin: { l: 50, r: 10, t: 10, b: 40 }, showlegend: false, uirevision: state.job,
  xaxis: { title: { text: state.setup.map.fx } }, yaxis: { title: { text: state.setup.map.fy } } });

async function onFrame(frame) {
  if (!state.setup) return;
  state.lastFrame = frame;
  const work = [Plotly.react("loss-plot", lossTraces(frame.histories), lossLayout(), { responsive: true, displaylogo: false })];
  if (state.setup.map && frame.maps && Object.keys(frame.maps).length)
    work.push(Plotly.react("map-plot", mapTraces(frame.maps), mapLayout(), { responsive: true, displaylogo: false }));
  await Promise.all(work);
  state.frames += 1;
  if (state.firstFrame === null) {
    state.firstFrame = (performance.now() - state.t0) / 1000;
    $("timing").textContent = `first frame ${state.firstFrame.toFixed(2)} s after pressing Train`;
  }
  const pct = Math.round(100 * frame.epoch / frame.total);
  $("progress-fill").style.width = `${pct}%`;
  const h = frame.histories["0"];
  const last = (a) => a[a.length - 1];
  const metric = state.setup.metric;
  const fmt = (v) => (v === null || v === undefined ? "–" : v.toFixed(metric === "mse" ? 4 : 3));
  $("status").textContent = `epoch ${frame.epoch}/${frame.total} · train loss ${fmt(last(h.loss))} · test loss ${fmt(last(h.val_loss))}`
    + ` · test ${metric} ${fmt(last(h["val_" + metric]))}`;
  document.body.dataset.frames = state.frames;
}

function onDone(done) {
  const metric = done.metric;
  const rows = done.scores.map((s) => `<tr><td>${s.label}</td><td>${s.loss.toFixed(4)}</td><td>${s[metric].toFixed(4)}</td></tr>`);
  if (done.scores.length > 1) rows.push(`<tr class="mean"><td>mean ± std</td><td></td><td>${done.mean.toFixed(4)} ± ${done.std.toFixed(4)}</td></tr>`);
  $("scores").innerHTML = `<tr><th>network</th><th>test loss</th><th>test ${metric}</th></tr>` + rows.join("");
  $("dl-model").href = done.downloads.model;
  $("dl-spec").href = done.downloads.spec;
  $("dl-report").href = done.downloads.report;
  $("results").hidden = false;
  $("progress-fill").style.width = "100%";
  $("status").textContent = `done · test ${metric} ${done.mean.toFixed(3)}${done.scores.length > 1 ? ` ± ${done.std.toFixed(3)} over ${done.scores.length} networks` : ""}`;
  $("timing").textContent += `${$("timing").textContent ? " · " : ""}training ${done.train_s.toFixed(2)} s, compiling ${done.compile_s.toFixed(2)} s`;
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
  onSource();
  $("source").onchange = onSource;
  $("file").onchange = onFile;
  $("target").onchange = onUploadColumns;
  $("map-x").onchange = onFeatures;
  $("add-layer").onclick = () => addLayer();
  $("vary").onchange = () => { const lr = $("vary").value === "learning_rate"; $("lrs-row").hidden = !lr; $("members-row").hidden = lr; };
  $("train").onclick = train;
  $("stop").onclick = stop;
  $("dl-report").onclick = downloadReport;
  window.addEventListener("pagehide", () => navigator.sendBeacon(`/api/sessions/${state.session}/close`));
  Plotly.newPlot("loss-plot", [], lossLayoutEmpty(), { responsive: true, displaylogo: false });
  Plotly.newPlot("map-plot", [], mapLayoutEmpty(), { responsive: true, displaylogo: false });
  document.body.dataset.ready = "1";
}

const lossLayoutEmpty = () => ({ margin: { l: 50, r: 10, t: 10, b: 40 }, xaxis: { title: { text: "epoch" } }, yaxis: { title: { text: "loss" } },
  annotations: [{ text: "press Train", showarrow: false, font: { color: "#999", size: 16 }, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }] });
const mapLayoutEmpty = () => ({ margin: { l: 50, r: 10, t: 10, b: 40 }, xaxis: { visible: false }, yaxis: { visible: false },
  annotations: [{ text: "the decision boundary appears here", showarrow: false, font: { color: "#999", size: 16 }, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }] });

init().catch((e) => showError(`could not start: ${e.message}`));
