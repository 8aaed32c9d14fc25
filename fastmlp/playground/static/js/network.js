// The network drawn as in TF Playground: a column of input features, the hidden layers and the output,
// each neuron a small heatmap of what it computes over the plane, each weight a curve whose colour is its
// sign and whose width its size. The DOM is rebuilt only when the architecture changes; a training update
// only repaints heatmaps and restyles curves.
import { css, toByte } from "./colors.js";
import { decode, paintNode } from "./heatmap.js";

const SVG = "http://www.w3.org/2000/svg";
const NODE = 34; // node side, px (as in the CSS)
const PITCH = 46; // vertical distance between nodes
const HEAD = 52; // room above the first row for the column heads
const LABEL = 66; // room left of the features for their names

// The same features as features.py (labels come from the server's /api/info).
const FEATURE_FN = {
  x1: (a, b) => a, x2: (a, b) => b, x1sq: (a, b) => a * a, x2sq: (a, b) => b * b,
  x1x2: (a, b) => a * b, sinx1: (a, b) => Math.sin(a), sinx2: (a, b) => Math.sin(b),
};

/** Heatmap bytes of a feature over the n x n grid (cell centres, row 0 at x2 = +extent), scaled so that its
 * largest magnitude on the plane is 1. */
function featureBytes(id, n, extent) {
  const values = new Float64Array(n * n);
  let top = 0;
  for (let r = 0; r < n; r++) {
    const x2 = extent - ((r + 0.5) / n) * 2 * extent;
    for (let c = 0; c < n; c++) {
      const x1 = ((c + 0.5) / n) * 2 * extent - extent;
      const v = FEATURE_FN[id](x1, x2);
      values[r * n + c] = v;
      top = Math.max(top, Math.abs(v));
    }
  }
  return Uint8Array.from(values, (v) => toByte(top ? v / top : 0));
}

function el(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

function fmt(v) {
  return (Math.abs(v) >= 1e-3 || v === 0) ? v.toFixed(4) : v.toExponential(2);
}

export class NetworkView {
  /**
   * container: the .network element. features: [{id, label}] from /api/info. handlers: toggleFeature(id),
   * changeNeurons(layerIndex, delta), hover(target | null) with target {kind: "input", id, bytes} or
   * {kind: "neuron", layer, index}.
   */
  constructor(container, features, extent, handlers) {
    this.container = container;
    this.features = features;
    this.extent = extent;
    this.handlers = handlers;
    this.key = null;
    this.state = null;
    this.tooltip = document.getElementById("tooltip");
    this.inputBytes = {};
  }

  /** Rebuild if the architecture changed, then repaint from a state (server.py's state dict). */
  update(state) {
    const net = state.network;
    const key = JSON.stringify([net.layer_sizes, net.features, this.container.clientWidth]);
    this.state = state;
    if (key !== this.key) {
      this.key = key;
      this.build(net, state.grids.neuron_size);
    }
    this.paint(state);
  }

  build(net, gridSize) {
    const c = this.container;
    c.textContent = "";
    const hidden = net.layer_sizes.slice(1, -1);
    const width = c.clientWidth || 560;
    const rows = Math.max(this.features.length, ...hidden, 1);
    c.style.height = `${HEAD + rows * PITCH + 4}px`;
    const xs = [LABEL + NODE / 2];
    const xOut = width - NODE / 2 - 8;
    hidden.forEach((_, i) => xs.push(xs[0] + ((xOut - xs[0]) * (i + 1)) / (hidden.length + 1)));
    xs.push(xOut);
    const y = (row) => HEAD + row * PITCH + NODE / 2;

    this.svg = document.createElementNS(SVG, "svg");
    this.svg.setAttribute("class", "links");
    this.svg.setAttribute("width", width);
    this.svg.setAttribute("height", HEAD + rows * PITCH);
    c.appendChild(this.svg);

    // column heads
    const head = (x) => {
      const h = el("div", "column-head", c);
      h.style.left = `${x - 48}px`;
      h.style.top = "0px";
      return h;
    };
    head(xs[0]).textContent = "Features";
    hidden.forEach((n, i) => {
      const h = head(xs[i + 1]);
      const buttons = el("div", "layer-buttons", h);
      for (const [sign, delta] of [["+", 1], ["−", -1]]) {
        const b = el("button", "round small", buttons);
        b.textContent = sign;
        b.title = `${delta > 0 ? "Add a neuron to" : "Remove a neuron from"} hidden layer ${i + 1}`;
        b.addEventListener("click", () => this.handlers.changeNeurons(i, delta));
      }
      el("div", "", h).textContent = `${n} neuron${n === 1 ? "" : "s"}`;
    });
    const outHead = head(xs[xs.length - 1]);
    outHead.style.top = "22px";
    outHead.textContent = "Output";

    // nodes: positions of every column's nodes (column 0: every feature, on or off)
    this.nodes = [];
    const positions = [];
    const inputPos = [];
    this.features.forEach((f, row) => {
      const on = net.features.includes(f.id);
      const node = this.node(xs[0], y(row), `input${on ? "" : " off"}`);
      const label = el("div", "node-label", c);
      label.textContent = f.label;
      label.style.left = `${xs[0] - NODE / 2 - LABEL + 2}px`;
      label.style.top = `${y(row) - NODE / 2}px`;
      const bytes = (this.inputBytes[f.id] ||= featureBytes(f.id, gridSize, this.extent));
      paintNode(node.canvas, bytes, gridSize);
      node.div.addEventListener("click", () => this.handlers.toggleFeature(f.id));
      this.hoverable(node.div, () => `${f.label}${on ? "" : " (off: click to use)"}`,
        { kind: "input", id: f.id, bytes, size: gridSize });
      if (on) inputPos.push([xs[0], y(row)]);
    });
    positions.push(inputPos);
    net.layer_sizes.slice(1).forEach((n, l) => {
      const col = [];
      for (let k = 0; k < n; k++) {
        const node = this.node(xs[l + 1], y(k), "", true);
        const isOut = l === net.layer_sizes.length - 2;
        const name = isOut ? "Output neuron" : `Layer ${l + 1}, neuron ${k + 1}`;
        this.hoverable(node.div, () => `${name} · bias ${fmt(this.state.network.biases[l][k])}`,
          { kind: "neuron", layer: l + 1, index: k });
        this.nodes.push({ ...node, layer: l, index: k });
        col.push([xs[l + 1], y(k)]);
      }
      positions.push(col);
    });

    // links: one curve per weight W_l[i][j], from column l's node j to column l+1's node i
    this.links = [];
    for (let l = 0; l + 1 < positions.length; l++) {
      positions[l + 1].forEach(([x2, y2], i) => {
        positions[l].forEach(([x1, y1], j) => {
          const d = `M${x1 + NODE / 2},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2 - NODE / 2},${y2}`;
          const link = document.createElementNS(SVG, "path");
          link.setAttribute("class", "link");
          link.setAttribute("d", d);
          const hit = document.createElementNS(SVG, "path");
          hit.setAttribute("class", "hit");
          hit.setAttribute("d", d);
          this.svg.append(link, hit);
          const from = l === 0 ? this.featureLabel(net.features[j]) : `layer ${l}, neuron ${j + 1}`;
          const to = l + 1 === positions.length - 1 ? "the output" : `layer ${l + 1}, neuron ${i + 1}`;
          hit.addEventListener("mouseenter", () => link.classList.add("hover"));
          hit.addEventListener("mouseleave", () => link.classList.remove("hover"));
          this.hoverable(hit, () => `Weight ${fmt(this.state.network.weights[l][i][j])} · ${from} → ${to}`, null);
          this.links.push({ link, l, i, j });
        });
      });
    }
  }

  featureLabel(id) {
    return (this.features.find((f) => f.id === id) || { label: id }).label;
  }

  node(x, y, cls, withBias = false) {
    const div = el("div", `node ${cls}`.trim(), this.container);
    div.style.left = `${x - NODE / 2}px`;
    div.style.top = `${y - NODE / 2}px`;
    const canvas = el("canvas", "", div);
    const bias = withBias ? el("div", "bias", div) : null;
    return { div, canvas, bias };
  }

  hoverable(target, text, what) {
    target.addEventListener("mousemove", (e) => {
      this.tooltip.textContent = text();
      this.tooltip.hidden = false;
      this.tooltip.style.left = `${e.clientX + 14}px`;
      this.tooltip.style.top = `${e.clientY + 12}px`;
    });
    target.addEventListener("mouseenter", () => what && this.handlers.hover(what));
    target.addEventListener("mouseleave", () => {
      this.tooltip.hidden = true;
      if (what) this.handlers.hover(null);
    });
  }

  paint(state) {
    const { weights, biases } = state.network;
    const g = state.grids.neuron_size;
    const layers = state.grids.neurons.map(decode);
    for (const { canvas, bias, layer, index } of this.nodes) {
      paintNode(canvas, layers[layer], g, index * g * g);
      bias.style.background = css(biases[layer][index]);
    }
    for (const { link, l, i, j } of this.links) {
      const w = weights[l][i][j];
      link.setAttribute("stroke", css(w));
      link.setAttribute("stroke-width", (1 + 9 * Math.min(Math.abs(w), 5) / 5).toFixed(2));
    }
  }

  /** The decoded heatmap of neuron `index` in layer `layer` (1-based over the weight layers). */
  neuronBytes(state, layer, index) {
    const g = state.grids.neuron_size;
    return decode(state.grids.neurons[layer - 1]).subarray(index * g * g, (index + 1) * g * g);
  }
}
