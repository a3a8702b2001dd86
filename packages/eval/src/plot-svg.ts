/**
 * A dependency-free SVG line plot for evaluation curves (PGR vs strong-call share, quality vs
 * cost): axes with round-number ticks, one polyline per series, labelled point markers, a legend.
 */

export interface PlotPoint {
  x: number;
  y: number;
}

export interface PlotSeries {
  name: string;
  /** Drawn in the order given, joined by straight lines. Non-finite points are skipped. */
  points: readonly PlotPoint[];
}

/** A single labelled point, e.g. a baseline or a single model. */
export interface PlotMarker {
  name: string;
  x: number;
  y: number;
}

export interface CurveSvgOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly PlotSeries[];
  /** Labelled points drawn as diamonds over the series. Default none. */
  markers?: readonly PlotMarker[];
  /** Image width in px. Default 720. */
  width?: number;
  /** Image height in px. Default 440. */
  height?: number;
}

/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies. */
const SERIES_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"] as const;
const MARKER_COLOUR = "#444444";
/** Series with at most this many points also get a dot per point; denser curves would be a smear. */
const MAX_DOTTED_POINTS = 40;
const TARGET_TICKS = 6;

/**
 * Renders the plot as a self-contained SVG document (no scripts, fonts or external references).
 * The axes span every finite series point and marker, widened to round tick values.
 */
export function curveSvg(options: CurveSvgOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 440;
  const markers = options.markers ?? [];
  const series = options.series.map((s) => ({ name: s.name, points: s.points.filter(isFinitePoint) }));
  const finiteMarkers = markers.filter(isFinitePoint);

  const all = [...series.flatMap((s) => s.points), ...finiteMarkers];
  const xAxis = niceAxis(all.map((p) => p.x));
  const yAxis = niceAxis(all.map((p) => p.y));

  const longestName = Math.max(0, ...series.map((s) => s.name.length), ...markers.map((m) => m.name.length));
  const margin = { top: 40, right: Math.min(320, Math.max(120, 48 + 7 * longestName)), bottom: 52, left: 64 };
  const plotW = Math.max(1, width - margin.left - margin.right);
  const plotH = Math.max(1, height - margin.top - margin.bottom);
  const sx = (x: number): number => margin.left + ((x - xAxis.lo) / (xAxis.hi - xAxis.lo)) * plotW;
  const sy = (y: number): number => margin.top + plotH - ((y - yAxis.lo) / (yAxis.hi - yAxis.lo)) * plotH;
  const bottom = margin.top + plotH;
  const right = margin.left + plotW;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(options.title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
  );

  // Grid and ticks.
  for (const v of xAxis.ticks) {
    const x = num(sx(v));
    out.push(
      `<line x1="${x}" y1="${num(margin.top)}" x2="${x}" y2="${num(bottom)}" stroke="#e5e5e5"/>`,
      `<line x1="${x}" y1="${num(bottom)}" x2="${x}" y2="${num(bottom + 5)}" stroke="#000000"/>`,
      `<text x="${x}" y="${num(bottom + 18)}" text-anchor="middle">${esc(formatTick(v, xAxis.step))}</text>`,
    );
  }
  for (const v of yAxis.ticks) {
    const y = num(sy(v));
    out.push(
      `<line x1="${num(margin.left)}" y1="${y}" x2="${num(right)}" y2="${y}" stroke="#e5e5e5"/>`,
      `<line x1="${num(margin.left - 5)}" y1="${y}" x2="${num(margin.left)}" y2="${y}" stroke="#000000"/>`,
      `<text x="${num(margin.left - 8)}" y="${num(sy(v) + 4)}" text-anchor="end">${esc(formatTick(v, yAxis.step))}</text>`,
    );
  }

  // Axes, title and labels.
  out.push(
    `<line x1="${num(margin.left)}" y1="${num(bottom)}" x2="${num(right)}" y2="${num(bottom)}" stroke="#000000"/>`,
    `<line x1="${num(margin.left)}" y1="${num(margin.top)}" x2="${num(margin.left)}" y2="${num(bottom)}" stroke="#000000"/>`,
    `<text x="${num(margin.left + plotW / 2)}" y="${num(margin.top / 2 + 6)}" text-anchor="middle" font-size="15" font-weight="bold">${esc(options.title)}</text>`,
    `<text x="${num(margin.left + plotW / 2)}" y="${num(height - 12)}" text-anchor="middle">${esc(options.xLabel)}</text>`,
    `<text x="16" y="${num(margin.top + plotH / 2)}" text-anchor="middle" transform="rotate(-90 16 ${num(margin.top + plotH / 2)})">${esc(options.yLabel)}</text>`,
  );

  // Series.
  series.forEach((s, i) => {
    const colour = SERIES_COLOURS[i % SERIES_COLOURS.length] as string;
    const coords = s.points.map((p) => `${num(sx(p.x))},${num(sy(p.y))}`).join(" ");
    out.push(`<g><title>${esc(s.name)}</title>`);
    if (s.points.length > 1) out.push(`<polyline points="${coords}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    if (s.points.length <= MAX_DOTTED_POINTS) {
      for (const p of s.points) out.push(`<circle cx="${num(sx(p.x))}" cy="${num(sy(p.y))}" r="2.5" fill="${colour}"/>`);
    }
    out.push(`</g>`);
  });

  // Markers, labelled beside the point.
  for (const m of finiteMarkers) {
    const x = sx(m.x);
    const y = sy(m.y);
    out.push(
      `<g><title>${esc(m.name)}</title>`,
      `<path d="${diamond(x, y, 5)}" fill="${MARKER_COLOUR}"/>`,
      `<text x="${num(x + 8)}" y="${num(y - 6)}" font-size="11" fill="${MARKER_COLOUR}">${esc(m.name)}</text>`,
      `</g>`,
    );
  }

  // Legend, right of the plot.
  const lx = right + 16;
  let ly = margin.top + 8;
  series.forEach((s, i) => {
    const colour = SERIES_COLOURS[i % SERIES_COLOURS.length] as string;
    out.push(
      `<line x1="${num(lx)}" y1="${num(ly)}" x2="${num(lx + 20)}" y2="${num(ly)}" stroke="${colour}" stroke-width="2"/>`,
      `<text x="${num(lx + 26)}" y="${num(ly + 4)}">${esc(s.name)}</text>`,
    );
    ly += 18;
  });
  for (const m of markers) {
    out.push(`<path d="${diamond(lx + 10, ly, 5)}" fill="${MARKER_COLOUR}"/>`, `<text x="${num(lx + 26)}" y="${num(ly + 4)}">${esc(m.name)}</text>`);
    ly += 18;
  }

  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

interface Axis {
  lo: number;
  hi: number;
  step: number;
  ticks: number[];
}

/** An axis from round tick to round tick covering `values`; [0, 1] when there are none. */
function niceAxis(values: readonly number[]): Axis {
  // A loop, not Math.min(...values): spreading a 100k-point curve overflows the call stack.
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (values.length === 0) [min, max] = [0, 1];
  if (max === min) {
    // A flat series still needs a non-zero span to divide by.
    const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.1 : 0.5;
    min -= pad;
    max += pad;
  }
  const step = niceStep((max - min) / TARGET_TICKS);
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const count = Math.round((hi - lo) / step);
  // Each tick from its index, not by repeated addition, so 0.1 steps do not drift to 0.30000000000000004.
  const ticks = Array.from({ length: count + 1 }, (_, i) => lo + i * step);
  return { lo, hi, step, ticks };
}

/** 1, 2 or 5 times a power of ten, nearest to `raw`. */
function niceStep(raw: number): number {
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

function formatTick(v: number, step: number): string {
  const decimals = Math.max(0, Math.min(12, -Math.floor(Math.log10(step) + 1e-9)));
  const s = v.toFixed(decimals);
  return Number(s) === 0 ? (0).toFixed(decimals) : s;
}

function diamond(x: number, y: number, r: number): string {
  return `M ${num(x)} ${num(y - r)} L ${num(x + r)} ${num(y)} L ${num(x)} ${num(y + r)} L ${num(x - r)} ${num(y)} Z`;
}

/** A coordinate with at most two decimals: enough for a screen, and keeps the file small. */
function num(v: number): string {
  const r = Math.round(v * 100) / 100;
  return String(Object.is(r, -0) ? 0 : r);
}

function isFinitePoint(p: PlotPoint): boolean {
  return Number.isFinite(p.x) && Number.isFinite(p.y);
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}
