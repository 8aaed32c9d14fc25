// Canvas drawing of heatmaps (n x n byte grids, row 0 at the top: x2 = +6) and of the data points.
import { LUT, css } from "./colors.js";

/** Bytes from base64 text. */
export function decode(b64) {
  const text = atob(b64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

const scratch = new Map(); // n -> an n x n canvas reused for every grid of that size

/** An n x n canvas holding `bytes` (offset..offset+n*n) in colour; discretize: threshold at 0. */
export function gridCanvas(bytes, n, offset = 0, discretize = false) {
  let canvas = scratch.get(n);
  if (!canvas) {
    canvas = document.createElement("canvas");
    canvas.width = canvas.height = n;
    scratch.set(n, canvas);
  }
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(n, n);
  const px = image.data;
  for (let i = 0; i < n * n; i++) {
    let b = bytes[offset + i];
    if (discretize) b = b >= 128 ? 255 : 0;
    px[4 * i] = LUT[3 * b];
    px[4 * i + 1] = LUT[3 * b + 1];
    px[4 * i + 2] = LUT[3 * b + 2];
    px[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

/** Size a canvas's backing store for its CSS size and the screen's pixel ratio; returns its 2-D context
 * scaled so that drawing happens in CSS pixels. */
export function fitCanvas(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

/** Paint a small node canvas (its own backing store of n x n) from a grid. */
export function paintNode(canvas, bytes, n, offset = 0) {
  if (canvas.width !== n) canvas.width = canvas.height = n;
  canvas.getContext("2d").drawImage(gridCanvas(bytes, n, offset), 0, 0);
}

/**
 * The big output picture: the heatmap in a square of `side` px at (left, top), axis ticks around it, and
 * points [[x1, x2, y], ...] as dots (training: white rim, test: black rim).
 */
export function drawOutput(canvas, { bytes, n, offset = 0, discretize, train, test, showTest, extent }) {
  const left = 24, top = 4, side = 290;
  const ctx = fitCanvas(canvas, left + side + 4, top + side + 20);
  ctx.clearRect(0, 0, left + side + 4, top + side + 20);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  if (bytes) ctx.drawImage(gridCanvas(bytes, n, offset, discretize), left, top, side, side);
  const sx = (x) => left + ((x + extent) / (2 * extent)) * side;
  const sy = (y) => top + ((extent - y) / (2 * extent)) * side;
  const dots = (points, rim) => {
    ctx.lineWidth = 1;
    ctx.strokeStyle = rim;
    for (const [x1, x2, y] of points || []) {
      ctx.beginPath();
      ctx.arc(sx(x1), sy(x2), 3.2, 0, 2 * Math.PI);
      ctx.fillStyle = css(y);
      ctx.fill();
      ctx.stroke();
    }
  };
  dots(train, "#ffffff");
  if (showTest) dots(test, "#000000");
  // frame and ticks
  ctx.strokeStyle = "rgba(0,0,0,.25)";
  ctx.strokeRect(left + 0.5, top + 0.5, side - 1, side - 1);
  ctx.fillStyle = "#6b7785";
  ctx.font = "10px system-ui, sans-serif";
  for (let t = -extent; t <= extent; t += extent / 2) {
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.fillText(String(t), sx(t), top + side + 5);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.fillText(String(t), left - 5, sy(t));
  }
}

/** A small scatter of data points on a light background (the data-set buttons). */
export function drawThumbnail(canvas, points, extent = 6) {
  const side = 52;
  const ctx = fitCanvas(canvas, side, side);
  ctx.fillStyle = "#f7f8f9";
  ctx.fillRect(0, 0, side, side);
  for (const [x1, x2, y] of points) {
    ctx.fillStyle = css(y);
    ctx.fillRect(((x1 + extent) / (2 * extent)) * side - 1, ((extent - x2) / (2 * extent)) * side - 1, 2.4, 2.4);
  }
}

/** The colour bar from -1 to 1. */
export function drawColorbar(canvas) {
  const ctx = fitCanvas(canvas, 120, 10);
  for (let x = 0; x < 120; x++) {
    ctx.fillStyle = css((x / 119) * 2 - 1);
    ctx.fillRect(x, 0, 1.5, 10);
  }
}
