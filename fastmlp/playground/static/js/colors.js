// TF Playground's colour scale over [-1, 1]: orange (negative) - light grey (0) - blue (positive).
// Heatmap bytes b encode v = b / 127.5 - 1 (see grids.py), so a 256-entry table colours them directly.

const STOPS = [[245, 147, 34], [232, 234, 235], [8, 119, 189]];

function mix(a, b, t) {
  return a.map((x, i) => Math.round(x + (b[i] - x) * t));
}

/** [r, g, b] for a value in [-1, 1] (clamped). */
export function rgb(value) {
  const v = Math.max(-1, Math.min(1, Number.isFinite(value) ? value : 0));
  return v < 0 ? mix(STOPS[1], STOPS[0], -v) : mix(STOPS[1], STOPS[2], v);
}

export function css(value) {
  const [r, g, b] = rgb(value);
  return `rgb(${r},${g},${b})`;
}

/** Uint8Array(256 * 3): the colour of each heatmap byte. */
export const LUT = (() => {
  const lut = new Uint8Array(256 * 3);
  for (let b = 0; b < 256; b++) lut.set(rgb(b / 127.5 - 1), b * 3);
  return lut;
})();

/** A value in [-1, 1] as a heatmap byte. */
export function toByte(value) {
  const v = Math.max(-1, Math.min(1, value));
  return Math.round((v + 1) * 127.5);
}
