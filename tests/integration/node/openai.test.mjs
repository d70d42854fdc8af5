// openai.test.mjs — the official openai SDK (npm "openai"), unchanged,
// with its base URL pointed at adalorad: upload a file, create a job,
// retrieve and list it, list its events, and see API errors arrive as
// the SDK's own error classes with status, type and param.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { requirePackages, startDaemon, corpus, jobBody } from './daemon.mjs';

requirePackages('openai');
const { default: OpenAI } = await import('openai');

const key = 'sk-adalorad-test';
const d = await startDaemon('openai', { key });
const client = new OpenAI({ apiKey: key, baseURL: `${d.base}/v1`, maxRetries: 0 });

test.after(async () => {
  assert.equal(await d.stop(), 0);
});

test('upload, create, retrieve, list events', async () => {
  const file = await client.files.create({ file: createReadStream(corpus), purpose: 'fine-tune' });
  assert.match(file.id, /^file-/);
  assert.equal(file.object, 'file');
  assert.equal(file.purpose, 'fine-tune');
  assert.equal(file.status, 'processed');
  assert.equal(file.filename, 'corpus.jsonl');

  const job = await client.fineTuning.jobs.create(jobBody(file.id));
  assert.match(job.id, /^ftjob-/);
  assert.equal(job.object, 'fine_tuning.job');
  assert.equal(job.status, 'validating_files');
  assert.equal(job.training_file, file.id);

  let got = job;
  for (const t0 = Date.now(); !['succeeded', 'failed', 'cancelled'].includes(got.status);) {
    assert.ok(Date.now() - t0 < 120000, 'the job did not finish in 2 minutes');
    await new Promise((r) => setTimeout(r, 100));
    got = await client.fineTuning.jobs.retrieve(job.id);
  }
  assert.equal(got.status, 'succeeded', JSON.stringify(got.error));
  assert.equal(got.fine_tuned_model, `ft:demo:node:${job.id}`);
  assert.equal(got.progress.step, 30);

  const events = await client.fineTuning.jobs.listEvents(job.id, { limit: 100 });
  assert.ok(events.data.length > 10);
  for (const e of events.data) {
    assert.equal(e.object, 'fine_tuning.job.event');
    assert.match(e.id, /^ftevent-/);
  }
  const metrics = events.data.filter((e) => e.type === 'metrics');
  assert.equal(metrics.length, 10);
  assert.ok(metrics.every((e) => typeof e.data.train_loss === 'number'));

  const jobs = await client.fineTuning.jobs.list({ limit: 10 });
  assert.ok(jobs.data.some((j) => j.id === job.id));

  const files = await client.files.list();
  assert.ok(files.data.some((f) => f.id === file.id));
});

test('errors are the SDK\'s own error classes', async () => {
  await assert.rejects(
    client.fineTuning.jobs.create({ model: 'no-such-model', training_file: 'file-x' }),
    (err) => err instanceof OpenAI.BadRequestError && err.status === 400 &&
             err.param === 'model' && err.type === 'invalid_request_error');
  await assert.rejects(client.fineTuning.jobs.retrieve('ftjob-nope'),
    (err) => err instanceof OpenAI.NotFoundError && err.status === 404);
  const bad = new OpenAI({ apiKey: 'wrong', baseURL: `${d.base}/v1`, maxRetries: 0 });
  await assert.rejects(bad.files.list(),
    (err) => err instanceof OpenAI.AuthenticationError && err.status === 401);
});
