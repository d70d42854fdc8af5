// job — one job's page: its facts and progress, cancel, the error of a
// failed job, the latest values in text, train/validation loss and
// learning-rate curves, b(t) actual against the scheduled curve with the
// mask steps marked, the rank heatmap with a step slider replaying the
// allocation history, checkpoints, adapter downloads and the event log.
// Classification jobs also show their task, labels and label map (the job's
// "classification" object) and their validation metrics over the steps
// (accuracy, F1, MCC; Pearson and Spearman for a regression).
// Sequence-to-sequence jobs show their validation ROUGE over the steps
// (ROUGE-1, ROUGE-2, ROUGE-L, ROUGE-Lsum F-measures) when their validation
// events carry them.
//
// Where the data comes from: the job's live event stream (sse.js),
// followed from its first event, gives the whole history and then every
// new event — metrics (loss, learning rate, b(t)), validations, rank
// allocations (to ranks.js), messages. The job object is polled for
// status, progress and ETA while the job is not final; the scheduled
// b(t) comes from POST /v1/adalora/schedule with the job's own
// hyperparameters and step count.
import { api } from './api.js';
import { LineChart } from './charts.js';
import { cancelJob, progressCell } from './jobs.js';
import { RankSection } from './ranks.js';
import { followEvents } from './sse.js';
import { TryIt } from './tryit.js';
import {
  BUDGET_METHODS, FINAL_STATUSES, h, fmtNum, fmtTime, hyperparametersOf, methodOf,
  statusBadge,
} from './util.js';

const JOB_POLL_MS = 2000;
const CHECKPOINT_RELOAD_MS = 200;
const LOG_LINES = 60;
// Validation metrics of classification jobs (keys of metrics and validation
// events and of job.metrics), shown when a job has them; extractive QA jobs
// share the figure: exact match and F1 (SQuAD's, in percent; valid_f1 is
// the classifier's F1 or QA's, a job has one task) and SQuAD v2's splits.
const CLASS_METRICS = [
  ['valid_accuracy', 'Validation accuracy'], ['valid_f1', 'Validation F1'],
  ['valid_mcc', 'Validation MCC'], ['valid_pearson', 'Validation Pearson'],
  ['valid_spearman', 'Validation Spearman'],
  ['valid_exact', 'Validation exact match'], ['valid_HasAns_f1', 'Validation HasAns F1'],
  ['valid_NoAns_f1', 'Validation NoAns F1'],
];
// Validation ROUGE F-measures of sequence-to-sequence jobs (keys of
// validation events and of job.metrics; README, "Events").
const ROUGE_METRICS = [
  ['valid_rouge1', 'Validation ROUGE-1'], ['valid_rouge2', 'Validation ROUGE-2'],
  ['valid_rougeL', 'Validation ROUGE-L'], ['valid_rougeLsum', 'Validation ROUGE-Lsum'],
];

// One line per metric of keys found in the validation events, at the
// steps they were scored (the last value of a step wins).
function validationSeries(validations, keys) {
  return keys.map(([k, label], i) => {
    const byStep = new Map();
    for (const d of validations) if (Number.isFinite(d[k])) byStep.set(d.step, d[k]);
    return { key: k, label: label.replace('Validation ', ''), kind: 'line', cls: `s-c${i}`,
             points: [...byStep].sort((a, b) => a[0] - b[0]) };
  }).filter((sr) => sr.points.length);
}

// A seq2seq job's valid_accuracy is the teacher-forced token accuracy.
const metricLabel = (job, key, label) =>
  (job?.task === 'seq2seq' && key === 'valid_accuracy' ? 'Validation token accuracy' : label);

// The facts of a seq2seq job (an encoder-decoder): how its texts are cut
// and its loss smoothed.
function seq2seqFacts(job, hp) {
  if (job.task !== 'seq2seq') return [];
  const len = (v) => (v === undefined || v === 'auto' ? 'auto' : String(v));
  return [['Lengths', `source ${len(hp.max_source_length)}, target ${len(hp.max_target_length)} tokens`],
          ['Label smoothing', String(hp.label_smoothing ?? 0)]];
}

// The facts of a classifier (job.classification): its labels, the label
// map by class id, its examples and how many were truncated.
function classificationFacts(c) {
  if (!c) return [];
  const facts = [];
  if (c.label_kind === 'float') {
    facts.push(['Labels', 'regression: one output (mean squared error)']);
  } else {
    facts.push(['Labels', `${c.num_labels} classes`]);
  }
  if (Array.isArray(c.labels)) {
    facts.push(['Label map', h('ol', { class: 'label-map', start: 0 },
      c.labels.map((name, id) => h('li', {}, h('span', { class: 'mono' }, String(id)), ' → ', name)))]);
  } else if (c.label_kind === 'int') {
    facts.push(['Label map', `class ids 0 to ${c.num_labels - 1}, as in the data`]);
  }
  if (Number.isFinite(c.train_examples)) {
    facts.push(['Examples', `${c.train_examples} training, ${c.valid_examples} validation`]);
  }
  if (c.truncated) {
    facts.push(['Truncated to seq_len', `${c.truncated.train} training, ${c.truncated.valid} validation`]);
  }
  return facts;
}

const jobPath = (id, rest = '') => `/v1/fine_tuning/jobs/${encodeURIComponent(id)}${rest}`;

class JobPage {
  constructor(main, id) {
    this.id = id;
    this.abort = new AbortController();
    this.signal = this.abort.signal;
    this.job = null;
    this.metrics = [];       // data of metrics events, by increasing step
    this.validations = [];   // data of "validation" events
    this.schedule = null;
    this.scheduleAsked = false;
    this.log = [];
    this.pollTimer = 0;
    this.checkpointTimer = 0;
    this.outputsLoaded = false;
    this.frame = 0;
    this.build(main);
    this.start();
  }

  build(main) {
    this.badge = h('span', {});
    this.stream = h('p', { class: 'stream-state', role: 'status' }, 'Connecting…');
    this.facts = h('dl', { class: 'facts' });
    this.progress = h('div', { class: 'job-progress' });
    this.cancel = h('button', { type: 'button', class: 'danger', hidden: true,
                                onclick: () => this.onCancel() }, 'Cancel job');
    this.error = h('div', { class: 'job-error', role: 'alert', hidden: true });
    this.latest = h('dl', { class: 'latest' });

    const fig = (testid) => h('figure', { 'data-testid': testid });
    this.lossFig = fig('loss-chart');
    this.lrFig = fig('lr-chart');
    this.budgetFig = fig('budget-chart');
    this.classFig = fig('metrics-chart');
    this.classFig.hidden = true;
    this.rougeFig = fig('rouge-chart');
    this.rougeFig.hidden = true;
    this.loss = new LineChart(this.lossFig, { title: 'Loss', yLabel: 'loss' });
    this.lr = new LineChart(this.lrFig, { title: 'Learning rate', yLabel: 'learning rate' });
    this.budget = new LineChart(this.budgetFig, { title: 'Budget b(t): actual and scheduled',
                                                  yLabel: 'b(t), triplets' });
    this.classChart = new LineChart(this.classFig, { title: 'Validation metrics', yLabel: 'value' });
    this.rougeChart = new LineChart(this.rougeFig, { title: 'Validation ROUGE (F-measure)',
                                                     yLabel: 'F-measure' });
    this.budgetNote = h('p', { class: 'help' });

    this.ranks = new RankSection();
    this.tryit = new TryIt();

    this.checkpoints = h('div', {}, h('p', { class: 'help' }, 'None yet.'));
    this.outputs = h('div', {}, h('p', { class: 'help' }, 'Downloads appear when the job has ' +
                                  'succeeded.'));
    this.logList = h('ol', { class: 'log' });

    main.replaceChildren(
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Jobs'),
        ' › ', h('span', {}, this.id)),
      h('h1', { class: 'job-title' }, h('span', { class: 'job-id' }, this.id), ' ', this.badge),
      this.stream, this.error,
      h('div', { class: 'job-head' }, this.facts, h('div', {}, this.progress, this.cancel)),
      h('section', { 'aria-labelledby': 'h-latest' },
        h('h2', { id: 'h-latest' }, 'Latest values'), this.latest),
      h('section', { 'aria-labelledby': 'h-curves' },
        h('h2', { id: 'h-curves' }, 'Training curves'),
        h('div', { class: 'charts' }, this.lossFig, this.lrFig,
          h('div', { class: 'budget-box' }, this.budgetFig, this.budgetNote), this.classFig,
          this.rougeFig)),
      this.ranks.element,
      h('section', { 'aria-labelledby': 'h-ckpt' },
        h('h2', { id: 'h-ckpt' }, 'Checkpoints'), this.checkpoints),
      this.tryit.element,
      h('section', { 'aria-labelledby': 'h-out' },
        h('h2', { id: 'h-out' }, 'Adapter'), this.outputs),
      h('section', { 'aria-labelledby': 'h-log' },
        h('h2', { id: 'h-log' }, 'Events'), this.logList));
  }

  async start() {
    const got = await this.loadJob();
    if (got === 'retry') this.pollTimer = setTimeout(() => this.start(), JOB_POLL_MS);
    if (got !== true) return;
    if (BUDGET_METHODS.has(methodOf(this.job))) {
      this.ranks.load(jobPath(this.id, '/ranks'), this.signal);
    }
    this.loadCheckpoints();
    followEvents(this.id, {
      signal: this.signal,
      onEvent: (ev) => this.onEvent(ev),
      onDone: () => this.onDone(),
      onState: (st) => this.onStreamState(st),
    });
  }

  destroy() {
    this.abort.abort();
    clearTimeout(this.pollTimer);
    clearTimeout(this.checkpointTimer);
    this.ranks.destroy();
    this.tryit.destroy();
    if (this.frame) cancelAnimationFrame(this.frame);
    for (const c of [this.loss, this.lr, this.budget, this.classChart, this.rougeChart]) c.destroy();
  }

  // ---- loading --------------------------------------------------------

  // true when loaded; false when there is no such job; 'retry' on a
  // failure worth retrying. While the job is not final, it polls itself.
  async loadJob() {
    clearTimeout(this.pollTimer);
    try {
      this.job = await api.get(jobPath(this.id), { signal: this.signal });
    } catch (e) {
      if (this.signal.aborted) return false;
      if (e.status === 404) {
        this.stream.textContent = `There is no job ${this.id}.`;
        return false;
      }
      this.stream.textContent = `Cannot load the job: ${e.message}; retrying`;
      if (this.job) this.pollTimer = setTimeout(() => this.loadJob(), JOB_POLL_MS);
      return 'retry';
    }
    this.renderJob();
    this.maybeSchedule();
    if (!FINAL_STATUSES.has(this.job.status)) {
      this.pollTimer = setTimeout(() => this.loadJob(), JOB_POLL_MS);
    } else if (this.job.status === 'succeeded' && !this.outputsLoaded) {
      this.loadOutputs();
    }
    if (this.job.status === 'succeeded') this.tryit.show(this.job);
    return true;
  }

  async loadCheckpoints() {
    try {
      const l = await api.get(jobPath(this.id, '/checkpoints?limit=100'), { signal: this.signal });
      if (!l.data.length) return;
      const rows = l.data.map((c) => h('tr', {},
        h('td', { 'data-label': 'Step' }, String(c.step_number)),
        h('td', { 'data-label': 'Saved' }, fmtTime(c.created_at)),
        h('td', { 'data-label': 'Train loss' }, fmtNum(c.metrics?.train_loss)),
        h('td', { 'data-label': 'Valid loss' }, fmtNum(c.metrics?.valid_loss)),
        h('td', { 'data-label': 'Name', class: 'mono' }, c.fine_tuned_model_checkpoint)));
      this.checkpoints.replaceChildren(h('table', { class: 'checkpoints' },
        h('thead', {}, h('tr', {}, ['Step', 'Saved', 'Train loss', 'Valid loss', 'Name']
          .map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows)));
    } catch (e) {
      if (!this.signal.aborted) {
        this.checkpoints.replaceChildren(h('p', { class: 'error' }, e.message));
      }
    }
  }

  async loadOutputs() {
    this.outputsLoaded = true;
    try {
      const l = await api.get(jobPath(this.id, '/adapter'), { signal: this.signal });
      const items = l.data.map((f) => {
        const a = h('a', { href: f.url, download: f.name, 'data-testid': 'adapter-link' }, f.name);
        a.addEventListener('click', (ev) => {
          if (!api.key()) return;   // no key needed: the plain link works
          ev.preventDefault();
          api.download(f.url, f.name).catch((e) => window.alert(`${f.name}: ${e.message}`));
        });
        return h('li', {}, a, ` (${fmtNum(f.bytes)} bytes)`);
      });
      this.outputs.replaceChildren(
        h('p', {}, `Format: ${l.format === 'peft' ? 'PEFT adapter' : l.format}; ` +
                   `fine-tuned model ${this.job.fine_tuned_model || '–'}.`),
        h('ul', { class: 'downloads' }, items));
    } catch (e) {
      this.outputsLoaded = false;
      if (!this.signal.aborted) this.outputs.replaceChildren(h('p', { class: 'error' }, e.message));
    }
  }

  // The scheduled b(t), once the job's step count is known.
  async maybeSchedule() {
    const job = this.job;
    const total = job.progress?.total_steps;
    if (this.scheduleAsked || !BUDGET_METHODS.has(methodOf(job)) || !total) return;
    this.scheduleAsked = true;
    const hp = hyperparametersOf(job);
    const body = { total_steps: total };
    for (const k of ['tinit', 'tfinal', 'deltaT', 'init_r', 'target_r']) body[k] = hp[k];
    const n = job.budget?.initial / hp.init_r;
    if (Number.isInteger(n) && n > 0) {
      body.n_matrices = n;
    } else {
      body.model = job.model;
      body.target_modules = hp.target_modules;
    }
    try {
      this.schedule = await api.post('/v1/adalora/schedule', body, { signal: this.signal });
      this.budgetNote.textContent = `Scheduled: ${this.schedule.initial} → ` +
        `${this.schedule.target} triplets, ${this.schedule.n_mask_steps} masks, frozen from ` +
        `step ${this.schedule.freeze_step}.`;
      this.render();
    } catch (e) {
      if (!this.signal.aborted) this.budgetNote.textContent = `No scheduled curve: ${e.message}`;
    }
  }

  // ---- events ---------------------------------------------------------

  // Every event's data.kind says what it is (README, "Events"): metrics,
  // validation, ranks, checkpoint, log, status; a kind this page does not
  // know yet is shown in the log.
  onEvent(ev) {
    if (this.signal.aborted) return;
    const d = ev.data || {};
    switch (d.kind) {
      case 'metrics': {
        const last = this.metrics[this.metrics.length - 1];
        if (!last || d.step > last.step) this.metrics.push(d);
        break;
      }
      case 'ranks':
        this.ranks.addEvent(d);
        break;
      case 'validation':
        this.validations.push(d);
        break;
      case 'checkpoint':
        this.addLog(ev);
        this.refreshCheckpoints();
        break;
      default:
        this.addLog(ev);
    }
    this.render();
  }

  addLog(ev) {
    this.log.push(ev);
    if (this.log.length > LOG_LINES) this.log.shift();
  }

  // A checkpoint was saved: reload the list, once for a burst of them (the
  // history replayed when the page opens holds every checkpoint).
  refreshCheckpoints() {
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = setTimeout(() => this.loadCheckpoints(), CHECKPOINT_RELOAD_MS);
  }

  onDone() {
    this.loadJob();
    this.loadCheckpoints();
  }

  onStreamState(state) {
    this.stream.textContent = {
      live: 'Live: following the job\'s events.',
      reconnecting: 'Connection lost: reconnecting…',
      ended: 'The job has finished; its full history is shown.',
      gone: 'The job is gone.',
    }[state] || state;
    this.stream.dataset.state = state;
  }

  // ---- rendering ------------------------------------------------------

  render() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.renderCharts();
      this.ranks.render();
      this.renderLatest();
      this.renderLog();
    });
  }

  renderJob() {
    const job = this.job;
    const hp = hyperparametersOf(job);
    this.badge.replaceChildren(statusBadge(job.status));
    const facts = [
      ['Model', job.model], ['Method', methodOf(job)],
      ['Created', fmtTime(job.created_at)], ['Started', fmtTime(job.started_at)],
      ['Finished', fmtTime(job.finished_at)], ['Training file', job.training_file],
      ['Validation file', job.validation_file || 'none'], ['Seed', String(job.seed)],
      ['Steps', job.progress?.total_steps ? String(job.progress.total_steps)
        : FINAL_STATUSES.has(job.status) ? '–' : 'not planned yet'],
      ['Fine-tuned model', job.fine_tuned_model || '–'],
      ['Task', job.task ? job.task.replace('_', ' ')
        : FINAL_STATUSES.has(job.status) ? '–' : 'not planned yet'],
    ];
    facts.push(...classificationFacts(job.classification));
    facts.push(...seq2seqFacts(job, hp));
    if (BUDGET_METHODS.has(methodOf(job))) {
      facts.push(['Ranks', `init_r ${hp.init_r} → target_r ${hp.target_r}; tinit ${hp.tinit}, ` +
                           `tfinal ${hp.tfinal}, deltaT ${hp.deltaT}`]);
    }
    this.facts.replaceChildren(...facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
    this.progress.replaceChildren(...progressCell(job));
    this.cancel.hidden = FINAL_STATUSES.has(job.status);
    if (job.error) {
      this.error.hidden = false;
      this.error.replaceChildren(h('strong', {}, 'The job failed: '), job.error.message || '',
        h('span', { class: 'mono' }, ` (${job.error.code || 'error'}` +
                                     `${job.error.param ? `, ${job.error.param}` : ''})`));
    } else {
      this.error.hidden = true;
    }
    const budgeted = BUDGET_METHODS.has(methodOf(job));
    this.budgetFig.parentElement.hidden = !budgeted;
    this.ranks.element.hidden = !budgeted;
    this.render();
  }

  renderCharts() {
    const m = this.metrics;
    const pts = (list, key) => list.filter((d) => Number.isFinite(d[key]))
                                   .map((d) => [d.step, d[key]]);
    const total = this.job?.progress?.total_steps || null;
    this.loss.set({
      xMax: total,
      series: [
        { key: 'train_loss', label: 'train loss', kind: 'line', cls: 's-train',
          points: pts(m, 'train_loss') },
        { key: 'valid_loss', label: 'validation loss', kind: 'dots', cls: 's-valid',
          points: pts(this.validations, 'valid_loss') },
      ],
    });
    this.lr.set({
      xMax: total,
      series: [{ key: 'learning_rate', label: 'learning rate', kind: 'line', cls: 's-lr',
                 points: pts(m, 'learning_rate') }],
    });
    if (BUDGET_METHODS.has(methodOf(this.job))) {
      const sch = this.schedule;
      this.budget.set({
        xMax: total,
        // Schedule point t is b after optimizer step t: step number t + 1.
        series: [
          { key: 'scheduled', label: 'scheduled b(t)', kind: 'schedule', cls: 's-sched',
            points: sch ? sch.points.map(([t, b]) => [t + 1, b]) : [] },
          { key: 'budget', label: 'actual b(t)', kind: 'line', cls: 's-budget',
            points: pts(m, 'budget') },
        ],
        markers: sch ? sch.mask_steps.map((t) => t + 1) : [],
        markerLabel: 'mask steps',
      });
    }
    // Classification jobs: validation metrics from the validation events,
    // at the steps they were scored (a metrics event repeats the latest
    // evaluation before its step's own, so it is no point of the curve).
    const classSeries = CLASS_METRICS.map(([k, label], i) => {
      const byStep = new Map();
      for (const d of this.validations) if (Number.isFinite(d[k])) byStep.set(d.step, d[k]);
      return { key: k, label: metricLabel(this.job, k, label).replace('Validation ', ''),
               kind: 'line', cls: `s-c${i}`,
               points: [...byStep].sort((a, b) => a[0] - b[0]) };
    }).filter((sr) => sr.points.length);
    this.classFig.hidden = !classSeries.length;
    if (classSeries.length) this.classChart.set({ xMax: total, series: classSeries });
    // Sequence-to-sequence jobs: ROUGE from the validation events, likewise.
    const rougeSeries = validationSeries(this.validations, ROUGE_METRICS);
    this.rougeFig.hidden = !rougeSeries.length;
    if (rougeSeries.length) this.rougeChart.set({ xMax: total, series: rougeSeries });
  }

  renderLatest() {
    const job = this.job;
    if (!job) return;
    // The latest validation wins for the validation values: the last
    // metrics event may predate its step's evaluation.
    const lastValid = this.validations[this.validations.length - 1] || {};
    const d = { ...(job.metrics || {}), ...(this.metrics[this.metrics.length - 1] || {}),
                ...Object.fromEntries(Object.entries(lastValid)
                  .filter(([k, v]) => k.startsWith('valid_') && Number.isFinite(v))) };
    const p = job.progress || {};
    const step = Math.max(p.step || 0, d.step || 0);
    const rows = [
      ['Step', `${step}${p.total_steps ? ` of ${p.total_steps}` : ''}`],
      ['Epoch', fmtNum(d.epoch ?? p.epoch, 3)],
      ['Train loss', fmtNum(d.train_loss)],
      ['Validation loss', fmtNum(d.valid_loss)],
      ['Learning rate', fmtNum(d.learning_rate)],
    ];
    if (job.budget) {
      rows.push(['Budget b(t)', `${d.budget ?? job.budget.current ?? '–'} (from ` +
                                `${job.budget.initial} to ${job.budget.target})`]);
    }
    rows.push(['Gradient norm', fmtNum(d.grad_norm)], ['Orthogonality penalty', fmtNum(d.orth_reg)],
              ['Tokens per second', fmtNum(d.tokens_per_second ?? p.tokens_per_second, 3)],
              ['Trained tokens', fmtNum(job.trained_tokens)]);
    for (const [k, label] of CLASS_METRICS) {
      if (Number.isFinite(d[k])) rows.push([metricLabel(this.job, k, label), fmtNum(d[k])]);
    }
    for (const [k, label] of ROUGE_METRICS) if (Number.isFinite(d[k])) rows.push([label, fmtNum(d[k])]);
    this.latest.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', {}, k),
                                                             h('dd', { 'data-key': k }, v)]));
  }

  renderLog() {
    const list = this.logList;
    // Newest last; stay at the bottom unless the reader scrolled up.
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    list.replaceChildren(...this.log.map((ev) => h('li', { class: `lv-${ev.level}` },
      h('time', {}, fmtTime(ev.created_at)), ' ', ev.message)));
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  // ---- actions --------------------------------------------------------

  async onCancel() {
    this.cancel.disabled = true;
    try {
      if (await cancelJob(this.job)) this.loadJob();
    } catch (e) {
      this.error.hidden = false;
      this.error.textContent = `Cannot cancel: ${e.message}`;
    } finally {
      this.cancel.disabled = false;
    }
  }
}

// Render job id's page into main; returns the function that tears it down.
export function mountJob(main, id) {
  const page = new JobPage(main, id);
  return () => page.destroy();
}
