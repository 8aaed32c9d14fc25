// The page: controls -> configuration changes on the server, the play loop, and drawing each state.
import { api } from "./api.js";
import { LossChart } from "./chart.js";
import { VIEW_DEFAULTS, parseHash, toHash } from "./config.js";
import { decode, drawColorbar, drawOutput, drawThumbnail } from "./heatmap.js";
import { NetworkView } from "./network.js";

const $ = (id) => document.getElementById(id);
const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REG_RATES = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const SPEEDS = [1, 2, 5, 10, 25, 100];
const ACTIVATION_NAMES = { relu: "ReLU", tanh: "Tanh", sigmoid: "Sigmoid", softplus: "Softplus", linear: "Linear" };
const REG_NAMES = { none: "None", l1: "L1", l2: "L2" };
const DATASET_NAMES = {
  circle: "Circle", xor: "Exclusive or", gaussians: "Two Gaussians", spiral: "Spiral",
  plane: "Plane", multi_gaussian: "Multi Gaussian", custom: "Your uploaded data",
};
const SESSION_GONE = /unknown or expired session/;

const app = {
  info: null,
  sid: null,
  state: null, // the latest state from the server
  config: null,
  view: { ...VIEW_DEFAULTS },
  data: { train: [], test: [] },
  outputBytes: null,
  version: -1,
  playing: false,
  looping: false,
  hover: null, // a neuron or feature shown in the big heatmap instead of the output
  throughput: 0,
  updates: [],
};
let chart;
let network;

// ---- messages ---------------------------------------------------------------------------------------------
let noticeTimer = null;
function notice(message, kind = "warn") {
  $("notice-text").textContent = message;
  $("notice").className = `notice ${kind}`;
  $("notice").hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => ($("notice").hidden = true), kind === "info" ? 4000 : 12000);
}

// ---- talking to the server ----------------------------------------------------------------------------------
async function newSession(config) {
  const answer = await api.createSession(config);
  app.sid = answer.session;
  render(answer.state);
}

/** Run an API call for this tab's session; if the session expired meanwhile, start a new one with the
 * current set-up and try once more. */
async function withSession(call) {
  try {
    return await call();
  } catch (err) {
    if (!(err.status === 400 && SESSION_GONE.test(err.message))) throw err;
    await newSession(app.config);
    notice("This tab's session had expired (idle too long); it started afresh.", "info");
    return call();
  }
}

async function change(partial) {
  try {
    const answer = await withSession(() => api.configure(app.sid, partial));
    render(answer.state);
  } catch (err) {
    notice(err.message);
    syncControls(); // show the set-up that is really in force
  }
}

async function stepOnce() {
  const answer = await withSession(() => api.step(app.sid, app.view.speed));
  render(answer.state, true);
  const now = performance.now();
  app.updates.push(now);
  while (app.updates.length && now - app.updates[0] > 1000) app.updates.shift();
}

function setPlaying(on) {
  app.playing = on;
  document.body.classList.toggle("playing", on);
  document.body.dataset.playing = String(on);
  $("play").title = on ? "Pause (space)" : "Run (space)";
  if (on) loop();
}

async function loop() {
  if (app.looping) return;
  app.looping = true;
  try {
    while (app.playing) {
      await stepOnce();
      // one update per frame at most: the page stays smooth and an idle tab (no frames) stops asking
      await new Promise((resolve) => requestAnimationFrame(resolve));
    }
  } catch (err) {
    setPlaying(false);
    notice(err.message);
  } finally {
    app.looping = false;
  }
}

// ---- drawing ------------------------------------------------------------------------------------------------
function fmtLoss(v) {
  return Number.isFinite(v) ? v.toFixed(3) : "–";
}

function fmtRate(v) {
  if (!(v > 0)) return "–";
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return v.toFixed(0);
}

function render(state, incremental = false) {
  app.state = state;
  app.config = state.config;
  if (state.data) app.data = state.data;
  app.outputBytes = decode(state.grids.output);
  if (state.version !== app.version || !incremental) {
    app.version = state.version;
    chart.set(state.history);
  } else {
    chart.append(state.history);
  }
  $("epoch").textContent = String(state.epoch).padStart(6, "0").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  $("test-loss").textContent = fmtLoss(state.loss.test);
  $("train-loss").textContent = fmtLoss(state.loss.train);
  const t = state.timing;
  if (incremental && t.train_seconds > 0 && t.samples > 0) {
    const now = t.samples / t.train_seconds;
    app.throughput = app.throughput ? 0.85 * app.throughput + 0.15 * now : now;
  }
  $("rate").textContent = fmtRate(app.throughput);
  $("ups").textContent = app.playing ? `${app.updates.length} updates/s` : "";
  network.update(state);
  drawBig();
  syncControls();
  $("export-model").href = api.modelUrl(app.sid);
  const hash = toHash(app.config, app.view);
  if (hash !== location.hash) history.replaceState(null, "", hash);
  if (state.diverged && app.playing) {
    setPlaying(false);
    notice(`Training diverged: ${state.diverged}`);
  }
  document.body.dataset.epoch = String(state.epoch);
  document.body.dataset.ready = "true";
}

function drawBig() {
  const s = app.state;
  if (!s) return;
  let bytes = app.outputBytes;
  let n = s.grids.output_size;
  if (app.hover) {
    n = app.hover.size || s.grids.neuron_size;
    bytes = app.hover.kind === "input" ? app.hover.bytes : network.neuronBytes(s, app.hover.layer, app.hover.index);
  }
  drawOutput($("heatmap"), {
    bytes, n, discretize: app.view.discretize && !app.hover, train: app.data.train, test: app.data.test,
    showTest: app.view.show_test, extent: s.grids.extent,
  });
}

// ---- controls -------------------------------------------------------------------------------------------
function fillSelect(select, values, label = String) {
  select.textContent = "";
  for (const v of values) {
    const option = document.createElement("option");
    option.value = String(v);
    option.textContent = label(v);
    select.appendChild(option);
  }
}

function selectValue(select, value, label = String) {
  if (![...select.options].some((o) => o.value === String(value))) {
    const option = document.createElement("option"); // a value from a link that the list lacks
    option.value = String(value);
    option.textContent = label(value);
    select.appendChild(option);
  }
  select.value = String(value);
}

function buildDatasets() {
  const box = $("datasets");
  box.textContent = "";
  const problem = app.config ? app.config.problem : "classification";
  const names = [...app.info.datasets[problem]];
  if (app.state && app.state.custom) names.push("custom");
  for (const name of names) {
    const button = document.createElement("button");
    button.className = `dataset${name === "custom" ? " custom" : ""}`;
    button.dataset.name = name;
    button.title = DATASET_NAMES[name] || name;
    if (name === "custom") button.textContent = "CSV";
    else {
      const canvas = document.createElement("canvas");
      button.appendChild(canvas);
      drawThumbnail(canvas, app.info.previews[name], app.info.limits.extent);
    }
    button.addEventListener("click", () => change({ dataset: name }));
    box.appendChild(button);
  }
  box.dataset.key = `${problem}:${Boolean(app.state && app.state.custom)}`;
}

function syncControls() {
  const c = app.config;
  if (!c) return;
  selectValue($("lr"), c.lr);
  $("activation").value = c.activation;
  $("regularization").value = c.regularization;
  selectValue($("reg_rate"), c.reg_rate);
  $("reg_rate").disabled = c.regularization === "none";
  $("problem").value = c.problem;
  $("backend").value = c.backend || "";
  selectValue($("speed"), app.view.speed);
  for (const key of ["train_ratio", "noise", "batch_size"]) {
    $(key).value = c[key];
    $(`${key}-out`).textContent = c[key];
  }
  $("noise").disabled = c.dataset === "custom";
  $("show_test").checked = app.view.show_test;
  $("discretize").checked = app.view.discretize;
  if ($("datasets").dataset.key !== `${c.problem}:${Boolean(app.state && app.state.custom)}`) buildDatasets();
  for (const b of $("datasets").children) b.classList.toggle("selected", b.dataset.name === c.dataset);
  const n = c.layers.length;
  $("layer-count").textContent = `${n} hidden layer${n === 1 ? "" : "s"}`;
  $("add-layer").disabled = n >= app.info.limits.max_layers;
  $("remove-layer").disabled = n === 0;
  if (app.state.custom && !$("custom-info").classList.contains("error")) $("custom-info").textContent = `Uploaded: ${app.state.custom}.`;
}

function setView(key, value) {
  app.view[key] = value;
  history.replaceState(null, "", toHash(app.config, app.view));
  drawBig();
}

function bindControls() {
  fillSelect($("lr"), LEARNING_RATES);
  fillSelect($("activation"), app.info.activations, (a) => ACTIVATION_NAMES[a] || a);
  fillSelect($("regularization"), app.info.regularizations, (r) => REG_NAMES[r] || r);
  fillSelect($("reg_rate"), REG_RATES);
  fillSelect($("speed"), SPEEDS);
  fillSelect($("backend"), ["", ...app.info.backends], (b) => (b ? b : `auto (${app.info.backends[0]})`));
  drawColorbar($("colorbar"));

  $("lr").addEventListener("change", (e) => change({ lr: Number(e.target.value) }));
  $("activation").addEventListener("change", (e) => change({ activation: e.target.value }));
  $("regularization").addEventListener("change", (e) => change({ regularization: e.target.value }));
  $("reg_rate").addEventListener("change", (e) => change({ reg_rate: Number(e.target.value) }));
  $("backend").addEventListener("change", (e) => change({ backend: e.target.value || null }));
  $("speed").addEventListener("change", (e) => setView("speed", Number(e.target.value)));
  $("problem").addEventListener("change", (e) => {
    const problem = e.target.value;
    const partial = { problem };
    if (app.config.dataset !== "custom") partial.dataset = app.info.datasets[problem][0];
    change(partial);
  });
  for (const key of ["train_ratio", "noise", "batch_size"]) {
    $(key).addEventListener("input", (e) => ($(`${key}-out`).textContent = e.target.value));
    $(key).addEventListener("change", (e) => change({ [key]: Number(e.target.value) }));
  }
  $("regenerate").addEventListener("click", () => change({ seed: Math.floor(Math.random() * 2 ** 31) }));
  $("show_test").addEventListener("change", (e) => setView("show_test", e.target.checked));
  $("discretize").addEventListener("change", (e) => setView("discretize", e.target.checked));

  $("play").addEventListener("click", () => setPlaying(!app.playing));
  $("step").addEventListener("click", () => { setPlaying(false); stepOnce().catch((err) => notice(err.message)); });
  $("reset").addEventListener("click", async () => {
    try {
      render((await withSession(() => api.reset(app.sid))).state);
    } catch (err) {
      notice(err.message);
    }
  });

  $("add-layer").addEventListener("click", () => change({ layers: [...app.config.layers, 2] }));
  $("remove-layer").addEventListener("click", () => change({ layers: app.config.layers.slice(0, -1) }));

  $("upload-button").addEventListener("click", () => $("upload").click());
  $("upload").addEventListener("change", uploadFile);

  $("export-snippet").addEventListener("click", showSnippet);
  $("snippet-close").addEventListener("click", () => $("snippet-dialog").close());
  $("snippet-copy").addEventListener("click", () => copy($("snippet-code").textContent, "Snippet copied."));
  $("snippet-download").addEventListener("click", () => {
    const url = URL.createObjectURL(new Blob([$("snippet-code").textContent], { type: "text/x-python" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `fastmlp_playground_${app.config.dataset}.py`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  $("copy-link").addEventListener("click", () => copy(location.href, "Link copied: it reproduces this set-up."));
  $("notice-close").addEventListener("click", () => ($("notice").hidden = true));

  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea, dialog") || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === " ") { e.preventDefault(); setPlaying(!app.playing); }
    else if (e.key === "s") $("step").click();
    else if (e.key === "r") $("reset").click();
  });
  window.addEventListener("hashchange", () => {
    // a link pasted into this tab: its set-up in full (keys it leaves out take their defaults, as on load)
    const { config, view } = parseHash(location.hash);
    app.view = view;
    change({ ...app.info.defaults, ...config });
  });
  window.addEventListener("pagehide", () => app.sid && api.close(app.sid));
  let resizeTimer;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => app.state && network.update(app.state), 150);
  });
}

async function uploadFile(e) {
  const file = e.target.files[0];
  e.target.value = ""; // the same file may be chosen again after fixing it
  if (!file) return;
  const info = $("custom-info");
  try {
    if (file.size > app.info.limits.max_upload_bytes) {
      throw new Error(`${file.name} is ${file.size} bytes; at most ${app.info.limits.max_upload_bytes} are accepted`);
    }
    const answer = await withSession(async () => api.upload(app.sid, await file.text()));
    info.classList.remove("error");
    $("notice").hidden = true; // an earlier failed upload's message is obsolete now
    render(answer.state);
    info.textContent = `${file.name}: ${answer.message}.`;
  } catch (err) {
    info.textContent = `${file.name}: ${err.message}`;
    info.classList.add("error");
    notice(`Upload failed: ${err.message}`);
  }
}

async function showSnippet() {
  try {
    $("snippet-code").textContent = await withSession(() => api.snippet(app.sid));
    $("snippet-dialog").showModal();
  } catch (err) {
    notice(err.message);
  }
}

async function copy(text, done) {
  try {
    await navigator.clipboard.writeText(text);
    notice(done, "info");
  } catch (err) {
    window.prompt("Copy this:", text); // clipboard refused (e.g. not a secure context)
  }
}

// ---- start --------------------------------------------------------------------------------------------------
async function main() {
  chart = new LossChart($("chart"));
  try {
    app.info = await api.info();
  } catch (err) {
    notice(err.message);
    return;
  }
  network = new NetworkView($("network"), app.info.features, app.info.limits.extent, {
    toggleFeature(id) {
      const on = app.config.features.includes(id);
      const features = on ? app.config.features.filter((f) => f !== id) : [...app.config.features, id];
      if (!features.length) return notice("The network needs at least one input feature.", "info");
      change({ features });
    },
    changeNeurons(i, delta) {
      const layers = [...app.config.layers];
      layers[i] = Math.max(1, Math.min(app.info.limits.max_neurons, layers[i] + delta));
      if (layers[i] !== app.config.layers[i]) change({ layers });
    },
    hover(target) {
      app.hover = target;
      drawBig();
    },
  });
  bindControls();
  const { config, view } = parseHash(location.hash);
  app.view = view;
  try {
    await newSession(config);
  } catch (err) {
    notice(`This link's set-up was not accepted (${err.message}); starting from the defaults.`);
    await newSession({});
  }
}

main();
