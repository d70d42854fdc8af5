// charts — line charts in plain SVG, drawn by this file alone.
//
// Why our own code rather than a charting library: the dashboard must
// load nothing from other hosts and need no build step, and what it draws
// is small (a few series of at most some thousands of points, vertical
// markers, two axes). A hundred-odd lines of SVG do that, with nothing to
// vendor or keep up to date, and leave the chart in the DOM where a test
// (or a screen reader) can read it: each series is one <polyline> with
// data-series and data-count, and the latest values are also written out
// as text under the chart.
//
// A chart redraws at most once per animation frame, and at its element's
// width whenever that changes, so text stays crisp at any size.
import { h, s, fmtNum } from './util.js';

// Room around the plot; the left one grows with the y tick labels.
const MARGIN = { right: 14, top: 12, bottom: 36, axisLabel: 22 };
const CHAR_PX = 6.6;   // width of a tick label's character at 11px
let chartIds = 0;

function niceStep(range, count) {
  const raw = range / Math.max(1, count);
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

// A tick value with as many decimals as its step needs.
function tickLabel(v, step) {
  if (step < 1e-6 || Math.abs(v) >= 1e7) return v.toExponential(1);
  return v.toFixed(Math.max(0, Math.min(8, -Math.floor(Math.log10(step) + 1e-9))));
}

function ticks(min, max, step) {
  const out = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

// Every k-th point and the last, so a polyline has at most ~2 points per pixel.
function thin(points, maxPoints) {
  if (points.length <= maxPoints) return points;
  const k = Math.ceil(points.length / maxPoints);
  const out = points.filter((_, i) => i % k === 0);
  if (out[out.length - 1] !== points[points.length - 1]) out.push(points[points.length - 1]);
  return out;
}

export class LineChart {
  // root: the <figure> to draw in. opts: {title, yLabel, xLabel, height, digits}.
  constructor(root, { title, yLabel, xLabel = 'step', height = 220, digits = 4 }) {
    this.id = `chart${++chartIds}`;
    this.root = root;
    this.opts = { title, yLabel, xLabel, height, digits };
    this.series = [];
    this.markers = [];
    this.markerLabel = '';
    this.xMax = null;
    this.frame = 0;
    this.lastWidth = 0;
    root.classList.add('chart');
    this.caption = h('figcaption', { id: `${this.id}-title`, class: 'chart-title' }, title);
    this.plot = h('div', { class: 'chart-plot' });
    this.legend = h('ul', { class: 'chart-legend' });
    this.values = h('p', { class: 'chart-values', id: `${this.id}-values` });
    root.replaceChildren(this.caption, this.plot, this.legend, this.values);
    this.resize = new ResizeObserver(() => {
      if (this.plot.clientWidth !== this.lastWidth) this.draw();
    });
    this.resize.observe(this.plot);
  }

  // series: [{key, label, points: [[x, y], …], kind: 'line' | 'dots', cls}]
  // markers: x positions drawn as thin vertical lines (e.g. mask steps).
  /** @param {{series?: any[], markers?: number[], markerLabel?: string, xMax?: number}} opts */
  set({ series, markers, markerLabel, xMax }) {
    if (series) this.series = series;
    if (markers) this.markers = markers;
    if (markerLabel !== undefined) this.markerLabel = markerLabel;
    if (xMax !== undefined) this.xMax = xMax;
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.draw();
      });
    }
  }

  destroy() {
    this.resize.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
  }

  // The latest value of every series, as one line of text.
  summary() {
    const parts = [];
    let step = null;
    for (const sr of this.series) {
      const last = sr.points[sr.points.length - 1];
      if (!last) continue;
      if (sr.kind !== 'schedule') step = Math.max(step ?? 0, last[0]);
      parts.push(`${sr.label} ${fmtNum(last[1], this.opts.digits)}` +
                 (sr.kind === 'schedule' ? ` at step ${last[0]}` : ''));
    }
    if (!parts.length) return 'No data yet.';
    return (step !== null ? `Latest, step ${step}: ` : 'Latest: ') + parts.join('; ') + '.';
  }

  draw() {
    const { height, xLabel, yLabel } = this.opts;
    const W = Math.max(200, this.plot.clientWidth || 600);
    this.lastWidth = this.plot.clientWidth;
    const ph = height - MARGIN.top - MARGIN.bottom;
    const all = this.series.flatMap((sr) => sr.points).filter((p) => Number.isFinite(p[1]));
    const text = this.summary();
    this.values.textContent = text;

    const svg = s('svg', {
      width: W, height, viewBox: `0 0 ${W} ${height}`, role: 'img',
      'aria-labelledby': `${this.id}-title ${this.id}-desc`,
    }, s('desc', { id: `${this.id}-desc` }, text));

    // Loops, not Math.max(...all): a long job has more points than a
    // call may have arguments.
    let x0 = 0;
    let x1 = Math.max(1, this.xMax || 0);
    let y0 = Infinity;
    let y1 = -Infinity;
    for (const p of all) {
      x1 = Math.max(x1, p[0]);
      y0 = Math.min(y0, p[1]);
      y1 = Math.max(y1, p[1]);
    }
    if (!all.length) {
      y0 = 0;
      y1 = 1;
    } else if (y0 === y1) {
      const d = Math.abs(y0) * 0.1 || 1;
      y0 -= d;
      y1 += d;
    }
    const yStep = niceStep(y1 - y0, Math.max(2, Math.floor(ph / 40)));
    y0 = Math.floor(y0 / yStep) * yStep;
    y1 = Math.ceil(y1 / yStep) * yStep;
    const yTicks = ticks(y0, y1, yStep).map((v) => [v, tickLabel(v, yStep)]);
    const left = MARGIN.axisLabel + 8 + CHAR_PX * Math.max(...yTicks.map((t) => t[1].length));
    const pw = W - left - MARGIN.right;
    const xStep = Math.max(1, niceStep(x1 - x0, Math.max(2, Math.floor(pw / 80))));
    const X = (x) => left + ((x - x0) / (x1 - x0)) * pw;
    const Y = (y) => MARGIN.top + (1 - (y - y0) / (y1 - y0)) * ph;

    const grid = s('g', { class: 'grid' });
    for (const [v, label] of yTicks) {
      grid.append(s('line', { x1: left, x2: left + pw, y1: Y(v), y2: Y(v) }),
                  s('text', { x: left - 6, y: Y(v) + 4, class: 'tick y' }, label));
    }
    for (const v of ticks(x0, x1, xStep)) {
      grid.append(s('line', { class: 'xgrid', x1: X(v), x2: X(v), y1: MARGIN.top,
                              y2: MARGIN.top + ph }),
                  s('text', { x: X(v), y: MARGIN.top + ph + 16, class: 'tick x' },
                    tickLabel(v, xStep)));
    }
    grid.append(
      s('text', { x: left + pw / 2, y: height - 4, class: 'axis-label' }, xLabel),
      s('text', { x: 12, y: MARGIN.top + ph / 2, class: 'axis-label',
                  transform: `rotate(-90 12 ${MARGIN.top + ph / 2})` }, yLabel));
    svg.append(grid);

    const marks = s('g', { class: 'markers', 'data-count': this.markers.length });
    // Many markers become short ticks on the x axis instead of full lines.
    const short = this.markers.length > pw / 6;
    for (const m of this.markers) {
      if (m < x0 || m > x1) continue;
      marks.append(s('line', { x1: X(m), x2: X(m), y1: short ? MARGIN.top + ph - 6 : MARGIN.top,
                               y2: MARGIN.top + ph }));
    }
    svg.append(marks);

    this.legend.replaceChildren();
    for (const sr of this.series) {
      const pts = thin(sr.points.filter((p) => Number.isFinite(p[1])), pw * 2);
      const g = s('g', { class: `series ${sr.cls}`, 'data-series': sr.key,
                         'data-count': sr.points.length });
      if (sr.kind === 'dots' && pts.length <= 200) {
        for (const p of pts) g.append(s('circle', { cx: X(p[0]), cy: Y(p[1]), r: 3 }));
      } else if (pts.length) {
        g.append(s('polyline', {
          points: pts.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' '),
        }));
      }
      svg.append(g);
      this.legend.append(h('li', {}, h('span', { class: `swatch ${sr.cls}`, 'aria-hidden': 'true' }),
                           sr.label));
    }
    if (this.markers.length && this.markerLabel) {
      this.legend.append(h('li', {}, h('span', { class: 'swatch marker', 'aria-hidden': 'true' }),
                           this.markerLabel));
    }
    if (!all.length) {
      svg.append(s('text', { x: left + pw / 2, y: MARGIN.top + ph / 2,
                             class: 'empty' }, 'No data yet'));
    }
    this.plot.replaceChildren(svg);
  }
}
