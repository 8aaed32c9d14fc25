// The loss-over-time chart: training loss (grey) and test loss (black) against the epoch.
import { fitCanvas } from "./heatmap.js";

const MAX_POINTS = 3000; // beyond, every other old point is dropped (as the server does)

export class LossChart {
  constructor(canvas, width = 318, height = 72) {
    this.canvas = canvas;
    this.width = width;
    this.height = height;
    this.points = []; // [epoch, train, test]
  }

  set(points) {
    this.points = points.slice();
    this.draw();
  }

  append(points) {
    for (const p of points) this.points.push(p);
    if (this.points.length > MAX_POINTS) {
      const half = this.points.length >> 1;
      this.points = this.points.slice(0, half).filter((_, i) => i % 2 === 0).concat(this.points.slice(half));
    }
    this.draw();
  }

  draw() {
    const { width: w, height: h } = this;
    const ctx = fitCanvas(this.canvas, w, h);
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#fafbfc";
    ctx.fillRect(0, 0, w, h);
    const pts = this.points.filter((p) => Number.isFinite(p[1]) && Number.isFinite(p[2]));
    if (pts.length < 1) return;
    const first = pts[0][0];
    const last = Math.max(pts[pts.length - 1][0], first + 1);
    let top = 0;
    for (const p of pts) top = Math.max(top, p[1], p[2]);
    top = top > 0 ? top * 1.08 : 1;
    const x = (e) => 2 + ((e - first) / (last - first)) * (w - 4);
    const y = (v) => h - 2 - (v / top) * (h - 14);
    for (const [column, colour] of [[1, "#9aa4ae"], [2, "#1d2630"]]) {
      ctx.beginPath();
      pts.forEach((p, i) => (i ? ctx.lineTo(x(p[0]), y(p[column])) : ctx.moveTo(x(p[0]), y(p[column]))));
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1.4;
      ctx.stroke();
    }
    ctx.fillStyle = "#6b7785";
    ctx.font = "10px system-ui, sans-serif";
    ctx.textBaseline = "top";
    ctx.fillText(`max ${(top / 1.08).toFixed(3)}`, 4, 2);
    ctx.textAlign = "right";
    ctx.fillText(`epoch ${pts[pts.length - 1][0]}`, w - 4, 2);
    ctx.textAlign = "left";
  }
}
