// ranks — a job page's rank allocation section: the heatmap (heatmap.js),
// the allocation history behind it, and the step slider that replays it.
//
// The history has two sources that may arrive in any order: GET
// …/ranks?history=true (everything so far, at once) and the rank events
// of the live stream (which, followed from the start, also replay the
// past). Entries are merged by step, so each allocation is shown once.
// The slider follows the newest allocation until the user moves it.
import { api } from './api.js';
import { RankHeatmap } from './heatmap.js';
import { h } from './util.js';

const REPLAY_MS = 350;

export class RankSection {
  constructor() {
    this.entries = [];     // {step, budget, layers, final}, by increasing step
    this.info = null;      // {modules, initR, budgetInitial, layerGroups, moduleGroups}
    this.follow = true;
    this.timer = 0;
    this.slider = h('input', { type: 'range', id: 'rank-step', min: 0, max: 0, value: 0,
                               step: 1, 'aria-describedby': 'rank-step-out' });
    this.out = h('output', { id: 'rank-step-out', for: 'rank-step' }, '');
    this.play = h('button', { type: 'button', class: 'small', onclick: () => this.togglePlay() },
                  'Replay');
    this.latest = h('button', { type: 'button', class: 'small',
                                onclick: () => this.showLatest() }, 'Latest');
    this.slider.addEventListener('input', () => {
      this.stopReplay();
      this.follow = Number(this.slider.value) === this.entries.length - 1;
      this.render();
    });
    this.host = h('div', { 'data-testid': 'rank-heatmap' });
    this.heatmap = new RankHeatmap(this.host);
    this.heatmap.clear('No rank allocation yet.');
    this.controls = h('div', { class: 'replay', hidden: true },
                      h('label', { for: 'rank-step' }, 'Allocation at'), this.slider,
                      this.out, this.play, this.latest);
    this.element = h('section', { 'aria-labelledby': 'h-ranks' },
                     h('h2', { id: 'h-ranks' }, 'Rank allocation'), this.controls, this.host);
  }

  // GET …/ranks?history=true; path is the job's ranks URL.
  async load(path, signal) {
    try {
      const r = await api.get(`${path}?history=true`, { signal });
      this.setInfo(r.modules, r.init_r, r.budget?.initial, r.layer_groups, r.module_groups);
      for (const e of r.history || []) {
        this.add({ step: e.step, budget: e.budget, layers: e.layers, final: false });
      }
      const last = this.entries.find((e) => e.step === r.step);
      if (last && r.final) last.final = true;
      this.render();
    } catch (e) {
      // 409: not allocated yet; the stream brings the first allocation.
      // 404 for a budget method: the job was never planned (it failed or
      // was cancelled before it ran).
      if (signal.aborted || e.status === 409) return;
      this.heatmap.clear(e.status === 404 ? 'No rank allocation: the job never ran.' : e.message);
    }
  }

  // The data of a "ranks" event.
  addEvent(d) {
    this.setInfo(d.modules, d.init_r, d.budget?.initial, d.layer_groups, d.module_groups);
    this.add({ step: d.step, budget: d.budget?.current, layers: d.layers, final: !!d.final });
  }

  // layerGroups, moduleGroups: an encoder-decoder's stacks (BART), else undefined.
  setInfo(modules, initR, budgetInitial, layerGroups, moduleGroups) {
    if (!this.info && modules) {
      this.info = { modules, initR, budgetInitial, layerGroups, moduleGroups };
    }
  }

  add(entry) {
    const i = this.entries.findIndex((e) => e.step >= entry.step);
    if (i < 0) {
      this.entries.push(entry);
    } else if (this.entries[i].step === entry.step) {
      this.entries[i] = { ...entry, final: entry.final || this.entries[i].final };
    } else {
      this.entries.splice(i, 0, entry);
    }
  }

  render() {
    if (!this.info || !this.entries.length) return;
    const last = this.entries.length - 1;
    this.controls.hidden = false;
    this.slider.max = String(last);
    if (this.follow) this.slider.value = String(last);
    const i = Math.min(Number(this.slider.value), last);
    const e = this.entries[i];
    this.slider.setAttribute('aria-valuetext', `step ${e.step}, ${i + 1} of ${last + 1}`);
    this.out.textContent = `step ${e.step} (${i + 1} of ${last + 1})` +
                           (e.budget !== undefined ? `, budget ${e.budget}` : '');
    this.heatmap.render(e, { modules: this.info.modules, initR: this.info.initR, final: e.final,
                             budgetInitial: this.info.budgetInitial,
                             layerGroups: this.info.layerGroups,
                             moduleGroups: this.info.moduleGroups });
    this.host.dataset.index = String(i);
    this.host.dataset.entries = String(last + 1);
  }

  togglePlay() {
    if (this.timer) {
      this.stopReplay();
      return;
    }
    if (this.entries.length < 2) return;
    this.follow = false;
    this.slider.value = '0';
    this.play.textContent = 'Stop';
    this.render();
    this.timer = setInterval(() => {
      const next = Number(this.slider.value) + 1;
      if (next >= this.entries.length) {
        this.showLatest();
        return;
      }
      this.slider.value = String(next);
      this.render();
    }, REPLAY_MS);
  }

  stopReplay() {
    clearInterval(this.timer);
    this.timer = 0;
    this.play.textContent = 'Replay';
  }

  showLatest() {
    this.stopReplay();
    this.follow = true;
    this.render();
  }

  destroy() {
    this.stopReplay();
  }
}
