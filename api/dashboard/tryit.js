// tryit — a succeeded job's "Try it" panel: a prompt (or a chat message)
// sent to the base model and to the fine-tuned model side by side, each
// answer streamed as it is generated; for a classification job's model, a
// text classified with its labels and scores; for a question answering
// job's model, a question asked of a context, the answer marked in the
// context with its score (the fine-tuned model alone: the base has no QA
// head).
//
// It uses the public API only, as any client would: POST /v1/completions
// and /v1/chat/completions with stream: true (OpenAI's event stream, read
// with sse.js's parser), POST /v1/classifications, POST
// /v1/question_answering. A model that cannot
// answer (a base without a chat template, a full queue) shows the API's
// error in its pane. Running again, or leaving the page, aborts what runs.
import { api } from './api.js';
import { SseParser } from './sse.js';
import { h, hyperparametersOf } from './util.js';

// Stream one completion (path, body without stream) into onText; resolves
// with the finish reason. Throws the API's error.
async function streamCompletion(path, body, onText, signal) {
  const res = await api.request('POST', path, {
    json: { ...body, stream: true }, raw: true, signal, headers: { Accept: 'text/event-stream' },
  });
  let finish = null;
  let failure = null;
  const parser = new SseParser((block) => {
    if (block.data === '[DONE]' || failure) return;
    const o = JSON.parse(block.data);
    if (o.error) {
      failure = new Error(o.error.message || 'the stream failed');
      return;
    }
    const c = o.choices?.[0];
    const text = c?.text ?? c?.delta?.content;
    if (text) onText(text);
    if (c?.finish_reason) finish = c.finish_reason;
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.push(value);
  }
  if (failure) throw failure;
  return finish;
}

// One side of the comparison: a title, the model id, the streamed text.
class Pane {
  constructor(title, model, testid) {
    this.model = model;
    this.text = h('pre', { class: 'tryit-text', 'data-testid': `${testid}-text`,
                           'aria-live': 'polite' });
    this.state = h('p', { class: 'tryit-state', 'data-testid': `${testid}-state` });
    this.element = h('div', { class: 'tryit-pane', 'data-testid': testid },
      h('h3', {}, title), h('p', { class: 'mono tryit-model' }, model), this.text, this.state);
  }

  async run(path, body, signal) {
    this.text.textContent = '';
    this.state.textContent = 'Generating…';
    this.state.dataset.state = 'running';
    try {
      const finish = await streamCompletion(path, { ...body, model: this.model },
        (t) => { this.text.textContent += t; }, signal);
      this.state.textContent = finish === 'length' ? 'Stopped at max tokens.' : 'Done.';
      this.state.dataset.state = 'done';
    } catch (e) {
      if (signal.aborted) return;
      this.state.textContent = `Error: ${e.message}`;
      this.state.dataset.state = 'error';
    }
  }
}

export class TryIt {
  constructor() {
    this.element = h('section', { 'aria-labelledby': 'h-tryit', class: 'tryit', hidden: true,
                                  'data-testid': 'tryit' });
    this.abort = null;
    this.job = null;
  }

  // Show the panel for a succeeded job (once). An encoder-decoder (a seq2seq
  // job's model) is not served (README "Serving"): no panel.
  show(job) {
    if (this.job || job.status !== 'succeeded' || !job.fine_tuned_model) return;
    if (job.task === 'seq2seq') return;
    this.job = job;
    this.element.hidden = false;
    if (job.task === 'classification') this.buildClassify(job);
    else if (job.task === 'question_answering') this.buildAnswer(job);
    else this.buildGenerate(job);
  }

  destroy() {
    if (this.abort) this.abort.abort();
  }

  newRun() {
    if (this.abort) this.abort.abort();
    this.abort = new AbortController();
    return this.abort.signal;
  }

  buildGenerate(job) {
    const mode = h('select', { id: 'tryit-mode', 'data-testid': 'tryit-mode' },
      h('option', { value: 'prompt' }, 'Prompt (completion)'),
      h('option', { value: 'chat' }, 'Chat (one user message)'));
    const input = h('textarea', { id: 'tryit-input', rows: 3, 'data-testid': 'tryit-input',
                                  placeholder: 'Once upon a time' });
    const maxTokens = h('input', { id: 'tryit-max', type: 'number', min: 1, max: 4096,
                                   value: 64 });
    const temperature = h('input', { id: 'tryit-temp', type: 'number', min: 0, max: 2,
                                     step: 0.1, value: 0 });
    const base = new Pane('Base model', job.model, 'tryit-base');
    const tuned = new Pane('Fine-tuned', job.fine_tuned_model, 'tryit-tuned');
    const run = h('button', { type: 'submit', class: 'primary', 'data-testid': 'tryit-run' }, 'Run');
    const form = h('form', { class: 'tryit-form' },
      h('div', { class: 'field-group' },
        h('div', { class: 'field' }, h('label', { for: 'tryit-mode' }, 'Mode'), mode),
        h('div', { class: 'field' }, h('label', { for: 'tryit-max' }, 'Max tokens'), maxTokens),
        h('div', { class: 'field' }, h('label', { for: 'tryit-temp' }, 'Temperature'),
          temperature)),
      h('div', { class: 'field' }, h('label', { for: 'tryit-input' }, 'Input'), input),
      h('div', { class: 'form-actions' }, run,
        h('span', { class: 'help' }, 'Both models get the same input; temperature 0 is greedy.')));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const signal = this.newRun();
      const text = input.value;
      const common = { max_tokens: Number(maxTokens.value) || 64,
                       temperature: Number(temperature.value) || 0 };
      const [path, body] = mode.value === 'chat'
        ? ['/v1/chat/completions', { ...common, messages: [{ role: 'user', content: text }] }]
        : ['/v1/completions', { ...common, prompt: text }];
      run.disabled = true;
      Promise.all([base.run(path, body, signal), tuned.run(path, body, signal)])
        .finally(() => { run.disabled = false; });
    });
    this.element.replaceChildren(h('h2', { id: 'h-tryit' }, 'Try it'), form,
      h('div', { class: 'tryit-panes' }, base.element, tuned.element));
  }

  buildClassify(job) {
    const input = h('textarea', { id: 'tryit-input', rows: 2, 'data-testid': 'tryit-input' });
    const out = h('div', { class: 'tryit-pane', 'data-testid': 'tryit-tuned' });
    const run = h('button', { type: 'submit', class: 'primary', 'data-testid': 'tryit-run' },
      'Classify');
    const form = h('form', { class: 'tryit-form' },
      h('div', { class: 'field' }, h('label', { for: 'tryit-input' }, 'Text'), input),
      h('div', { class: 'form-actions' }, run));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const signal = this.newRun();
      run.disabled = true;
      try {
        const r = await api.post('/v1/classifications',
          { model: job.fine_tuned_model, input: input.value }, { signal });
        const c = r.data[0];
        const rows = c.scores ? Object.entries(c.scores).sort((a, b) => b[1] - a[1]) : [];
        out.replaceChildren(
          h('p', { 'data-testid': 'tryit-label' }, c.label !== undefined
            ? `Label: ${c.label} (score ${c.score.toFixed(3)})` : `Value: ${c.value}`),
          rows.length ? h('ul', {}, rows.map(([k, v]) => h('li', {}, `${k}: ${v.toFixed(3)}`)))
            : null);
      } catch (e) {
        if (!signal.aborted) out.replaceChildren(h('p', { class: 'error' }, `Error: ${e.message}`));
      } finally {
        run.disabled = false;
      }
    });
    this.element.replaceChildren(h('h2', { id: 'h-tryit' }, 'Try it'),
      h('p', { class: 'help' }, `Classify a text with ${job.fine_tuned_model}.`), form, out);
  }

  buildAnswer(job) {
    const context = h('textarea', { id: 'tryit-context', rows: 5, 'data-testid': 'tryit-context',
                                    placeholder: 'The text the answer is to be found in' });
    const question = h('input', { id: 'tryit-question', type: 'text', 'data-testid': 'tryit-question',
                                  placeholder: 'A question about it' });
    // top_k may ask up to the job's n_best_size (20 unless the job set it)
    const nBest = Number(hyperparametersOf(job).n_best_size) || 20;
    const topK = h('input', { id: 'tryit-topk', type: 'number', min: 1, max: nBest,
                              value: Math.min(3, nBest) });
    const out = h('div', { class: 'tryit-pane', 'data-testid': 'tryit-tuned' });
    const run = h('button', { type: 'submit', class: 'primary', 'data-testid': 'tryit-run' },
      'Answer');
    const form = h('form', { class: 'tryit-form' },
      h('div', { class: 'field' }, h('label', { for: 'tryit-context' }, 'Context'), context),
      h('div', { class: 'field-group' },
        h('div', { class: 'field' }, h('label', { for: 'tryit-question' }, 'Question'), question),
        h('div', { class: 'field' }, h('label', { for: 'tryit-topk' }, 'Answers listed'), topK)),
      h('div', { class: 'form-actions' }, run));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const signal = this.newRun();
      const text = context.value;
      run.disabled = true;
      out.dataset.state = 'running';
      try {
        const r = await api.post('/v1/question_answering', {
          model: job.fine_tuned_model, question: question.value, context: text,
          top_k: Number(topK.value) || 1,
        }, { signal });
        out.replaceChildren(...answerView(text, r.data[0]));
        out.dataset.state = 'done';
      } catch (e) {
        if (signal.aborted) return;
        out.replaceChildren(h('p', { class: 'error', 'data-testid': 'tryit-error' }, `Error: ${e.message}`));
        out.dataset.state = 'error';
      } finally {
        run.disabled = false;
      }
    });
    this.element.replaceChildren(h('h2', { id: 'h-tryit' }, 'Try it'),
      h('p', { class: 'help', 'data-testid': 'tryit-note' },
        `Ask ${job.fine_tuned_model} a question about a text. There is no comparison with the ` +
        `base model ${job.model}: it has no question answering head (the job trained one).`),
      form, out);
  }
}

// What a question's answer shows: the context with the answer marked, its
// score, and the n-best. start and end count code points (README
// "Serving"), so the context is cut by code points, not UTF-16 units.
function answerView(context, a) {
  const chars = Array.from(context);
  const fmt = (x) => (typeof x === 'number' ? x.toFixed(3) : '–');
  const marked = a.is_impossible
    ? h('p', { class: 'tryit-text', 'data-testid': 'tryit-highlight' }, context)
    : h('p', { class: 'tryit-text', 'data-testid': 'tryit-highlight' },
      chars.slice(0, a.start).join(''),
      h('mark', { 'data-testid': 'tryit-answer' }, chars.slice(a.start, a.end).join('')),
      chars.slice(a.end).join(''));
  const summary = a.is_impossible
    ? `No answer in the context (null score ${fmt(a.score)}, probability ${fmt(a.probability)}).`
    : `Answer: “${a.answer}” (score ${fmt(a.score)}, probability ${fmt(a.probability)}; ` +
      `${a.windows} window${a.windows === 1 ? '' : 's'}).`;
  return [
    h('p', { 'data-testid': 'tryit-score' }, summary),
    marked,
    a.answers.length > 1
      ? h('ol', { 'data-testid': 'tryit-answers' }, a.answers.map((x) =>
        h('li', {}, `${x.answer} — score ${fmt(x.score)}, probability ${fmt(x.probability)}`)))
      : null,
  ];
}
