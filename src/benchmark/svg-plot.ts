/**
 * Dependency-free SVG charts for benchmark reports: a line/scatter chart (e.g. throughput vs
 * latency across rates or concurrencies) and a histogram or CDF of a latency distribution. Output
 * is a standalone SVG document (xmlns, viewBox, escaped text); every series is drawn as exactly one
 * <path> and named in the legend.
 */

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface LineSeries {
  readonly name: string;
  readonly points: readonly Point[];
}

export interface ChartFrame {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly widthPx?: number;
  readonly heightPx?: number;
}

export interface LineChartOptions extends ChartFrame {
  readonly series: readonly LineSeries[];
  /** draw a dot at each point (default true) */
  readonly hasMarkers?: boolean;
}

export interface DistributionSeries {
  readonly name: string;
  readonly values: readonly number[];
}

export interface DistributionChartOptions extends ChartFrame {
  readonly series: readonly DistributionSeries[];
  /** 'histogram' (count per bin, the default) or 'cdf' (fraction ≤ x) */
  readonly kind?: 'histogram' | 'cdf';
  readonly numBins?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const MARGIN = { left: 70, right: 160, top: 40, bottom: 55 };

export function renderLineChart(options: LineChartOptions): string {
  const all = options.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const plot = new PlotArea(options, range(all.map((p) => p.x)), range(all.map((p) => p.y), true));
  const body: string[] = [];
  options.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const points = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    const d = points.map((p, j) => `${j === 0 ? 'M' : 'L'}${fmt(plot.px(p.x))},${fmt(plot.py(p.y))}`).join(' ');
    body.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"><title>${escapeXml(s.name)}</title></path>`);
    if (options.hasMarkers ?? true) {
      for (const p of points) body.push(`<circle cx="${fmt(plot.px(p.x))}" cy="${fmt(plot.py(p.y))}" r="3" fill="${color}"/>`);
    }
  });
  return plot.document(body, options.series.map((s) => s.name));
}

export function renderDistributionChart(options: DistributionChartOptions): string {
  const kind = options.kind ?? 'histogram';
  const numBins = Math.max(1, Math.floor(options.numBins ?? 30));
  const values = options.series.map((s) => s.values.filter(Number.isFinite));
  const [xMin, xMax] = range(values.flat());
  const binWidth = (xMax - xMin) / numBins;
  const curves: Point[][] = values.map((vs) => (kind === 'cdf' ? cdfSteps(vs) : histogramSteps(vs, xMin, binWidth, numBins)));
  const yRange: [number, number] = kind === 'cdf' ? [0, 1] : range(curves.flat().map((p) => p.y), true);
  const plot = new PlotArea(options, [xMin, xMax], yRange);
  const body = curves.map((points, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const d = points.map((p, j) => `${j === 0 ? 'M' : 'L'}${fmt(plot.px(p.x))},${fmt(plot.py(p.y))}`).join(' ');
    const fill = kind === 'histogram' ? `${color}33` : 'none';
    return `<path d="${d}" fill="${fill}" stroke="${color}" stroke-width="2"><title>${escapeXml(options.series[i]!.name)}</title></path>`;
  });
  return plot.document(body, options.series.map((s) => s.name));
}

/** outline of a histogram: starts and ends on the baseline */
function histogramSteps(values: readonly number[], xMin: number, binWidth: number, numBins: number): Point[] {
  const counts = new Array<number>(numBins).fill(0);
  for (const v of values) counts[binWidth > 0 ? Math.min(numBins - 1, Math.floor((v - xMin) / binWidth)) : 0]!++;
  const points: Point[] = [{ x: xMin, y: 0 }];
  counts.forEach((c, i) => {
    points.push({ x: xMin + i * binWidth, y: c }, { x: xMin + (i + 1) * binWidth, y: c });
  });
  points.push({ x: xMin + numBins * binWidth, y: 0 });
  return points;
}

/** empirical CDF as a staircase */
function cdfSteps(values: readonly number[]): Point[] {
  const sorted = [...values].sort((a, b) => a - b);
  const points: Point[] = [];
  sorted.forEach((v, i) => {
    points.push({ x: v, y: i / sorted.length }, { x: v, y: (i + 1) / sorted.length });
  });
  return points;
}

/** maps data to pixels and draws the frame, axes, ticks, labels and legend */
class PlotArea {
  private readonly width: number;
  private readonly height: number;
  private readonly xTicks: number[];
  private readonly yTicks: number[];
  private readonly x0: number;
  private readonly x1: number;
  private readonly y0: number;
  private readonly y1: number;

  constructor(
    private readonly frame: ChartFrame,
    xRange: [number, number],
    yRange: [number, number],
  ) {
    this.width = frame.widthPx ?? 720;
    this.height = frame.heightPx ?? 420;
    this.xTicks = niceTicks(xRange[0], xRange[1]);
    this.yTicks = niceTicks(yRange[0], yRange[1]);
    this.x0 = this.xTicks[0]!;
    this.x1 = this.xTicks[this.xTicks.length - 1]!;
    this.y0 = this.yTicks[0]!;
    this.y1 = this.yTicks[this.yTicks.length - 1]!;
  }

  px(x: number): number {
    const w = this.width - MARGIN.left - MARGIN.right;
    return MARGIN.left + ((x - this.x0) / (this.x1 - this.x0 || 1)) * w;
  }

  py(y: number): number {
    const h = this.height - MARGIN.top - MARGIN.bottom;
    return this.height - MARGIN.bottom - ((y - this.y0) / (this.y1 - this.y0 || 1)) * h;
  }

  document(body: readonly string[], names: readonly string[]): string {
    const { width: w, height: h } = this;
    const left = MARGIN.left;
    const right = w - MARGIN.right;
    const top = MARGIN.top;
    const bottom = h - MARGIN.bottom;
    const out: string[] = [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="12">`,
      `<rect x="0" y="0" width="${w}" height="${h}" fill="#ffffff"/>`,
      `<text x="${w / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(this.frame.title)}</text>`,
    ];
    for (const t of this.xTicks) {
      const x = fmt(this.px(t));
      out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${x}" y="${bottom + 16}" text-anchor="middle">${escapeXml(tickLabel(t))}</text>`);
    }
    for (const t of this.yTicks) {
      const y = fmt(this.py(t));
      out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(tickLabel(t))}</text>`);
    }
    out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#000000"/>`);
    out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#000000"/>`);
    out.push(`<text x="${(left + right) / 2}" y="${h - 12}" text-anchor="middle">${escapeXml(this.frame.xLabel)}</text>`);
    const yMid = (top + bottom) / 2;
    out.push(`<text x="16" y="${yMid}" text-anchor="middle" transform="rotate(-90 16 ${yMid})">${escapeXml(this.frame.yLabel)}</text>`);
    out.push(`<g class="series">`, ...body, `</g>`);
    out.push(`<g class="legend">`);
    names.forEach((name, i) => {
      const y = top + 10 + i * 20;
      const color = PALETTE[i % PALETTE.length]!;
      out.push(`<rect x="${right + 16}" y="${y - 2}" width="14" height="4" fill="${color}"/>`);
      out.push(`<text x="${right + 36}" y="${y}" dominant-baseline="middle">${escapeXml(name)}</text>`);
    });
    out.push(`</g>`, `</svg>`, '');
    return out.join('\n');
  }
}

/** about 5 to 10 ticks at 1, 2 or 5 × 10^k that cover [min, max] */
export function niceTicks(min: number, max: number, targetCount = 6): number[] {
  if (!(Number.isFinite(min) && Number.isFinite(max))) return [0, 1];
  if (max <= min) {
    const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.5 : 1;
    return niceTicks(min - pad, max + pad, targetCount);
  }
  const rough = (max - min) / targetCount;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough)!;
  const first = Math.floor(min / step) * step;
  const ticks: number[] = [];
  for (let t = first; t < max + step * 0.999; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

export function escapeXml(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '&') out += '&amp;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (ch === '"') out += '&quot;';
    else if (ch === "'") out += '&apos;';
    else if (code < 0x20 && ch !== '\t' && ch !== '\n' && ch !== '\r') out += '\uFFFD'; // not allowed in XML 1.0
    else out += ch;
  }
  return out;
}

/** [min, max] of finite values, [0, 1] when none; `isFromZero` pulls min down to 0 */
function range(values: readonly number[], isFromZero = false): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min > max) return [0, 1];
  return [isFromZero ? Math.min(0, min) : min, max];
}

function tickLabel(value: number): string {
  if (value !== 0 && (Math.abs(value) >= 1e6 || Math.abs(value) < 1e-3)) return value.toExponential(1);
  return String(Number(value.toPrecision(6)));
}

function fmt(value: number): string {
  return value.toFixed(2);
}
