// util — what every view of the dashboard uses: building DOM nodes
// (text always goes in as text, never as HTML, so nothing the API returns
// can inject markup), formatting numbers, times and durations.

export const FINAL_STATUSES = new Set(['succeeded', 'failed', 'cancelled']);
// Methods that budget ranks: they have b(t), rank events and a heatmap.
export const BUDGET_METHODS = new Set(['adalora', 'lora_prune']);

function setAttrs(node, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.setAttribute('class', v);
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// h('button', {class: 'x', onclick: f}, 'Cancel')
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

const pad2 = (n) => String(n).padStart(2, '0');

// Unix seconds -> "2026-11-26 23:15" in local time; "–" for null.
export function fmtTime(unix) {
  if (!unix) return '–';
  const d = new Date(unix * 1000);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
         `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

// Seconds -> "45 s", "3 min 20 s", "2 h 5 min".
export function fmtDuration(sec) {
  if (!Number.isFinite(sec)) return '–';
  sec = Math.max(0, Math.round(sec));
  if (sec < 60) return `${sec} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${sec % 60} s`;
  return `${Math.floor(sec / 3600)} h ${Math.floor((sec % 3600) / 60)} min`;
}

// A number in at most `digits` significant digits; "–" when missing.
export function fmtNum(v, digits = 4) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e7)) return v.toExponential(2);
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(digits)));
}

// A count as 292.8K, 1.1M, 7B.
export function fmtCount(n) {
  if (!Number.isFinite(n)) return '–';
  /** @type {[number, string][]} */
  const units = [[1e9, 'B'], [1e6, 'M'], [1e3, 'K']];
  for (const [div, unit] of units) {
    if (Math.abs(n) >= div) return `${Number((n / div).toPrecision(3))}${unit}`;
  }
  return String(n);
}

// The time left until a job's estimated_finish, as text.
export function fmtEta(job) {
  if (job.status !== 'running' || !job.estimated_finish) return '';
  return `ETA ${fmtDuration(job.estimated_finish - Date.now() / 1000)}`;
}

export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// Resolves after ms, or at once when signal aborts.
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

export function methodOf(job) {
  return job?.method?.type || 'unknown';
}

// The method's hyperparameters (defaults filled in by the daemon).
export function hyperparametersOf(job) {
  const m = job?.method;
  return (m && m[m.type]?.hyperparameters) || job?.hyperparameters || {};
}

// A status badge: the class carries the colour, the text says it.
export function statusBadge(status) {
  return h('span', { class: `badge st-${status}`, 'data-status': status }, status.replace('_', ' '));
}
