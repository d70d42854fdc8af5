// dashboard.test.mjs — the dashboard end to end, in headless Chromium,
// against a real adalorad training AdaLoRA jobs on stories260K.
//
// 1. A job created through the API shows in the list; its page draws the
//    loss and budget charts and the rank heatmap, and they change while
//    the job runs: the test reads the DOM (the charts' series counts and
//    polyline points, the heatmap's cells and history length) at one
//    moment and again once the job has moved on, and the two must differ.
//    When the job has succeeded: the final rank pattern sums to b(T), the
//    slider replays the history from the first allocation, checkpoints
//    and adapter links are there. A checkpoint event updates the
//    checkpoints list while the job runs.
// 2. The form uploads a file and creates a job, with the b(t) preview
//    following the fields; cancel in the list stops it.
// 3. At phone width no element sticks out of the viewport.
// 4. A daemon with API keys: the page asks for the key once (a wrong key
//    is asked again), then lists, streams and downloads with it.
// 5. A classification job (stories260K with a head, string labels): its
//    page shows the task, the label map and the validation metrics chart.
// 6. A sequence-to-sequence job's validation ROUGE (chart and latest
//    values): exact values from a stand-in served through the browser's
//    request routing, and a real AdaLoRA job on the tests' tiny BART whose
//    validations decode with beam search and report valid_rouge*.
// 7. A question answering job on the tests' tiny BERT: its "Try it" panel
//    asks a question of a context and marks the answer in it, the text and
//    score the API gives, and says why there is no base-model comparison.
// Screenshots of each go to the artifacts directory (its path is printed).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  artifactsDir, launchBrowser, requireEverything, startDaemon, writeShakespeare,
} from './daemon.mjs';

const assets = requireEverything();
const shots = artifactsDir();
console.log(`screenshots: ${shots}`);

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const TARGET_BUDGET = 35 * 3;   // stories260K: 5 layers x 7 modules, target_r 3

const d = await startDaemon('e2e-dashboard', assets, { bart: true, encoder: true });
const data = join(d.dir, 'shakespeare.jsonl');
writeShakespeare(assets, data, 200000);
const browser = await launchBrowser();
let jobA = null;

test.after(async () => {
  await browser.close();
  assert.equal(await d.stop(), 0);
});

async function newPage(viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  // Script errors, and whatever the page logs as an error itself. Chromium
  // also logs every 4xx response ("Failed to load resource"): the page
  // meets some on purpose (a 409 before a job's first allocation, the
  // preview's 400 for an impossible schedule), so those are not counted.
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  page.errors = errors;
  return page;
}

// What the job page shows, read from the DOM.
function pageState(page) {
  return page.evaluate(() => {
    const count = (testid, series) => Number(document.querySelector(
      `[data-testid="${testid}"] [data-series="${series}"]`)?.dataset.count || 0);
    const points = (testid, series) => document.querySelector(
      `[data-testid="${testid}"] [data-series="${series}"] polyline`)?.getAttribute('points') || '';
    const heat = document.querySelector('[data-testid="rank-heatmap"]');
    return {
      status: document.querySelector('.job-title [data-status]')?.dataset.status,
      loss: count('loss-chart', 'train_loss'),
      lossPoints: points('loss-chart', 'train_loss'),
      budget: count('budget-chart', 'budget'),
      budgetPoints: points('budget-chart', 'budget'),
      scheduled: count('budget-chart', 'scheduled'),
      markers: Number(document.querySelector('[data-testid="budget-chart"] .markers')
        ?.dataset.count || 0),
      entries: Number(heat.dataset.entries || 0),
      index: Number(heat.dataset.index || 0),
      step: heat.dataset.step,
      kept: Number(heat.dataset.kept || 0),
      cells: [...heat.querySelectorAll('tbody td[data-rank]')].map((td) => td.dataset.rank).join(','),
      caption: heat.querySelector('caption')?.textContent || '',
      lossText: document.querySelector('[data-testid="loss-chart"] .chart-values')?.textContent,
      checkpoints: [...document.querySelectorAll('table.checkpoints tbody tr')]
        .map((tr) => tr.firstElementChild.textContent),
    };
  });
}

async function waitState(page, what, pred, timeout = 600000) {
  const t0 = Date.now();
  for (;;) {
    const st = await pageState(page);
    if (pred(st)) return st;
    if (Date.now() - t0 > timeout) {
      throw new Error(`waited ${timeout / 1000} s for ${what}; the page shows ` +
                      `${JSON.stringify({ ...st, lossPoints: undefined, budgetPoints: undefined })}`);
    }
    await page.waitForTimeout(100);
  }
}

// No element's box may reach past the right edge of the viewport.
async function assertNoOverflow(page, what) {
  const bad = await page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const out = [];
    if (document.documentElement.scrollWidth > w) out.push(`page ${document.documentElement.scrollWidth} > ${w}`);
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.width && r.right > w + 0.5 && !el.closest('.sr-only')) {
        out.push(`${el.tagName.toLowerCase()}.${el.className?.baseVal ?? el.className}: right ${r.right}`);
      }
    }
    return out.slice(0, 10);
  });
  assert.deepEqual(bad, [], `${what} overflows at ${PHONE.width}px`);
}

test('the list shows a running job; its charts and heatmap change while it trains', { timeout: 900000 }, async () => {
  const file = await d.upload(data, 'shakespeare.jsonl');
  jobA = (await d.api('POST', '/v1/fine_tuning/jobs', {
    model: 'stories260K', training_file: file.id, seed: 7, suffix: 'e2e',
    method: { type: 'adalora', adalora: { hyperparameters: {
      max_steps: 100, seq_len: 128, batch_size: 8, learning_rate: 0.01,
      init_r: 6, target_r: 3, tinit: 10, tfinal: 20, deltaT: 5,
      log_every: 1, eval_every: 20, checkpoint_every: 40,
    } } },
  })).id;

  // Straight from creation to the list and the job's page, so that the
  // page is there before the job trains, however fast the machine.
  const page = await newPage(DESKTOP);
  await page.goto(d.base);
  const row = page.locator(`[data-testid="job-row"][data-job-id="${jobA}"]`);
  await row.waitFor();
  assert.equal(await page.locator('[data-testid="job-row"]').count(), 1);
  await row.locator('text=stories260K').waitFor();
  await row.locator('text=adalora').waitFor();
  await page.screenshot({ path: join(shots, 'list-desktop.png'), fullPage: true });

  await row.locator(`a:has-text("${jobA}")`).click();
  assert.equal(new URL(page.url()).hash, `#/jobs/${jobA}`);
  // Before: the page has drawn something of a job still running.
  const before = await waitState(page, 'the first points and allocation',
                                 (st) => st.loss >= 1 && st.budget >= 1 && st.entries >= 1 &&
                                         st.scheduled > 0);
  const job = await d.api('GET', `/v1/fine_tuning/jobs/${jobA}`);
  assert.equal(job.status, 'running', 'the job must still run when the page is first read');
  assert.ok(before.loss < 100 && !/^Final/.test(before.caption), 'the page has not seen the end');
  assert.ok(before.markers > 0, 'mask steps are marked on the budget chart');
  // After: more metrics, a lower budget, more allocations, other ranks.
  const after = await waitState(page, 'the job to move on',
                                (st) => st.loss >= before.loss + 5 && st.entries >= before.entries + 2);
  await page.screenshot({ path: join(shots, 'job-desktop-running.png'), fullPage: true });
  assert.ok(after.loss > before.loss && after.lossPoints !== before.lossPoints, 'the loss chart grew');
  assert.ok(after.budget > before.budget && after.budgetPoints !== before.budgetPoints,
            'the budget chart grew');
  assert.ok(after.entries > before.entries, 'the allocation history grew');
  assert.notEqual(after.cells, before.cells, 'the heatmap shows other ranks');
  assert.ok(after.kept < before.kept, `kept ${before.kept} -> ${after.kept}`);
  assert.match(after.lossText, /^Latest, step \d+: train loss \d/);
  // A checkpoint event updates the checkpoints list live: none was listed
  // when the page was first read, and the step-40 one is before the last
  // of the 100 metrics events has arrived (the end reloads the list anyway).
  assert.deepEqual(before.checkpoints, [], 'no checkpoint yet when the page was first read');
  const ckpt = await waitState(page, 'the step-40 checkpoint listed, or the last metrics',
                               (st) => st.checkpoints.includes('40') || st.loss >= 100);
  assert.ok(ckpt.checkpoints.includes('40') && ckpt.loss < 100,
            `checkpoints [${ckpt.checkpoints}] with ${ckpt.loss} metrics: the list must update live`);

  // The end: the final pattern sums to b(T); outputs are offered.
  const end = await waitState(page, 'the job to succeed', (st) => st.status === 'succeeded' &&
                              /^Final rank pattern/.test(st.caption));
  assert.equal(end.kept, TARGET_BUDGET);
  assert.equal(end.cells.split(',').reduce((a, v) => a + Number(v), 0), TARGET_BUDGET);
  assert.equal(end.loss, 100);
  await page.locator('[data-testid="adapter-link"]').first().waitFor();
  assert.deepEqual(await page.locator('[data-testid="adapter-link"]').allTextContents(),
                   ['adapter_model.safetensors', 'adapter_config.json']);
  await page.locator('table.checkpoints tbody tr').nth(1).waitFor();   // steps 40 and 80
  // The slider replays the history: Home is the first allocation (all init_r).
  await page.locator('#rank-step').focus();
  await page.keyboard.press('Home');
  const first = await pageState(page);
  assert.equal(first.index, 0);
  assert.ok(first.cells.split(',').every((v) => v === '6'), first.cells);
  await page.keyboard.press('End');
  assert.equal((await pageState(page)).kept, TARGET_BUDGET);
  await page.screenshot({ path: join(shots, 'job-desktop-final.png'), fullPage: true });

  // Try it: the base model and the fine-tuned one answer the same prompt
  // side by side, streamed; the fine-tuned pane shows what the API's own
  // greedy completion says. In chat mode a model without a chat template
  // shows the API's error in its pane.
  const done = job.fine_tuned_model ? job : await d.api('GET', `/v1/fine_tuning/jobs/${jobA}`);
  await page.locator('[data-testid="tryit"]').waitFor();
  await page.fill('[data-testid="tryit-input"]', 'Once upon a time');
  await page.fill('#tryit-max', '24');
  await page.click('[data-testid="tryit-run"]');
  const settled = (state) => page.waitForFunction((st) => ['tryit-base', 'tryit-tuned'].every((t) =>
    document.querySelector(`[data-testid="${t}-state"]`)?.getAttribute('data-state') === st),
  state, { timeout: 120000 });
  await settled('done');
  const base = await page.textContent('[data-testid="tryit-base-text"]');
  const tuned = await page.textContent('[data-testid="tryit-tuned-text"]');
  assert.ok(base.length > 0 && tuned.length > 0, 'both panes have text');
  for (const [model, text] of [['stories260K', base], [done.fine_tuned_model, tuned]]) {
    const want = await d.api('POST', '/v1/completions', { model, prompt: 'Once upon a time',
                                                          max_tokens: 24, temperature: 0 });
    assert.equal(text, want.choices[0].text, `${model}: the pane shows the API's completion`);
  }
  await page.screenshot({ path: join(shots, 'job-desktop-tryit.png'), fullPage: true });
  await page.selectOption('[data-testid="tryit-mode"]', 'chat');
  await page.click('[data-testid="tryit-run"]');
  await settled('error');
  assert.match(await page.textContent('[data-testid="tryit-tuned-state"]'), /chat template/);
  assert.deepEqual(page.errors, []);
});

test('the form previews b(t), uploads a file and creates a job; cancel stops it', { timeout: 900000 }, async () => {
  const page = await newPage(DESKTOP);
  page.on('dialog', (dialog) => dialog.accept());
  await page.goto(d.base);
  await page.locator('summary:has-text("New fine-tuning job")').click();
  await page.locator('#f-model option[value="stories260K"]').waitFor({ state: 'attached' });
  await page.selectOption('#f-model', 'stories260K');
  await page.selectOption('#f-method', 'adalora');
  await page.setInputFiles('#f-train-upload', data);
  await page.fill('#f-hp-max_steps', '2000');
  await page.fill('#f-hp-seq_len', '64');
  await page.fill('#f-hp-batch_size', '2');
  await page.fill('#f-hp-log_every', '1');
  await page.fill('#f-hp-init_r', '6');
  await page.fill('#f-hp-tinit', '100');
  await page.fill('#f-hp-tfinal', '500');
  await page.fill('#f-hp-deltaT', '50');
  await page.fill('#f-hp-target_r', '3');
  const note = page.locator('#f-preview-note');
  await note.filter({ hasText: `from 210 to ${TARGET_BUDGET} triplets` }).waitFor();
  const preview = page.locator('[data-testid="schedule-preview"] [data-series="schedule"]');
  assert.ok(Number(await preview.getAttribute('data-count')) > 900);   // thinned to <= 1000
  const curve = await preview.locator('polyline').getAttribute('points');
  await page.fill('#f-hp-target_r', '2');
  await note.filter({ hasText: 'from 210 to 70 triplets' }).waitFor();
  assert.notEqual(await preview.locator('polyline').getAttribute('points'), curve);
  // An impossible schedule: the preview says why, in the daemon's words.
  await page.fill('#f-hp-tfinal', '1950');
  await note.filter({ hasText: 'must exceed tinit + tfinal' }).waitFor();
  await page.fill('#f-hp-tfinal', '500');
  await note.filter({ hasText: 'from 210 to 70 triplets' }).waitFor();
  await page.screenshot({ path: join(shots, 'form-desktop.png'), fullPage: true });

  await page.locator('button:has-text("Create job")').click();
  await page.waitForURL(/#\/jobs\/ftjob-/);
  const jobB = decodeURIComponent(new URL(page.url()).hash.slice('#/jobs/'.length));
  assert.notEqual(jobB, jobA);
  const created = await d.api('GET', `/v1/fine_tuning/jobs/${jobB}`);
  assert.equal(created.method.adalora.hyperparameters.target_r, 2);
  assert.equal(created.method.adalora.hyperparameters.max_steps, 2000);
  assert.equal((await d.api('GET', `/v1/files/${created.training_file}`)).filename,
               'shakespeare.jsonl');

  // Back in the list: the new job, running; cancel it there.
  await page.locator('nav.crumbs a:has-text("Jobs")').click();
  const row = page.locator(`[data-testid="job-row"][data-job-id="${jobB}"]`);
  await page.waitForSelector(`[data-testid="job-row"][data-job-id="${jobB}"][data-status="running"]`,
                             { timeout: 300000 });
  assert.equal(await page.locator('[data-testid="job-row"]').count(), 2);
  await row.locator('button:has-text("Cancel")').click();
  await page.waitForSelector(`[data-testid="job-row"][data-job-id="${jobB}"][data-status="cancelled"]`,
                             { timeout: 120000 });
  assert.equal(await row.locator('button:has-text("Cancel")').count(), 0);
  const cancelled = await d.api('GET', `/v1/fine_tuning/jobs/${jobB}`);
  assert.equal(cancelled.status, 'cancelled');
  assert.ok(cancelled.progress.step < 2000);
  await page.screenshot({ path: join(shots, 'list-desktop-cancelled.png'), fullPage: true });
  assert.deepEqual(page.errors, []);
});

test('at phone width nothing overflows', { timeout: 300000 }, async () => {
  const page = await newPage(PHONE);
  await page.goto(d.base);
  await page.locator('[data-testid="job-row"]').first().waitFor();
  await page.locator('summary:has-text("New fine-tuning job")').click();
  await page.locator('[data-testid="schedule-preview"] polyline').waitFor();
  await assertNoOverflow(page, 'the list and form');
  await page.screenshot({ path: join(shots, 'list-phone.png'), fullPage: true });

  await page.goto(`${d.base}/#/jobs/${jobA}`);
  await waitState(page, 'the finished job', (st) => st.kept === TARGET_BUDGET && st.loss === 100);
  await page.locator('[data-testid="adapter-link"]').first().waitFor();
  await assertNoOverflow(page, 'the job page');
  await page.screenshot({ path: join(shots, 'job-phone.png'), fullPage: true });
  assert.deepEqual(page.errors, []);
});

test('with API keys the page asks for the key once, then works', { timeout: 600000 }, async () => {
  const key = 'e2e-secret-key';
  const k = await startDaemon('e2e-dashboard-auth', assets, { key });
  try {
    const file = await k.upload(data, 'shakespeare.jsonl');
    const job = await k.api('POST', '/v1/fine_tuning/jobs', {
      model: 'stories260K', training_file: file.id, seed: 1,
      method: { type: 'adalora', adalora: { hyperparameters: {
        max_steps: 12, seq_len: 64, batch_size: 4, init_r: 4, target_r: 2, tinit: 2,
        tfinal: 4, deltaT: 2, log_every: 1,
      } } },
    });
    const page = await newPage(DESKTOP);
    const unauthorized = [];
    page.on('response', (r) => { if (r.status() === 401) unauthorized.push(r.url()); });
    await page.goto(k.base);
    const dialog = page.locator('#auth-dialog');
    await dialog.locator('#auth-key').waitFor();
    assert.ok(await dialog.evaluate((el) => el.open));
    await page.screenshot({ path: join(shots, 'auth-dialog.png') });
    await page.fill('#auth-key', 'not-the-key');
    await page.keyboard.press('Enter');
    await page.locator('#auth-error:has-text("not accepted")').waitFor();
    await page.fill('#auth-key', key);
    await page.keyboard.press('Enter');
    await page.locator(`[data-testid="job-row"][data-job-id="${job.id}"]`).waitFor();
    assert.equal(await dialog.evaluate((el) => el.open), false);
    const refusedBefore = unauthorized.length;
    assert.ok(refusedBefore >= 2, 'the first requests went without a key, then a wrong one');

    // Reloaded, the tab keeps its key: no dialog; the stream and downloads use it.
    await page.reload();
    await page.goto(`${k.base}/#/jobs/${job.id}`);
    await waitState(page, 'the job to succeed', (st) => st.status === 'succeeded' && st.loss === 12 &&
                    st.entries > 1);
    assert.equal(await dialog.evaluate((el) => el.open), false);
    assert.equal(unauthorized.length, refusedBefore, `refused: ${unauthorized.slice(refusedBefore)}`);
    const link = page.locator('[data-testid="adapter-link"]:has-text("adapter_config.json")');
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const config = JSON.parse(readFileSync(await download.path(), 'utf8'));
    assert.equal(config.peft_type, 'ADALORA');
    await page.screenshot({ path: join(shots, 'job-desktop-auth.png'), fullPage: true });
    assert.deepEqual(page.errors, []);
  } finally {
    assert.equal(await k.stop(), 0);
  }
});

test('a classification job shows its labels and validation metrics', { timeout: 600000 }, async () => {
  // label: does "zebra" occur?
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'dog', 'ran', 'big', 'red'];
  let seed = 1;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const lines = [];
  for (let i = 0; i < 120; i++) {
    const ws = [];
    for (let w = 0, n = 2 + rnd(4); w < n; w++) ws.push(rnd(5) === 0 ? 'zebra' : words[rnd(words.length)]);
    lines.push(JSON.stringify({ text: ws.join(' '), label: ws.includes('zebra') ? 'positive' : 'negative' }));
  }
  const path = join(d.dir, 'zebra.jsonl');
  writeFileSync(path, `${lines.join('\n')}\n`);
  const file = await d.upload(path, 'zebra.jsonl');
  const job = await d.api('POST', '/v1/fine_tuning/jobs', {
    model: 'stories260K', training_file: file.id, seed: 3,
    method: { type: 'adalora', adalora: { hyperparameters: {
      max_steps: 20, seq_len: 32, batch_size: 8, learning_rate: 0.01, init_r: 4, target_r: 2,
      tinit: 2, tfinal: 4, deltaT: 2, log_every: 1, eval_every: 5,
    } } },
  });
  const page = await newPage(DESKTOP);
  await page.goto(`${d.base}/#/jobs/${job.id}`);
  await waitState(page, 'the classifier to succeed', (st) => st.status === 'succeeded' && st.loss === 20);
  const acc = page.locator('[data-testid="metrics-chart"] [data-series="valid_accuracy"]');
  // attached, not "visible": a flat accuracy line has an empty bounding box
  await acc.waitFor({ state: 'attached' });
  assert.ok(await page.locator('[data-testid="metrics-chart"]').isVisible());
  assert.ok(Number(await acc.getAttribute('data-count')) >= 2, 'accuracy at several steps');
  await page.locator('dl.facts dd:has-text("classification")').waitFor();
  await page.locator('dl.facts .label-map li:has-text("positive")').waitFor();
  await page.locator('dl.latest dt:has-text("Validation accuracy")').waitFor();
  await page.screenshot({ path: join(shots, 'job-desktop-classification.png'), fullPage: true });
  assert.deepEqual(page.errors, []);
});

test('a sequence-to-sequence job shows its validation ROUGE', { timeout: 120000 }, async () => {
  // The job and its event stream come from a stand-in (Playwright's request
  // routing): the events carry what a seq2seq job's validations report
  // (README, "Events": valid_rouge1, valid_rouge2, valid_rougeL,
  // valid_rougeLsum), at three steps.
  const id = 'ftjob-seq2seq-standin';
  const now = Math.floor(Date.now() / 1000);
  const job = {
    id, object: 'fine_tuning.job', model: 'bart-tiny', status: 'succeeded', task: 'seq2seq',
    created_at: now - 60, started_at: now - 50, finished_at: now - 5, seed: 1,
    training_file: 'file-standin', validation_file: null, fine_tuned_model: null,
    method: { type: 'lora', lora: { hyperparameters: { max_steps: 30 } } },
    progress: { step: 30, total_steps: 30 }, trained_tokens: 1000,
    metrics: { valid_loss: 1.5, valid_rouge1: 0.62, valid_rouge2: 0.41, valid_rougeL: 0.58,
               valid_rougeLsum: 0.6 },
  };
  const rouge = [[0, 0.1, 0.02, 0.09, 0.095], [15, 0.4, 0.2, 0.37, 0.38], [30, 0.62, 0.41, 0.58, 0.6]];
  const events = rouge.map(([step, r1, r2, rl, rls], i) => ({
    id: `ev-${i + 1}`, object: 'fine_tuning.job.event', created_at: now - 40 + i, level: 'info',
    type: 'message', message: 'validation',
    data: { kind: 'validation', step, total_steps: 30, valid_loss: 3 - step / 15,
            valid_rouge1: r1, valid_rouge2: r2, valid_rougeL: rl, valid_rougeLsum: rls },
  }));
  const sse = events.map((e, i) => `id: ${i + 1}\ndata: ${JSON.stringify(e)}\n\n`).join('') +
              `event: done\ndata: ${JSON.stringify({ status: 'succeeded' })}\n\n`;
  const page = await newPage(DESKTOP);
  await page.route((url) => url.pathname.startsWith(`/v1/fine_tuning/jobs/${id}`), (route) => {
    const path = new URL(route.request().url()).pathname;
    const json = (body) => route.fulfill({ status: 200, contentType: 'application/json',
                                           body: JSON.stringify(body) });
    if (path.endsWith('/events')) {
      return route.fulfill({ status: 200, contentType: 'text/event-stream', body: sse });
    }
    if (path.endsWith('/checkpoints')) return json({ object: 'list', data: [], has_more: false });
    if (path.endsWith('/adapter')) return json({ object: 'list', format: 'peft', data: [] });
    return json(job);
  });
  await page.goto(`${d.base}/#/jobs/${id}`);
  const r1 = page.locator('[data-testid="rouge-chart"] [data-series="valid_rouge1"]');
  await r1.waitFor({ state: 'attached' });
  assert.ok(await page.locator('[data-testid="rouge-chart"]').isVisible());
  for (const k of ['valid_rouge1', 'valid_rouge2', 'valid_rougeL', 'valid_rougeLsum']) {
    const n = await page.locator(`[data-testid="rouge-chart"] [data-series="${k}"]`).getAttribute('data-count');
    assert.equal(Number(n), 3, `${k}: a point per validation`);
  }
  // the classification chart stays hidden: no such metrics here
  assert.equal(await page.locator('[data-testid="metrics-chart"]').isVisible(), false);
  await page.locator('dl.latest dt:has-text("Validation ROUGE-Lsum")').waitFor();
  // the latest validation's values, as text
  assert.equal(await page.locator('dl.latest dd[data-key="Validation ROUGE-1"]').textContent(), '0.62');
  assert.equal(await page.locator('dl.latest dd[data-key="Validation ROUGE-Lsum"]').textContent(), '0.6');
  await page.screenshot({ path: join(shots, 'job-desktop-seq2seq-rouge.png'), fullPage: true });
  assert.deepEqual(page.errors, []);
});

test('a real sequence-to-sequence job draws its validation ROUGE', { timeout: 600000 }, async () => {
  // The tests' tiny BART learning to reverse letters (tests/support/tiny_bart.h);
  // every validation (before training, at 20 and 40, at the end) decodes the
  // first 12 sources with two beams and scores them.
  const train = await d.upload(d.bartData.train, 'reverse-train.jsonl');
  const valid = await d.upload(d.bartData.valid, 'reverse-valid.jsonl');
  const hp = { max_steps: 60, batch_size: 16, learning_rate: 0.03, init_r: 6, target_r: 4,
               tinit: 10, tfinal: 20, deltaT: 5, eval_every: 20, log_every: 10,
               valid_generate_examples: 12, generation_num_beams: 2, generation_max_length: 16 };
  let job = await d.api('POST', '/v1/fine_tuning/jobs', {
    model: 'bart-tiny', task: 'seq2seq', training_file: train.id, validation_file: valid.id,
    method: { type: 'adalora', adalora: { hyperparameters: hp } },
  });
  for (const t0 = Date.now(); !['succeeded', 'failed', 'cancelled'].includes(job.status);) {
    assert.ok(Date.now() - t0 < 500000, 'the seq2seq job did not finish');
    await new Promise((r) => setTimeout(r, 500));
    job = await d.api('GET', `/v1/fine_tuning/jobs/${job.id}`);
  }
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  for (const k of ['valid_rouge1', 'valid_rouge2', 'valid_rougeL', 'valid_rougeLsum']) {
    assert.ok(Number.isFinite(job.metrics[k]) && job.metrics[k] >= 0 && job.metrics[k] <= 1, `metrics.${k}`);
  }
  const page = await newPage(DESKTOP);
  await page.goto(`${d.base}/#/jobs/${job.id}`);
  const rl = page.locator('[data-testid="rouge-chart"] [data-series="valid_rougeL"]');
  await rl.waitFor({ state: 'attached' });
  assert.ok(await page.locator('[data-testid="rouge-chart"]').isVisible());
  // a point per validation: before training, at 20, at 40, at the end
  for (const t0 = Date.now(); Number(await rl.getAttribute('data-count')) < 4;) {
    assert.ok(Date.now() - t0 < 60000, `ROUGE-L points: ${await rl.getAttribute('data-count')}`);
    await page.waitForTimeout(100);
  }
  const latest = page.locator('dl.latest dd[data-key="Validation ROUGE-L"]');
  await latest.waitFor();
  const shown = Number(await latest.textContent());
  assert.ok(Math.abs(shown - job.metrics.valid_rougeL) < 0.01,
    `latest ROUGE-L ${shown}, the job's ${job.metrics.valid_rougeL}`);
  // not served (README "Serving"): no "Try it" panel
  assert.equal(await page.locator('[data-testid="tryit"]').isVisible(), false);
  await page.screenshot({ path: join(shots, 'job-desktop-seq2seq-real.png'), fullPage: true });
  assert.deepEqual(page.errors, []);
});

test('a question answering job answers in the Try it panel', { timeout: 600000 }, async () => {
  const train = await d.upload(d.qaTrain, 'qa-train.jsonl');
  let job = await d.api('POST', '/v1/fine_tuning/jobs', {
    model: 'enc', task: 'question_answering', training_file: train.id, seed: 5,
    method: { type: 'adalora', adalora: { hyperparameters: {
      max_steps: 160, seq_len: 24, batch_size: 16, learning_rate: 0.02, init_r: 4, target_r: 2,
      tinit: 20, tfinal: 60, deltaT: 5, warmup_steps: 5, doc_stride: 4, max_answer_length: 4,
    } } },
  });
  for (const t0 = Date.now(); !['succeeded', 'failed', 'cancelled'].includes(job.status);) {
    assert.ok(Date.now() - t0 < 500000, 'the question answering job did not finish');
    await new Promise((r) => setTimeout(r, 500));
    job = await d.api('GET', `/v1/fine_tuning/jobs/${job.id}`);
  }
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  // a context whose characters are not all one UTF-16 unit: the offsets
  // count code points, and the mark must still land on the answer
  const context = '🦓 the cat sat on a mat and the dog ran to the park zebra ball in the sun';
  const question = 'where is the zebra';
  const want = (await d.api('POST', '/v1/question_answering', {
    model: job.fine_tuned_model, question, context, top_k: 3,
  })).data[0];
  const page = await newPage(DESKTOP);
  await page.goto(`${d.base}/#/jobs/${job.id}`);
  await page.locator('[data-testid="tryit"]').waitFor();
  assert.match(await page.textContent('[data-testid="tryit-note"]'), /no question answering head/);
  // no base pane: the fine-tuned model alone
  assert.equal(await page.locator('[data-testid="tryit-base"]').count(), 0);
  await page.fill('[data-testid="tryit-context"]', context);
  await page.fill('[data-testid="tryit-question"]', question);
  await page.click('[data-testid="tryit-run"]');
  await page.waitForFunction(() => ['done', 'error'].includes(
    document.querySelector('[data-testid="tryit-tuned"]')?.dataset.state));
  assert.equal(await page.getAttribute('[data-testid="tryit-tuned"]', 'data-state'), 'done',
    await page.textContent('[data-testid="tryit-tuned"]'));
  assert.equal(want.is_impossible, false);
  assert.equal(await page.textContent('[data-testid="tryit-answer"]'), want.answer);
  assert.equal(await page.textContent('[data-testid="tryit-highlight"]'), context);
  assert.equal(Array.from(context).slice(want.start, want.end).join(''), want.answer);
  const score = await page.textContent('[data-testid="tryit-score"]');
  assert.ok(score.includes(want.score.toFixed(3)), `${score} vs ${want.score}`);
  assert.equal(await page.locator('[data-testid="tryit-answers"] li').count(), want.answers.length);
  await page.screenshot({ path: join(shots, 'job-desktop-qa-tryit.png'), fullPage: true });
  assert.deepEqual(page.errors, []);
});

