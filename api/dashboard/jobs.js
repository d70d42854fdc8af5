// jobs — the list view: every job (newest first) with its status, model,
// method, a progress bar with ETA, created and finished times and a
// cancel button; the create-job form above it (form.js).
//
// The list polls GET /v1/fine_tuning/jobs every POLL_MS while it is shown.
// Rows are kept and updated in place, keyed by job id, so a poll never
// takes the keyboard focus away from a row's link or button.
import { api } from './api.js';
import { mountCreateForm } from './form.js';
import { FINAL_STATUSES, h, fmtTime, fmtEta, methodOf, statusBadge } from './util.js';

const POLL_MS = 2000;

// Ask the daemon to cancel a job, after the user confirms.
export async function cancelJob(job) {
  if (!window.confirm(`Cancel ${job.id}? A running job stops at its next step and keeps ` +
                      'its last checkpoint.')) {
    return false;
  }
  await api.post(`/v1/fine_tuning/jobs/${encodeURIComponent(job.id)}/cancel`);
  return true;
}

// A <progress> with "step/total" and the ETA beside it.
export function progressCell(job) {
  const p = job.progress || {};
  const total = p.total_steps;
  const done = job.status === 'succeeded';
  const bar = h('progress', { max: total || 1, value: done ? total || 1 : p.step || 0,
                              'aria-label': `Progress of ${job.id}` });
  let text = total ? `${p.step}/${total}` : job.status === 'validating_files' ? 'planning' : '';
  const eta = fmtEta(job);
  if (eta) text += ` · ${eta}`;
  return [bar, h('span', { class: 'progress-text' }, text)];
}

class JobRow {
  constructor(list) {
    this.list = list;
    this.link = h('a', {});
    this.cancel = h('button', { type: 'button', class: 'small danger',
                                onclick: () => this.onCancel() }, 'Cancel');
    this.cells = {
      status: h('td', { 'data-label': 'Status' }),
      model: h('td', { 'data-label': 'Model' }),
      method: h('td', { 'data-label': 'Method' }),
      progress: h('td', { 'data-label': 'Progress', class: 'progress-cell' }),
      created: h('td', { 'data-label': 'Created' }),
      finished: h('td', { 'data-label': 'Finished' }),
      actions: h('td', { 'data-label': '', class: 'actions' }),
    };
    this.tr = h('tr', { 'data-testid': 'job-row' },
                h('th', { scope: 'row', 'data-label': 'Job' }, this.link),
                Object.values(this.cells));
  }

  update(job) {
    this.job = job;
    this.tr.dataset.jobId = job.id;
    this.tr.dataset.status = job.status;
    this.link.href = `#/jobs/${encodeURIComponent(job.id)}`;
    this.link.textContent = job.id;
    this.cells.status.replaceChildren(statusBadge(job.status));
    this.cells.model.textContent = job.model;
    this.cells.method.textContent = methodOf(job);
    this.cells.progress.replaceChildren(...progressCell(job));
    this.cells.created.textContent = fmtTime(job.created_at);
    this.cells.finished.textContent = fmtTime(job.finished_at);
    this.cancel.setAttribute('aria-label', `Cancel ${job.id}`);
    if (FINAL_STATUSES.has(job.status)) this.cancel.remove();
    else if (!this.cancel.isConnected) this.cells.actions.append(this.cancel);
  }

  async onCancel() {
    this.cancel.disabled = true;
    try {
      if (await cancelJob(this.job)) this.list.poll();
    } catch (e) {
      this.list.say(`Cannot cancel ${this.job.id}: ${e.message}`, true);
    } finally {
      this.cancel.disabled = false;
    }
  }
}

class JobList {
  constructor(main) {
    this.rows = new Map();
    this.abort = new AbortController();
    this.timer = 0;
    this.status = h('p', { class: 'list-status', role: 'status' });
    this.tbody = h('tbody', {});
    this.empty = h('p', { class: 'empty-list', hidden: true },
                   'No jobs yet: create one with the form above.');
    const formHost = h('details', { class: 'create', id: 'create-job' },
                       h('summary', {}, 'New fine-tuning job'));
    this.form = mountCreateForm(formHost, { signal: this.abort.signal });
    main.replaceChildren(
      h('h1', {}, 'Fine-tuning jobs'),
      formHost,
      h('section', { 'aria-labelledby': 'jobs-heading' },
        h('h2', { id: 'jobs-heading', class: 'sr-only' }, 'Jobs'),
        this.status,
        h('table', { class: 'jobs' },
          h('thead', {}, h('tr', {}, ['Job', 'Status', 'Model', 'Method', 'Progress', 'Created',
                                      'Finished'].map((t) => h('th', { scope: 'col' }, t)),
                         h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
          this.tbody),
        this.empty));
    this.poll();
  }

  say(text, isError = false) {
    this.status.textContent = text;
    this.status.classList.toggle('error', isError);
  }

  async poll() {
    clearTimeout(this.timer);
    try {
      const list = await api.get('/v1/fine_tuning/jobs?limit=100', { signal: this.abort.signal });
      this.show(list);
      this.say(`Updated ${new Date().toLocaleTimeString()}` +
               (list.has_more ? ' · showing the 100 newest jobs' : ''));
    } catch (e) {
      if (this.abort.signal.aborted) return;
      this.say(`Cannot list the jobs: ${e.message}; retrying`, true);
    }
    if (!this.abort.signal.aborted) this.timer = setTimeout(() => this.poll(), POLL_MS);
  }

  show(list) {
    const seen = new Set();
    let prev = null;
    for (const job of list.data) {
      seen.add(job.id);
      let row = this.rows.get(job.id);
      if (!row) {
        row = new JobRow(this);
        this.rows.set(job.id, row);
      }
      row.update(job);
      // Newest first: put the row right after the previous one if it is not.
      const want = prev ? prev.nextSibling : this.tbody.firstChild;
      if (want !== row.tr) this.tbody.insertBefore(row.tr, want);
      prev = row.tr;
    }
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) {
        row.tr.remove();
        this.rows.delete(id);
      }
    }
    this.empty.hidden = list.data.length > 0;
  }

  destroy() {
    this.abort.abort();
    clearTimeout(this.timer);
    this.form.destroy();
  }
}

// Render the list into main; returns the function that tears it down.
export function mountJobs(main) {
  const view = new JobList(main);
  return () => view.destroy();
}
