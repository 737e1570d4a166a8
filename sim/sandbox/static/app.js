// dmn-sim teaching sandbox: controls -> POST /api/simulate -> plots drawn with SVG and <canvas>; then POST /api/claims
// for the claims table of the same setting. A newer control change aborts the request in flight (AbortController;
// the server cancels a job nobody waits for). In simulated mode the page polls POST /api/progress for its bar.
// No libraries, nothing fetched from the internet. The time point and "change from baseline" only re-draw
// from the last answer (which holds every scan time), so they are instant.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const NET_COLORS = { DMN: "#e6ab02", SN: "#1b9e77", TPN: "#7570b3", LIMBIC: "#a6761d" };
const CTL = ["phenotype", "treatment", "engine", "dose", "disinhibition", "trapping", "plasticity", "tms", "coupling",
  "noise", "n_subjects"];
const state = { spec: null, data: null, claims: null, timeIndex: 0, seq: 0, lesson: null, renders: 0, lastLatency: null,
  latencies: [], aborted: 0, ctrl: null, claimsCtrl: null, progressTimer: null, progressSeen: [], claimsSeq: 0 };
window.sandbox = state; // for the browser test and the curious

const $ = (id) => document.getElementById(id);

function el(tag, attrs, parent, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function html(tag, attrs, parent, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

// ---------------------------------------------------------------------------------------------- colours
function lerp(a, b, t) { return a + (b - a) * t; }
function hex(c) { return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)); }
const NEG = hex("#2166ac"), MID = hex("#f7f7f7"), POS = hex("#b2182b");
function diverging(v, vmax) {
  const t = Math.max(-1, Math.min(1, v / vmax));
  const [a, b, u] = t < 0 ? [MID, NEG, -t] : [MID, POS, t];
  return `rgb(${a.map((x, i) => Math.round(lerp(x, b[i], u))).join(",")})`;
}

// ---------------------------------------------------------------------------------------------- time
function fmtTime(t) {
  if (t < 0) return `baseline (${t / 24} day)`;
  if (t < 1) return `${Math.round(t * 60)} min after the start of the first infusion`;
  if (t < 24) return `${t} h`;
  return `day ${+(t / 24).toFixed(1)}`;
}
function shortTime(t) {
  if (t < 0) return `${t / 24} d`;
  if (t < 1) return `${Math.round(t * 60)} min`;
  if (t < 24) return `${t} h`;
  return `${+(t / 24).toFixed(1)} d`;
}
const tx = (t) => Math.sign(t) * Math.sqrt(Math.abs(t)); // square-root time axis

// ---------------------------------------------------------------------------------------------- controls
function setupControls(spec) {
  const ph = $("ctl-phenotype");
  for (const [k, v] of Object.entries(spec.phenotypes)) html("option", { value: k }, ph, v);
  const tr = $("ctl-treatment");
  for (const [k, v] of Object.entries(spec.treatments)) html("option", { value: k }, tr, v.label);
  const en = $("ctl-engine");
  for (const [k, v] of Object.entries(spec.engines)) html("option", { value: k }, en, v);
  const ranges = { dose: spec.dose, coupling: spec.coupling, noise: spec.noise, n_subjects: spec.n_subjects };
  for (const [k, r] of Object.entries(ranges)) {
    const inp = $(`ctl-${k}`);
    inp.min = r.min; inp.max = r.max; inp.step = r.step;
    if (r.unit && $(`unit-${k}`)) $(`unit-${k}`).textContent = r.unit;
    if (r.doc) inp.title = `${r.doc}. Source: ${r.source}. Allowed: ${r.allowed.join(" to ")}`;
    inp.addEventListener("input", () => { showValues(); });
    inp.addEventListener("change", () => request());
  }
  for (const k of ["phenotype", "treatment", "engine"]) $(`ctl-${k}`).addEventListener("change", () => { showValues(); request(); });
  for (const m of spec.mechanisms) $(`ctl-${m}`).addEventListener("change", () => request());
  const time = $("ctl-time");
  time.max = spec.times_h.length - 1;
  time.addEventListener("input", () => { state.timeIndex = +time.value; showValues(); render(); });
  $("ctl-delta").addEventListener("change", () => render());
  $("ctl-show-all-claims").addEventListener("change", () => drawClaims());
  $("reset").addEventListener("click", () => { closeLesson(); applyControls(spec.defaults, spec.default_time_h, { delta: false }); request(); });
  $("lesson-close").addEventListener("click", closeLesson);
  const list = $("lesson-list");
  spec.lessons.forEach((lesson) => {
    const li = html("li", {}, list);
    const b = html("button", { type: "button", "data-lesson": lesson.id }, li, lesson.title);
    b.addEventListener("click", () => startLesson(lesson));
  });
  $("live-note").textContent = `Live runs are small: ${spec.live.n_scans} scans of ${spec.live.scan_duration_s / 60} ` +
    `min per virtual person (the command line default is ${spec.cli.n_scans} scans of 10 min for ${spec.cli.n_subjects} ` +
    `people). Expected values answer ` +
    `at once; simulated scans take a few seconds (a bar shows how far). Results are cached, so returning to a ` +
    `setting is instant.`;
  applyControls(spec.defaults, spec.default_time_h, { delta: false });
}

function applyControls(c, timeH, view) {
  $("ctl-phenotype").value = c.phenotype;
  $("ctl-treatment").value = c.treatment;
  $("ctl-dose").value = c.dose_mg_per_kg;
  for (const m of state.spec.mechanisms) $(`ctl-${m}`).checked = !!c[m];
  $("ctl-coupling").value = c.coupling;
  $("ctl-noise").value = c.noise;
  $("ctl-n_subjects").value = c.n_subjects;
  $("ctl-engine").value = c.engine || "expected";
  const i = state.spec.times_h.indexOf(timeH);
  state.timeIndex = i >= 0 ? i : 0;
  $("ctl-time").value = state.timeIndex;
  if (view && view.delta !== undefined) $("ctl-delta").checked = !!view.delta;
  showValues();
}

function readControls() {
  const c = {
    phenotype: $("ctl-phenotype").value, treatment: $("ctl-treatment").value,
    dose_mg_per_kg: +$("ctl-dose").value, coupling: +$("ctl-coupling").value, noise: +$("ctl-noise").value,
    n_subjects: +$("ctl-n_subjects").value, engine: $("ctl-engine").value,
  };
  for (const m of state.spec.mechanisms) c[m] = $(`ctl-${m}`).checked;
  return c;
}

function showValues() {
  $("out-dose").textContent = (+$("ctl-dose").value).toFixed(2);
  $("out-coupling").textContent = (+$("ctl-coupling").value).toFixed(3);
  $("out-noise").textContent = (+$("ctl-noise").value).toFixed(4);
  $("out-n_subjects").textContent = $("ctl-n_subjects").value;
  $("out-time").textContent = fmtTime(state.spec.times_h[state.timeIndex]);
  const tr = state.spec.treatments[$("ctl-treatment").value];
  $("hint-treatment").textContent = tr.note;
  $("hint-phenotype").textContent = state.spec.phenotype_notes[$("ctl-phenotype").value];
  $("hint-engine").textContent = $("ctl-engine").value === "expected" ?
    "the linearised network's expected FC: no scan noise, so every difference you see is an effect" :
    "live noisy scans as an fMRI study would record them: differences include noise (grey band)";
  const usesDose = tr.uses_dose;
  $("ctl-dose").disabled = !usesDose;
  $("dose-label").classList.toggle("muted", !usesDose);
}

// ---------------------------------------------------------------------------------------------- lessons
function startLesson(lesson) {
  state.lesson = lesson.id;
  if (window.matchMedia("(max-width: 760px)").matches) $("lessons-panel").open = false; // the lesson's text stays
  document.querySelectorAll("#lesson-list button").forEach((b) => b.classList.toggle("active", b.dataset.lesson === lesson.id));
  $("lesson-box").hidden = false;
  $("lesson-title").textContent = lesson.title;
  const text = $("lesson-text"); text.textContent = "";
  lesson.text.forEach((p) => html("p", {}, text, p));
  const tr = $("lesson-try"); tr.textContent = "";
  lesson.try.forEach((p) => html("li", {}, tr, p));
  applyControls({ ...state.spec.defaults, ...lesson.controls }, lesson.time_h, lesson.view);
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("focus", v.id === `view-${lesson.view.focus}`));
  request().then(() => {
    const v = $(`view-${lesson.view.focus}`);
    if (v && v.scrollIntoView) v.scrollIntoView({ block: "start" });
  });
}

function closeLesson() {
  state.lesson = null;
  $("lesson-box").hidden = true;
  document.querySelectorAll("#lesson-list button").forEach((b) => b.classList.remove("active"));
  document.querySelectorAll(".view").forEach((v) => v.classList.remove("focus"));
}

// ---------------------------------------------------------------------------------------------- server
function setStatus(s, text) { const st = $("status"); st.dataset.state = s; st.textContent = text; }
const JSON_HEADERS = { "Content-Type": "application/json" };
const nextFrame = () => new Promise((ok) => requestAnimationFrame(() => ok()));

function stopProgress() {
  clearTimeout(state.progressTimer);
  state.progressTimer = null;
  $("progress-box").hidden = true;
}

function startProgress(seq, controls) {
  const poll = async () => {
    if (seq !== state.seq || !state.ctrl) return;
    try {
      const r = await fetch("/api/progress", { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(controls) });
      const p = await r.json();
      if (seq !== state.seq || !state.ctrl) return;
      state.progressSeen.push({ ...p, seq });
      $("progress-box").hidden = false;
      $("progress").value = p.fraction || 0;
      $("progress-text").textContent = p.state === "queued" ? `waiting (${p.ahead} setting(s) ahead)` :
        `${Math.round(100 * (p.fraction || 0))} % of the scans simulated`;
    } catch (e) { /* the answer itself reports errors */ }
    if (seq === state.seq && state.ctrl) state.progressTimer = setTimeout(poll, 200);
  };
  state.progressTimer = setTimeout(poll, 100);
}

async function request() {
  const seq = ++state.seq;
  if (state.ctrl) { state.ctrl.abort(); state.aborted += 1; } // superseded: the server cancels it
  if (state.claimsCtrl) state.claimsCtrl.abort();
  stopProgress();
  const ctrl = new AbortController();
  state.ctrl = ctrl;
  const controls = readControls();
  const simulated = controls.engine === "simulated";
  setStatus("loading", simulated ? "simulating scans…" : "computing expected values…");
  if (simulated) startProgress(seq, controls);
  const t0 = performance.now();
  let resp, body;
  try {
    resp = await fetch("/api/simulate", { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(controls),
      signal: ctrl.signal });
    body = await resp.json();
  } catch (e) {
    if (e.name === "AbortError") return;
    if (seq === state.seq) setStatus("error", `no answer from the sandbox server (${e}); is it still running?`);
    return;
  } finally {
    if (state.ctrl === ctrl) { state.ctrl = null; stopProgress(); }
  }
  if (seq !== state.seq) return; // a newer change is on its way
  if (!resp.ok) { setStatus("error", `cannot simulate: ${body.error}`); return; }
  const t1 = performance.now();
  state.data = body;
  render(); // the claims of the previous setting stay (greyed) until this setting's arrive: the page keeps its height
  const t2 = performance.now();
  await nextFrame();
  const ms = performance.now() - t0; // request sent -> plots updated and painted
  state.lastLatency = { ms, cached: body.cached, server_s: body.server_s, engine: body.cohort.engine,
    cpu_s: body.timing.cpu_s,
    answer_ms: t1 - t0, render_ms: t2 - t1, paint_ms: performance.now() - t2 };
  state.latencies.push(state.lastLatency);
  const c = body.cohort;
  const how = body.cached ? "from the cache" : c.engine === "linear" ?
    `expected values of the linearised network for ${c.n_subjects} people (no scan noise: differences are effects)` :
    `simulated live (${c.n_subjects} people × ${c.n_scans} scans × ${body.conditions.length} groups = ${c.n_items} scans of ` +
    `${c.scan_duration_s / 60} min in ${body.timing.simulate_s.toFixed(2)} s)`;
  setStatus("ready", `updated in ${(ms / 1000).toFixed(2)} s`);
  html("span", { class: "detail" }, $("status"), `, ${how}`);
  if (seq === state.seq) requestClaims(seq, controls);
}

async function requestClaims(seq, controls) {
  const ctrl = new AbortController();
  state.claimsCtrl = ctrl;
  $("claims-state").textContent = "evaluating the claims on this setting… (the table below is the previous setting's)";
  $("claims-body").classList.add("stale");
  let resp, body;
  try {
    resp = await fetch("/api/claims", { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(controls),
      signal: ctrl.signal });
    body = await resp.json();
  } catch (e) {
    if (e.name !== "AbortError" && seq === state.seq) $("claims-state").textContent = `no claims: ${e}`;
    return;
  } finally {
    if (state.claimsCtrl === ctrl) state.claimsCtrl = null;
  }
  if (seq !== state.seq) return;
  if (!resp.ok) { $("claims-state").textContent = `cannot evaluate the claims: ${body.error}`; return; }
  state.claims = body;
  state.claimsSeq = seq;
  $("claims-state").textContent = `evaluated on the setting shown (${body.cached ? "from the cache" :
    `${body.claims_s.toFixed(2)} s`})`;
  $("claims-body").classList.remove("stale");
  drawClaims();
  document.body.dataset.claims = seq;
}

// ---------------------------------------------------------------------------------------------- rendering
function render() {
  const d = state.data;
  if (!d) return;
  state.renders += 1;
  const ti = state.timeIndex;
  const delta = $("ctl-delta").checked;
  const t = [performance.now()];
  drawBrain(d, ti, delta); t.push(performance.now());
  drawMetrics(d, ti); t.push(performance.now());
  drawSlow(d, ti); t.push(performance.now());
  drawFC(d, ti, delta); t.push(performance.now());
  state.renderParts = { brain: t[1] - t[0], metrics: t[2] - t[1], slow: t[3] - t[2], fc: t[4] - t[3] };
  document.body.dataset.renders = state.renders;
}

function matrix(d, cond, ti) { return d.fc[cond][ti]; }

function fcFor(d, cond, ti, delta) {
  const m = matrix(d, cond, ti);
  if (!delta) return m;
  const b = matrix(d, cond, 0);
  return m.map((row, i) => row.map((v, j) => v - b[i][j]));
}

// Brain outlines in MNI millimetres (hand-drawn approximations for orientation only).
const SAGITTAL = [[70, 5], [66, 32], [52, 55], [30, 70], [4, 77], [-22, 75], [-46, 66], [-66, 52], [-82, 34], [-96, 14],
  [-104, -4], [-100, -20], [-88, -34], [-74, -48], [-56, -58], [-40, -56], [-30, -44], [-12, -34], [10, -40],
  [28, -42], [40, -32], [46, -22], [58, -20], [68, -12]];
function axialOutline() {
  const pts = [];
  for (let k = 0; k < 48; k++) {
    const a = (2 * Math.PI * k) / 48;
    const y = -17 + 88 * Math.cos(a);
    const w = 68 * (y > 30 ? 1 - 0.35 * ((y - 30) / 42) ** 2 : 1);
    pts.push([w * Math.sin(a), y]);
  }
  return pts;
}
function pathOf(pts, f) { return "M" + pts.map((p) => f(p).map((v) => v.toFixed(1)).join(",")).join("L") + "Z"; }

// Region labels: points closer than MERGE_PX share one label ("IPS_L/R"); each label goes to the first of a ring of
// candidate places that overlaps no placed label, no other dot and stays inside the plot (else the least-bad one).
const MERGE_PX = 4;
function joinNames(names) {
  if (names.length === 1) return names[0];
  const parts = names.map((n) => n.split("_"));
  const stem = parts[0][0];
  if (parts.every((p) => p.length === 2 && p[0] === stem)) return `${stem}_${parts.map((p) => p[1]).join("/")}`;
  return names.join("/");
}
// A label's box relative to its (start-anchored) baseline point, measured on a canvas (no layout of the page):
// width from the font, ascent/descent from the font size (system-ui: ~0.8 / 0.25 em).
const LABEL_PX = 9; // = svg .small in style.css
const measureCtx = document.createElement("canvas").getContext("2d");
function textBox(text, px) {
  measureCtx.font = `${px}px system-ui, sans-serif`;
  return { x: 0, y: -0.9 * px, width: measureCtx.measureText(text).width, height: 1.2 * px };
}
function overlap(a, b) {
  const w = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x), h = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}
function placeLabels(svg, pts, names, bounds) {
  const groups = [];
  pts.forEach((p, i) => {
    const g = groups.find((q) => Math.hypot(q.x - p[0], q.y - p[1]) < MERGE_PX);
    if (g) g.members.push(i); else groups.push({ x: p[0], y: p[1], members: [i] });
  });
  const dots = pts.map((p, i) => ({ x: p[0] - 4, y: p[1] - 4, w: 8, h: 8, i }));
  const placed = [];
  for (const g of groups) {
    const label = joinNames(g.members.map((i) => names[i]));
    const bb = textBox(label, LABEL_PX);
    const cands = [];
    for (const r of [7, 13, 20]) {
      cands.push([g.x + r, g.y + bb.height / 3], [g.x - r - bb.width, g.y + bb.height / 3],
        [g.x - bb.width / 2, g.y - r + 2], [g.x - bb.width / 2, g.y + r + bb.height - 2],
        [g.x + r * 0.7, g.y - r * 0.7], [g.x - r * 0.7 - bb.width, g.y - r * 0.7],
        [g.x + r * 0.7, g.y + r * 0.7 + bb.height / 2], [g.x - r * 0.7 - bb.width, g.y + r * 0.7 + bb.height / 2]);
    }
    let best = null, bestCost = Infinity;
    for (const [tx, ty] of cands) {
      const box = { x: tx + bb.x - 1, y: ty + bb.y - 1, w: bb.width + 2, h: bb.height + 2 }; // 1 unit of air
      let cost = 0;
      if (box.x < bounds.x0 || box.y < bounds.y0 || box.x + box.w > bounds.x1 || box.y + box.h > bounds.y1) cost += 1e6;
      for (const q of placed) cost += 1e3 * overlap(box, q);
      for (const q of dots) if (!g.members.includes(q.i)) cost += overlap(box, q);
      if (cost < bestCost) { best = [tx, ty, box]; bestCost = cost; }
      if (cost === 0) break;
    }
    el("text", { x: best[0].toFixed(1), y: best[1].toFixed(1), class: "small region-label" }, svg, label);
    placed.push(best[2]);
  }
}

function axisTitles(svg, W, H, xTitle, yTitle, m) {
  el("text", { x: m.l + (W - m.l - m.r) / 2, y: H - 4, "text-anchor": "middle", class: "axis-title xlabel" }, svg, xTitle);
  const cy = m.t + (H - m.t - m.b) / 2;
  el("text", { x: 11, y: cy, "text-anchor": "middle", class: "axis-title ylabel", transform: `rotate(-90 11 ${cy})` },
    svg, yTitle);
}

function drawBrain(d, ti, delta) {
  const box = $("brain"); box.textContent = "";
  const treated = d.treated;
  const m = fcFor(d, treated, ti, delta);
  const R = d.regions, n = R.names.length;
  const edges = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) edges.push([i, j, m[i][j]]);
  edges.sort((a, b) => Math.abs(b[2]) - Math.abs(a[2]));
  const shown = edges.slice(0, 40).filter((e) => Math.abs(e[2]) >= (delta ? 0.02 : 0.1));
  const vmax = delta ? 0.3 : 0.6;
  $("brain-cond").textContent = d.conditions.find((c) => c.name === treated).label;
  const views = [
    { title: "sagittal (side view, front →)", xs: R.y, ys: R.z, xr: [-110, 75], yr: [-65, 85], outline: pathOf(SAGITTAL, (p) => p),
      xt: "MNI y (mm): back ← → front", yt: "MNI z (mm)" },
    { title: "axial (from above, front ↑)", xs: R.x, ys: R.y, xr: [-75, 75], yr: [-110, 78], outline: pathOf(axialOutline(), (p) => p),
      xt: "MNI x (mm): left ← → right", yt: "MNI y (mm)" },
  ];
  const S = 1.55, mg = { l: 18, r: 4, t: 18, b: 18 };
  const grid = html("div", { class: "brainviews" }, box);
  for (const v of views) {
    const W = (v.xr[1] - v.xr[0]) * S + mg.l + mg.r, H = (v.yr[1] - v.yr[0]) * S + mg.t + mg.b;
    const svg = el("svg", { viewBox: `0 0 ${W.toFixed(0)} ${H.toFixed(0)}`, class: "brainview plot",
      "data-view": v.title.split(" ")[0] }, grid);
    svg.style.maxWidth = `${(1.45 * W).toFixed(0)}px`; // both views at one scale (mm per pixel), not one width
    el("text", { x: 4, y: 12, class: "title" }, svg, v.title);
    const X = (x) => mg.l + (x - v.xr[0]) * S, Y = (y) => mg.t + (v.yr[1] - y) * S;
    const outline = v.outline.replace(/(-?[\d.]+),(-?[\d.]+)/g, (_, a, b) => `${X(+a).toFixed(1)},${Y(+b).toFixed(1)}`);
    el("path", { d: outline, fill: "#f3f0ec", stroke: "#9e9e9e", "stroke-width": 1.5 }, svg);
    for (const [i, j, val] of shown.slice().reverse()) {
      el("line", { x1: X(v.xs[i]), y1: Y(v.ys[i]), x2: X(v.xs[j]), y2: Y(v.ys[j]), stroke: diverging(val, vmax),
        "stroke-width": 1 + 4 * Math.min(1, Math.abs(val) / vmax), "stroke-opacity": 0.85 }, svg)
        .appendChild(el("title", {}, null, `${R.names[i]} – ${R.names[j]}: ${delta ? "Δ" : ""}r = ${val.toFixed(3)}`));
    }
    const pts = [];
    for (let i = 0; i < n; i++) {
      const c = el("circle", { cx: X(v.xs[i]), cy: Y(v.ys[i]), r: 4.5, fill: NET_COLORS[R.network[i]] || "#888",
        stroke: "#333", "stroke-width": 0.7 }, svg);
      el("title", {}, c, `${R.names[i]} (${R.network[i]})`);
      pts.push([X(v.xs[i]), Y(v.ys[i])]);
    }
    placeLabels(svg, pts, R.names, { x0: mg.l, y0: mg.t - 2, x1: W - 1, y1: H - mg.b });
    axisTitles(svg, W, H, v.xt, v.yt, mg);
  }
  const legend = el("svg", { viewBox: "0 0 200 62", class: "legend" }, box);
  el("text", { x: 4, y: 14 }, legend, delta ? "change in FC since baseline (Δr)" : "FC (Pearson r)");
  for (let k = 0; k <= 20; k++) {
    el("rect", { x: 4 + k * 8, y: 20, width: 8, height: 10, fill: diverging(-vmax + (2 * vmax * k) / 20, vmax) }, legend);
  }
  el("text", { x: 4, y: 44, class: "small" }, legend, `−${vmax}`);
  el("text", { x: 88, y: 44, class: "small", "text-anchor": "middle" }, legend, "0");
  el("text", { x: 172, y: 44, class: "small", "text-anchor": "end" }, legend, `+${vmax}`);
  el("text", { x: 4, y: 57, class: "small" }, legend, `${shown.length} strongest links shown`);
}

function axisTicks(tmin, tmax) {
  return [-24, 1, 24, 168, 336, 504, 672].filter((t) => t >= tmin && t <= tmax);
}

// One time-course plot: viewBox W x H (scales to its box); series {y, band (± around y), low/high (absolute band),
// color, ...}; every text stays inside the viewBox (ticks near an edge are anchored inwards).
function timePanel(parent, { title, W, H, series, ylab, xlab, d, ti, yr, yticks }) {
  const m = { l: 48, r: 10, t: 20, b: 38 };
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "panel plot" }, parent);
  const times = d.times_h;
  const x0 = tx(times[0]), x1 = tx(times[times.length - 1]);
  let lo = yr ? yr[0] : Infinity, hi = yr ? yr[1] : -Infinity;
  if (!yr) {
    for (const s of series) {
      s.y.forEach((v, k) => {
        if (v === null) return;
        const e = s.band ? s.band[k] || 0 : 0;
        lo = Math.min(lo, v - e); hi = Math.max(hi, v + e);
      });
      for (const v of (s.low || []).concat(s.high || [])) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    const pad = 0.08 * (hi - lo || 1); lo -= pad; hi += pad;
  }
  const X = (t) => m.l + ((tx(t) - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (v) => m.t + (1 - (v - lo) / (hi - lo)) * (H - m.t - m.b);
  el("text", { x: 4, y: 13, class: "title" }, svg, title);
  el("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, stroke: "#999" }, svg);
  el("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, stroke: "#999" }, svg);
  const span = hi - lo, digits = span < 0.02 ? 3 : 2;
  for (const v of yticks || [lo + 0.08 * span / 1.16, (lo + hi) / 2, hi - 0.08 * span / 1.16]) {
    el("line", { x1: m.l - 3, x2: m.l, y1: Y(v), y2: Y(v), stroke: "#999" }, svg);
    el("text", { x: m.l - 5, y: Y(v) + 3, "text-anchor": "end", class: "small ytick" }, svg, v.toFixed(digits));
  }
  if (lo < 0 && hi > 0) el("line", { x1: m.l, x2: W - m.r, y1: Y(0), y2: Y(0), stroke: "#ccc", "stroke-dasharray": "2,2" }, svg);
  for (const t of axisTicks(times[0], times[times.length - 1])) {
    const x = X(t), anchor = x > W - m.r - 10 ? "end" : x < m.l + 10 ? "start" : "middle";
    el("line", { x1: x, x2: x, y1: H - m.b, y2: H - m.b + 3, stroke: "#999" }, svg);
    el("text", { x: anchor === "end" ? W - 2 : x, y: H - m.b + 13, "text-anchor": anchor, class: "small xtick" }, svg, shortTime(t));
  }
  axisTitles(svg, W, H, xlab || "time from the first dose (√ scale)", ylab, m);
  const ev = d.events;
  for (const t of ev.infusion_h.concat(ev.tms_h)) {
    el("line", { x1: X(t), x2: X(t), y1: H - m.b - 8, y2: H - m.b, stroke: "#616161", "stroke-width": 2 }, svg);
  }
  const tsel = times[ti];
  el("line", { x1: X(tsel), x2: X(tsel), y1: m.t, y2: H - m.b, stroke: "#ff8f00", "stroke-dasharray": "4,3",
    class: "time-marker" }, svg);
  const area = (xs, up, dn, attrs) => {
    const u = [], w = [];
    xs.forEach((t, k) => { if (up[k] !== null && dn[k] !== null) { u.push([X(t), Y(up[k])]); w.push([X(t), Y(dn[k])]); } });
    const pts = u.concat(w.reverse());
    if (pts.length) el("path", { d: "M" + pts.map((p) => p.map((v) => v.toFixed(1)).join(",")).join("L") + "Z", ...attrs }, svg);
  };
  for (const s of series) {
    const xs = s.x || times;
    if (s.low) area(xs, s.high, s.low, { fill: "#9e9e9e", "fill-opacity": 0.3, stroke: "none", class: "noise-band" });
    if (s.band) area(xs, s.y.map((v, k) => (v === null ? null : v + (s.band[k] || 0))),
      s.y.map((v, k) => (v === null ? null : v - (s.band[k] || 0))), { fill: s.color, "fill-opacity": 0.15, stroke: "none" });
    const pts = [];
    xs.forEach((t, k) => { if (s.y[k] !== null) pts.push(`${X(t).toFixed(1)},${Y(s.y[k]).toFixed(1)}`); });
    if (pts.length) el("path", { d: "M" + pts.join("L"), fill: "none", stroke: s.color, "stroke-width": s.width || 1.5,
      "stroke-dasharray": s.dash || "", class: "series", "data-name": s.name }, svg);
    if (s.dots) xs.forEach((t, k) => { if (s.y[k] !== null) el("circle", { cx: X(t), cy: Y(s.y[k]), r: 2.2, fill: s.color }, svg); });
  }
  return svg;
}

function drawMetrics(d, ti) {
  const box = $("metrics"); box.textContent = "";
  const wrap = html("div", { class: "panels" }, box);
  const roles = Object.fromEntries(d.conditions.map((c) => [c.name, c.role]));
  const simulated = d.cohort.engine !== "linear";
  for (const mname of d.metrics.names) {
    const series = [];
    if (simulated) {
      const b = d.metrics.noise_band[mname];
      series.push({ name: "noise band", y: b.low.map(() => null), low: b.low, high: b.high, color: "#9e9e9e" });
    }
    for (const c of d.conditions) {
      const role = roles[c.name];
      if (role === "reference" && c.name !== "healthy") continue;
      series.push({ name: c.name, y: d.metrics.mean[mname][c.name], band: role === "treated" ? d.metrics.sem[mname][c.name] : null,
        color: role === "treated" ? "#d62728" : role === "control" ? "#757575" : "#90caf9",
        width: role === "treated" ? 2.2 : 1.4, dash: role === "reference" ? "3,3" : "", dots: true });
    }
    series.sort((a, b) => (a.color === "#d62728") - (b.color === "#d62728"));
    timePanel(wrap, { title: d.metrics.labels[mname], W: 300, H: 175, series, ylab: d.metrics.units[mname], d, ti });
  }
  const leg = html("p", { class: "note" }, box);
  const shownConds = d.conditions.filter((c) => c.role !== "reference" || c.name === "healthy");
  leg.textContent = shownConds.map((c) => `${c.role === "treated" ? "red" : c.role === "control" ? "grey" : "light blue dashed"}: ${c.label}`).join(" · ");
  const untreated = (d.conditions.find((c) => c.name === d.untreated) || {}).label || d.untreated;
  $("noise-note").textContent = simulated ?
    `Grey band: the ${Math.round(100 * d.metrics.noise_band_level)} % confidence interval of the mean of the untreated ` +
    `group (${untreated}) at each scan. Nothing is done to that group, so the band is what scan noise and the ` +
    `differences between ${d.cohort.n_subjects} people alone give: a treated line inside it may be noise.` :
    "Expected values: the linearised network's expected FC, with no sampling noise (an untreated group's lines are " +
    "flat). Every difference you see is an effect of the settings; switch 'Show' to simulated scans to see how " +
    "much noise a real study of this size adds.";
}

function drawSlow(d, ti) {
  const box = $("slow"); box.textContent = "";
  const s = d.slow, tr = d.treated;
  if (!s.nmda_block) return;
  const pl = s.plasma_ng_per_ml[tr];
  const pmax = Math.max(...pl.filter((v) => v !== null), 1e-9);
  const series = [
    { name: "plasma", x: s.time_h, y: pl.map((v) => (v === null ? null : v / pmax)), color: "#1565c0" },
    { name: "nmda_block", x: s.time_h, y: s.nmda_block[tr], color: "#6a1b9a", width: 2 },
    { name: "plasticity", x: s.time_h, y: s.plasticity[tr], color: "#2e7d32", width: 2 },
  ];
  if (s.tms_state) series.push({ name: "tms_state", x: s.time_h, y: s.tms_state[tr], color: "#ef6c00", width: 2 });
  timePanel(box, { title: "The drug in the treated group (cohort mean)", W: 610, H: 200, series,
    ylab: "fraction (0–1)", d, ti, yr: [-0.03, 1.05], yticks: [0, 0.5, 1] });
  const leg = html("p", { class: "note" }, box);
  leg.textContent = `blue: plasma ketamine (÷ its peak, ${pmax.toFixed(0)} ng/mL) · purple: NMDA receptor block (0–1) · ` +
    `green: plasticity state (synaptic change, 0–1) · orange: TMS state. Scans: dots on the panels above.`;
}

function drawFC(d, ti, delta) {
  const box = $("fc"); box.textContent = "";
  const grid = html("div", { class: "fcgrid" }, box);
  const tr = d.treated, co = d.control;
  const A = fcFor(d, tr, ti, delta), B = fcFor(d, co, ti, delta);
  const D = A.map((row, i) => row.map((v, j) => v - B[i][j]));
  const lab = (c) => d.conditions.find((x) => x.name === c).label;
  const pre = delta ? "change since baseline: " : "";
  const unit = delta ? "Δr" : "Pearson r";
  const mats = [[`${pre}${lab(tr)}`, A, delta ? 0.3 : 0.6, unit]];
  if (co !== tr) mats.push([`${pre}${lab(co)}`, B, delta ? 0.3 : 0.6, unit], [`difference (${lab(tr)} − ${lab(co)})`, D, 0.3, "Δr"]);
  for (const [title, M, vmax, u] of mats) drawMatrix(grid, title, M, vmax, d, u);
  html("p", { class: "axis-title fc-axes" }, box, "Rows and columns: the regions, grouped by network (point at a square " +
    "for the two regions' names); colour: correlation of the two regions' signals over a scan.");
}

function drawMatrix(box, title, M, vmax, d, unit) {
  const n = M.length, cell = 12, off = 46;
  const wrap = html("div", { class: "fcwrap" }, box);
  html("div", { class: "fc-title" }, wrap, title);
  const RES = 2; // drawn at twice its size: sharp when CSS scales it up (wide screens, high-DPI phones)
  const cw = off + n * cell + 4, ch = off + n * cell + 32;
  const cv = html("canvas", { width: RES * cw, height: RES * ch, class: "fcmatrix" }, wrap);
  cv.style.maxWidth = `${1.4 * cw}px`;
  const g = cv.getContext("2d");
  g.scale(RES, RES);
  g.fillStyle = "#fff"; g.fillRect(0, 0, cw, ch);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    g.fillStyle = i === j ? "#e0e0e0" : diverging(M[i][j], vmax);
    g.fillRect(off + j * cell, off + i * cell, cell, cell);
  }
  g.strokeStyle = "#333"; g.lineWidth = 1.2; g.font = "10px system-ui, sans-serif";
  for (const b of d.networks) {
    g.strokeRect(off + b.start * cell, off + b.start * cell, (b.end - b.start) * cell, (b.end - b.start) * cell);
    g.fillStyle = b.color;
    g.fillRect(off - 6, off + b.start * cell, 4, (b.end - b.start) * cell);
    g.fillRect(off + b.start * cell, off - 6, (b.end - b.start) * cell, 4);
    g.fillStyle = "#333";
    g.save(); g.translate(off - 9, off + ((b.start + b.end) / 2) * cell); g.rotate(-Math.PI / 2);
    g.textAlign = "center"; g.fillText(b.name, 0, 0); g.restore();
    g.textAlign = "center"; g.fillText(b.name, off + ((b.start + b.end) / 2) * cell, off - 10);
  }
  const y0 = off + n * cell + 6;
  for (let k = 0; k <= 20; k++) { g.fillStyle = diverging(-vmax + (2 * vmax * k) / 20, vmax); g.fillRect(off + k * 8, y0, 8, 8); }
  g.fillStyle = "#333"; g.textAlign = "left";
  g.fillText(`−${vmax}`, off, y0 + 20);
  g.textAlign = "right"; g.fillText(`+${vmax}`, off + 168, y0 + 20);
  g.textAlign = "left"; g.fillText(unit, off + 174, y0 + 8);
  cv.addEventListener("mousemove", (e) => {
    const r = cv.getBoundingClientRect(), k = cw / r.width; // the canvas is scaled by CSS
    const j = Math.floor(((e.clientX - r.left) * k - off) / cell), i = Math.floor(((e.clientY - r.top) * k - off) / cell);
    const tip = $("tooltip");
    if (i >= 0 && j >= 0 && i < n && j < n) {
      tip.hidden = false; tip.style.left = `${e.clientX + 12}px`; tip.style.top = `${e.clientY + 12}px`;
      tip.textContent = `${d.regions.names[i]} – ${d.regions.names[j]}: ${M[i][j].toFixed(3)} ${unit}`;
    } else tip.hidden = true;
  });
  cv.addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
}

function fmtEffect(r) {
  if (r.effect === null) return "—";
  const f = (v) => (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(3);
  return `${f(r.effect)} (${f(r.low)} to ${f(r.high)})`;
}
const vclass = (v) => "v-" + v.replace(/ /g, "-");

function drawClaims() {
  const box = $("claims-body"); box.textContent = "";
  const cl = state.claims;
  if (!cl) return;
  const rows = Object.fromEntries(cl.rows.map((r) => [r.id, r]));
  html("h3", {}, box, "Claims that contradict each other");
  for (const p of cl.contradictions) {
    const div = html("div", { class: "pair" }, box);
    html("h4", {}, div, p.about);
    p.ids.forEach((id, k) => {
      const r = rows[id];
      const line = html("div", {}, div);
      html("b", {}, line, `${id}: `);
      line.appendChild(document.createTextNode(`${r.claim} — `));
      html("span", { class: vclass(r.verdict) }, line, r.verdict);
      if (!r.testable) return;
      const w = p.holds_in[k], about = ((p.speaks_about || [])[k] || []).join(", ");
      line.appendChild(document.createTextNode(w.length ? `; the model supports it in: ${w.join(", ")} (it speaks about: ${about})` :
        `; supported in none of the windows it speaks about (${about})`));
    });
  }
  const all = $("ctl-show-all-claims").checked;
  const list = cl.rows.filter((r) => all || (r.verdict !== "not evaluated" && r.verdict !== "not testable in this model"));
  html("h3", {}, box, `All claims (${list.length} of ${cl.rows.length} shown)`);
  const t = html("table", { class: "claims" }, box);
  const cols = html("colgroup", {}, t);
  for (const c of ["id", "claim", "window", "effect", "verdict", "lit"]) html("col", { class: `c-${c}` }, cols);
  const head = html("tr", { class: "head" }, t);
  for (const h of ["id", "claim (read-out; contrast)", "window", "effect (95 % CI)", "simulation", "literature"]) html("th", {}, head, h);
  for (const r of list) {
    const tr = html("tr", { "data-claim": r.id }, t);
    html("td", { "data-label": "id" }, tr, r.id);
    const c = html("td", {}, tr, r.claim);
    if (r.testable) html("span", { class: "readout" }, c, `${r.readout}; ${r.contrast}; expected: ${r.expected}`);
    html("td", { "data-label": "window" }, tr, r.window);
    html("td", { "data-label": "effect (95 % CI)" }, tr, fmtEffect(r));
    html("td", { class: `verdict ${vclass(r.verdict)}`, "data-label": "simulation", title: r.reason }, tr, r.verdict);
    html("td", { "data-label": "literature" }, tr, r.literature);
  }
}

function setHeaderHeight() {
  document.documentElement.style.setProperty("--header-h", `${document.querySelector("header").offsetHeight}px`);
}

// ---------------------------------------------------------------------------------------------- start
async function start() {
  try {
    const resp = await fetch("/api/controls");
    state.spec = await resp.json();
  } catch (e) {
    setStatus("error", `cannot reach the sandbox server: ${e}`);
    return;
  }
  setupControls(state.spec);
  if (window.matchMedia("(max-width: 760px)").matches) { // a phone: the plots first, the lessons and controls folded
    $("lessons-panel").open = false; $("controls-panel").open = false;
  }
  setHeaderHeight();
  if (window.ResizeObserver) new ResizeObserver(setHeaderHeight).observe(document.querySelector("header"));
  await request();
}

document.addEventListener("DOMContentLoaded", start);
