// form — the create-job form: base model (GET /v1/models), training and
// validation files (an upload through POST /v1/files, or one uploaded
// before), the method and its hyperparameters, and a live preview of the
// budget schedule b(t) (POST /v1/adalora/schedule) as the user types.
//
// Hyperparameter fields (hparams.js) start empty with the daemon's
// default as their placeholder; only fields the user fills in are sent,
// so the daemon's own defaults always apply to the rest and a default
// shown here can never override them. The daemon validates everything;
// its error names the field (param), which the form marks and focuses.
import { api } from './api.js';
import { LineChart } from './charts.js';
import { FIELDS, METHODS, MODULES, SCHEDULE_FIELDS } from './hparams.js';
import { BUDGET_METHODS, h, debounce, fmtCount } from './util.js';

class FormError extends Error {
  constructor(message, field) {
    super(message);
    this.field = field;
  }
}

function fieldId(name) {
  return `f-hp-${name}`;
}

// One file chooser: a select of uploaded files ("upload a new file" first)
// and a file input shown while that option is selected.
class FileChoice {
  constructor(key, label, optional) {
    this.key = key;
    this.optional = optional;
    this.select = h('select', { id: `f-${key}-src`, name: `${key}_file` });
    this.input = h('input', { id: `f-${key}-upload`, type: 'file', accept: '.jsonl,.json,.txt',
                              'aria-describedby': `f-${key}-help` });
    this.inputWrap = h('div', { class: 'field' },
                       h('label', { for: this.input.id }, `${label}: file to upload`), this.input);
    this.wrap = h('div', { class: 'field-group' },
                  h('div', { class: 'field' }, h('label', { for: this.select.id }, label),
                    this.select),
                  this.inputWrap,
                  h('p', { class: 'help', id: `f-${key}-help` },
                    'JSONL, one object a line: {"text"}, {"prompt","completion"}, {"messages"} ' +
                    'or classification; checked on upload.'));
    this.select.addEventListener('change', () => this.sync());
    this.setFiles([]);
  }

  setFiles(files, keep = this.select.value) {
    const opts = [];
    if (this.optional) opts.push(h('option', { value: '' }, 'none'));
    opts.push(h('option', { value: '@upload' }, 'upload a new file…'));
    for (const f of files) {
      opts.push(h('option', { value: f.id }, `${f.filename} (${f.id}, ${f.line_count} lines)`));
    }
    this.select.replaceChildren(...opts);
    if ([...this.select.options].some((o) => o.value === keep)) this.select.value = keep;
    else this.select.value = this.optional ? '' : '@upload';
    this.sync();
  }

  sync() {
    this.inputWrap.hidden = this.select.value !== '@upload';
  }

  // The file id to send: uploads first when a new file was chosen.
  async resolve(say) {
    const v = this.select.value;
    if (v !== '@upload') return v || null;
    const file = this.input.files[0];
    if (!file) {
      if (this.optional) return null;
      throw new FormError('Choose a training file to upload.', this.input);
    }
    say(`Uploading ${file.name}…`);
    try {
      const uploaded = await api.upload(file);
      return uploaded.id;
    } catch (e) {
      throw new FormError(`${file.name}: ${e.message}`, this.input);
    }
  }
}

class CreateForm {
  constructor(host, { signal }) {
    this.signal = signal;
    this.seq = 0;
    this.model = h('select', { id: 'f-model', name: 'model', required: true });
    this.method = h('select', { id: 'f-method', name: 'method' },
                    METHODS.map(([v, label]) => h('option', { value: v }, label)));
    this.train = new FileChoice('train', 'Training file', false);
    this.valid = new FileChoice('valid', 'Validation file', true);
    this.suffix = h('input', { id: 'f-suffix', name: 'suffix', maxlength: 64,
                               placeholder: 'none', autocomplete: 'off' });
    this.seed = h('input', { id: 'f-seed', name: 'seed', type: 'number', step: 1,
                             placeholder: 'random' });
    this.fields = new Map();
    this.expected = h('input', { id: 'f-expected-steps', type: 'number', min: 1, step: 1,
                                 value: '100', 'aria-describedby': 'f-expected-help' });
    this.status = h('p', { class: 'form-status', role: 'status' });
    this.submit = h('button', { type: 'submit', class: 'primary' }, 'Create job');
    this.previewNote = h('p', { class: 'preview-note', id: 'f-preview-note', 'aria-live': 'polite' });
    const figure = h('figure', { 'data-testid': 'schedule-preview' });
    this.preview = new LineChart(figure, { title: 'Budget schedule b(t) preview',
                                           yLabel: 'b(t), triplets', height: 200 });
    this.previewBox = h('div', { class: 'preview' }, figure,
                        h('div', { class: 'field' },
                          h('label', { for: this.expected.id }, 'Expected steps T'),
                          this.expected),
                        h('p', { class: 'help', id: 'f-expected-help' },
                          'The preview needs the number of steps T: max_steps when set; ' +
                          'otherwise the daemon counts T from the data when it plans the ' +
                          'job, so give your estimate here (it is not sent).'),
                        this.previewNote);

    const groups = new Map();
    for (const f of FIELDS) {
      if (!groups.has(f.group)) groups.set(f.group, h('div', { class: 'grid' }));
      const control = this.control(f);
      this.fields.set(f.name, control);
      groups.get(f.group).append(control.wrap);
    }
    this.groupSets = [...groups].map(([name, grid]) =>
      h('fieldset', { 'data-group': name }, h('legend', {}, name), grid));

    this.form = h('form', { class: 'create-form', novalidate: true },
      h('fieldset', {}, h('legend', {}, 'Job'),
        h('div', { class: 'grid' },
          h('div', { class: 'field' }, h('label', { for: 'f-model' }, 'Base model'), this.model),
          h('div', { class: 'field' }, h('label', { for: 'f-method' }, 'Method'), this.method),
          h('div', { class: 'field' }, h('label', { for: 'f-suffix' }, 'Suffix'), this.suffix),
          h('div', { class: 'field' }, h('label', { for: 'f-seed' }, 'Seed'), this.seed)),
        this.train.wrap, this.valid.wrap),
      this.groupSets, this.previewBox,
      h('div', { class: 'form-actions' }, this.submit, this.status));
    host.append(this.form);

    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.create();
    });
    this.method.addEventListener('change', () => this.syncMethod());
    const later = debounce(() => this.updatePreview(), 250);
    this.form.addEventListener('input', later);
    this.form.addEventListener('change', later);
    this.syncMethod();
    this.load();
  }

  control(f) {
    const id = fieldId(f.name);
    const helpId = f.help ? `${id}-help` : null;
    const help = f.help ? h('p', { class: 'help', id: helpId }, f.help) : null;
    let input;
    if (f.kind === 'modules') {
      const boxes = MODULES.map((m) => h('input', { type: 'checkbox', id: `f-mod-${m}`,
                                                    value: m, checked: true }));
      const wrap = h('fieldset', { class: 'field modules', id }, h('legend', {}, 'target_modules'),
                     MODULES.map((m, i) => h('label', { class: 'check' }, boxes[i], m)));
      return { f, wrap, boxes, focus: boxes[0] };
    }
    if (f.kind === 'select') {
      input = h('select', { id, 'aria-describedby': helpId },
                h('option', { value: '' }, `default (${f.dflt})`),
                f.options.map((o) => h('option', { value: o }, o)));
    } else if (f.kind === 'bool') {
      input = h('input', { id, type: 'checkbox', checked: f.dflt, 'aria-describedby': helpId });
      const wrap = h('div', { class: 'field' }, h('label', { class: 'check' }, input, f.name), help);
      return { f, wrap, input, focus: input };
    } else {
      const numeric = f.kind === 'int' || f.kind === 'float';
      input = h('input', { id, name: f.name, autocomplete: 'off', 'aria-describedby': helpId,
                           inputmode: f.kind === 'int' ? 'numeric' : numeric ? 'decimal' : null });
    }
    const wrap = h('div', { class: 'field' }, h('label', { for: id }, f.name), input, help);
    return { f, wrap, input, focus: input };
  }

  syncMethod() {
    const m = this.method.value;
    for (const { f, wrap, input } of this.fields.values()) {
      wrap.hidden = !f.methods.includes(m);
      if (input && typeof f.dflt === 'function') input.placeholder = f.dflt(m);
      else if (input && f.kind !== 'select' && f.kind !== 'bool') input.placeholder = f.dflt;
    }
    for (const set of this.groupSets) {
      set.hidden = [...set.querySelectorAll(':scope > .grid > *')].every((w) => w.hidden);
    }
    this.previewBox.hidden = !BUDGET_METHODS.has(m);
    this.updatePreview();
  }

  async load() {
    try {
      const [models, files] = await Promise.all([
        api.get('/v1/models', { signal: this.signal }),
        api.get('/v1/files?limit=100', { signal: this.signal }),
      ]);
      const base = models.data.filter((m) => !m.parent);
      const keep = this.model.value;
      this.model.replaceChildren(...base.map((m) => h('option', { value: m.id },
        `${m.id}${m.architecture ? ` (${m.architecture}, ${fmtCount(m.parameters)} parameters, ` +
                                   `context ${m.context_length})` : ''}`)));
      if (keep) this.model.value = keep;
      if (!base.length) this.say('No base models: put one in the daemon\'s --models-dir.', true);
      this.train.setFiles(files.data);
      this.valid.setFiles(files.data);
      this.updatePreview();
    } catch (e) {
      if (!this.signal.aborted) this.say(`Cannot load models and files: ${e.message}`, true);
    }
  }

  say(text, isError = false) {
    this.status.textContent = text;
    this.status.classList.toggle('error', isError);
  }

  // The hyperparameters the user filled in; FormError on a malformed one.
  hyperparameters() {
    const m = this.method.value;
    const hp = {};
    for (const { f, input, boxes } of this.fields.values()) {
      if (!f.methods.includes(m)) continue;
      if (f.kind === 'modules') {
        const picked = boxes.filter((b) => b.checked).map((b) => b.value);
        if (!picked.length) throw new FormError('Choose at least one target module.', boxes[0]);
        if (picked.length !== MODULES.length) hp[f.name] = picked;
        continue;
      }
      if (f.kind === 'bool') {
        if (input.checked !== f.dflt) hp[f.name] = input.checked;
        continue;
      }
      const v = input.value.trim();
      if (v === '') continue;
      if (f.kind === 'select') {
        hp[f.name] = v;
      } else if (f.kind === 'epochs' && v === 'auto') {
        hp[f.name] = v;
      } else if (f.kind === 'int' || f.kind === 'epochs') {
        if (!/^-?\d+$/.test(v)) throw new FormError(`${f.name} must be a whole number.`, input);
        hp[f.name] = Number(v);
      } else {
        const n = Number(v);
        if (!Number.isFinite(n)) throw new FormError(`${f.name} must be a number.`, input);
        hp[f.name] = n;
      }
    }
    return hp;
  }

  async updatePreview() {
    if (!BUDGET_METHODS.has(this.method.value)) return;
    const seq = ++this.seq;
    const note = (text, bad = false) => {
      this.previewNote.textContent = text;
      this.previewNote.classList.toggle('error', bad);
    };
    let hp;
    try {
      hp = this.hyperparameters();
    } catch (e) {
      note(e.message, true);
      return;
    }
    const steps = hp.max_steps || Number(this.expected.value);
    if (!Number.isInteger(steps) || steps < 1) {
      note('Set max_steps or the expected steps T to preview b(t).', true);
      return;
    }
    if (!this.model.value) {
      note('Choose a base model: b(t) counts its matrices.', true);
      return;
    }
    const body = { total_steps: steps, model: this.model.value };
    for (const k of SCHEDULE_FIELDS) if (k in hp) body[k] = hp[k];
    if (hp.target_modules) body.target_modules = hp.target_modules;
    try {
      const sch = await api.post('/v1/adalora/schedule', body, { signal: this.signal });
      if (seq !== this.seq) return;   // a newer edit is on its way
      // Point t is b(t) after optimizer step t, i.e. at step number t + 1.
      this.preview.set({
        series: [{ key: 'schedule', label: 'b(t) scheduled', kind: 'schedule', cls: 's-sched',
                   points: sch.points.map(([t, b]) => [t + 1, b]) }],
        markers: sch.mask_steps.map((t) => t + 1), markerLabel: 'mask steps',
        xMax: sch.total_steps,
      });
      note(`b(t) goes from ${sch.initial} to ${sch.target} triplets (${sch.n_matrices} matrices) ` +
           `over ${sch.total_steps} steps: ${sch.n_mask_steps} masks, frozen from step ` +
           `${sch.freeze_step}.`);
    } catch (e) {
      if (seq !== this.seq || this.signal.aborted) return;
      note(`${e.param ? `${e.param}: ` : ''}${e.message}`, true);
    }
  }

  // The element a daemon error's param names, if the form has one.
  fieldFor(param) {
    if (!param) return null;
    const name = param.split('.').pop();
    if (param.startsWith('method.')) return this.fields.get(name)?.focus || null;
    return { model: this.model, training_file: this.train.select,
             validation_file: this.valid.select, suffix: this.suffix, seed: this.seed }[name] || null;
  }

  mark(el, message) {
    for (const old of this.form.querySelectorAll('[aria-invalid]')) {
      old.removeAttribute('aria-invalid');
    }
    this.say(message, true);
    if (el) {
      el.setAttribute('aria-invalid', 'true');
      el.closest('details')?.setAttribute('open', '');
      el.focus();
    }
  }

  async create() {
    let trainId = null;
    let validId = null;
    this.submit.disabled = true;
    try {
      const body = { model: this.model.value, method: { type: this.method.value } };
      const hp = this.hyperparameters();
      if (this.method.value !== 'full' || Object.keys(hp).length) {
        body.method[this.method.value] = { hyperparameters: hp };
      }
      if (this.suffix.value.trim()) body.suffix = this.suffix.value.trim();
      if (this.seed.value.trim()) {
        if (!/^\d+$/.test(this.seed.value.trim())) {
          throw new FormError('The seed must be a whole number.', this.seed);
        }
        body.seed = Number(this.seed.value.trim());
      }
      const say = (t) => this.say(t);
      trainId = body.training_file = await this.train.resolve(say);
      validId = await this.valid.resolve(say);
      if (validId) body.validation_file = validId;
      this.say('Creating the job…');
      const job = await api.post('/v1/fine_tuning/jobs', body);
      this.say(`Created ${job.id}.`);
      window.location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    } catch (e) {
      const el = e instanceof FormError ? e.field : this.fieldFor(e.param);
      this.mark(el, e.param ? `${e.param}: ${e.message}` : e.message);
      // What was uploaded stays selected, so a retry does not upload again.
      if (trainId || validId) this.reloadFiles(trainId, validId);
    } finally {
      this.submit.disabled = false;
    }
  }

  async reloadFiles(trainId, validId) {
    try {
      const files = await api.get('/v1/files?limit=100', { signal: this.signal });
      this.train.setFiles(files.data, trainId || this.train.select.value);
      this.valid.setFiles(files.data, validId || this.valid.select.value);
    } catch {
      // The next submit uploads again; nothing is lost.
    }
  }

  destroy() {
    this.preview.destroy();
  }
}

// Build the form inside host (a <details>); returns {destroy}.
export function mountCreateForm(host, opts) {
  return new CreateForm(host, opts);
}
