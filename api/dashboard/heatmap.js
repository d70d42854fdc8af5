// heatmap — the rank allocation as the paper draws it: kept ranks per
// layer (rows) and module (columns), each cell coloured light to dark in
// one hue by its rank from 0 to init_r, with the number written in it,
// totals per layer and per module, and a legend.
//
// It is an HTML table rather than a picture, so it is readable as it
// stands (by screen readers and by tests: every cell carries data-rank),
// and it reflows on a phone. Colours are set through the CSSOM (style
// properties), which the daemon's Content-Security-Policy allows.
//
// An encoder-decoder (BART: the ranks carry layerGroups per row and
// moduleGroups per column) is drawn as three tables: the encoder's layers
// with their self-attention and FFN modules, the decoder's with theirs,
// and the decoder's cross-attention (encoder_attn) modules; each table's
// rows are numbered within their stack.
import { h } from './util.js';

// Light to dark blue (the sequential "Blues" ramp, as in the paper's figure).
const STOPS = ['#f7fbff', '#deebf7', '#c6dbef', '#9ecae1', '#6baed6', '#4292c6', '#2171b5',
               '#08519c', '#08306b'].map((c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)));

// [r, g, b] of rank v on the 0..initR scale.
function rgb(v, initR) {
  const t = initR > 0 ? Math.min(1, Math.max(0, v / initR)) : 0;
  const pos = t * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(pos));
  const f = pos - i;
  return STOPS[i].map((c, k) => Math.round(c + (STOPS[i + 1][k] - c) * f));
}

function paint(cell, v, initR) {
  const [r, g, b] = rgb(v, initR);
  cell.style.backgroundColor = `rgb(${r}, ${g}, ${b})`;
  // Dark cells get light text (relative luminance below ~0.35).
  cell.style.color = 0.2126 * r + 0.7152 * g + 0.0722 * b < 110 ? '#fff' : '#0b1a2e';
}

// Values shown in the legend: all of 0..initR when few, else ~8 of them.
function legendValues(initR) {
  if (initR <= 12) return Array.from({ length: initR + 1 }, (_, i) => i);
  const out = [];
  for (let i = 0; i <= 7; i++) out.push(Math.round((i * initR) / 7));
  return [...new Set(out)];
}

export class RankHeatmap {
  constructor(root) {
    this.root = root;
    root.classList.add('heatmap');
    this.table = h('table', { class: 'ranks' });
    this.tables = h('div', { class: 'heatmap-tables' }, this.table);
    this.legend = h('div', { class: 'heatmap-legend' });
    this.root.replaceChildren(this.tables, this.legend);
  }

  clear(message) {
    this.table.replaceChildren(h('caption', {}, message));
    this.tables.replaceChildren(this.table);
    this.legend.replaceChildren();
    this.root.dataset.step = '';
  }

  // One table: rows (indices into entry.layers) by columns (indices into
  // modules); returns its total.
  table1(table, entry, rows, cols, modules, initR, caption, rowLabel) {
    const colSums = cols.map(() => 0);
    let total = 0;
    const body = rows.map((layer, r) => {
      const row = entry.layers[layer] || [];
      let rowSum = 0;
      const cells = cols.map((c, k) => {
        const v = row[c];
        if (v === null || v === undefined) return h('td', { class: 'off', 'data-rank': '' }, '–');
        rowSum += v;
        colSums[k] += v;
        const td = h('td', { 'data-rank': v }, String(v));
        paint(td, v, initR);
        return td;
      });
      total += rowSum;
      return h('tr', {}, h('th', { scope: 'row' }, String(rowLabel(layer, r))), cells,
               h('td', { class: 'sum' }, String(rowSum)));
    });
    table.replaceChildren(
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'layer'),
                       cols.map((c) => h('th', { scope: 'col' }, modules[c])),
                       h('th', { scope: 'col', class: 'sum' }, 'total'))),
      h('tbody', {}, body),
      h('tfoot', {}, h('tr', {}, h('th', { scope: 'row' }, 'total'),
                       colSums.map((v) => h('td', { class: 'sum' }, String(v))),
                       h('td', { class: 'sum' }, String(total)))));
    return total;
  }

  // entry: {step, budget, layers: [[rank|null, …], …]}; modules: column
  // names; layerGroups / moduleGroups (an encoder-decoder's): per row and
  // per column.
  render(entry, { modules, initR, final, budgetInitial, layerGroups, moduleGroups }) {
    const what = final ? 'Final rank pattern' : 'Kept ranks';
    const all = (n) => Array.from({ length: n }, (_, i) => i);
    let total = 0;
    if (layerGroups && moduleGroups && layerGroups.length === entry.layers.length) {
      const enc = all(entry.layers.length).filter((l) => layerGroups[l] === 'encoder');
      const dec = all(entry.layers.length).filter((l) => layerGroups[l] === 'decoder');
      const own = all(modules.length).filter((c) => moduleGroups[c] !== 'encoder_attn');
      const cross = all(modules.length).filter((c) => moduleGroups[c] === 'encoder_attn');
      const parts = [
        ['encoder', enc, own, 'Encoder (self-attention, FFN)'],
        ['decoder-self', dec, own, 'Decoder (self-attention, FFN)'],
        ['decoder-cross', dec, cross, 'Decoder cross-attention (encoder_attn)'],
      ].filter(([, rows, cols]) => rows.length && cols.length);
      const tables = parts.map(([key, rows, cols, title]) => {
        const t = h('table', { class: 'ranks', 'data-part': key });
        total += this.table1(t, entry, rows, cols, modules, initR, title, (_, r) => r);
        return t;
      });
      const budget = budgetInitial ? `${entry.budget ?? total} of ${budgetInitial}` : `${total}`;
      this.tables.replaceChildren(
        h('p', { class: 'heatmap-caption' },
          `${what} at step ${entry.step}: budget ${budget} triplets (init_r ${initR})`),
        ...tables);
    } else {
      const rows = all(entry.layers.length), cols = all(modules.length);
      total = this.table1(this.table, entry, rows, cols, modules, initR, '', (l) => l);
      const budget = budgetInitial ? `${entry.budget ?? total} of ${budgetInitial}` : `${total}`;
      this.table.querySelector('caption').textContent =
        `${what} at step ${entry.step}: budget ${budget} triplets ` +
        `(rows: layers, columns: modules, init_r ${initR})`;
      this.tables.replaceChildren(this.table);
    }
    this.root.dataset.step = String(entry.step);
    this.root.dataset.kept = String(total);

    const swatches = legendValues(initR).map((v) => {
      const sw = h('span', { class: 'legend-cell' }, String(v));
      paint(sw, v, initR);
      return sw;
    });
    this.legend.replaceChildren(h('span', { class: 'legend-label' }, 'kept rank'), ...swatches);
  }
}
