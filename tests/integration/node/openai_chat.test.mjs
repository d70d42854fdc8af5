// openai_chat.test.mjs — a chat fine-tuning job through the official openai
// SDK (npm "openai"), as OpenAI's own clients send one: chat-format JSONL
// ({"messages": [...]} lines, a turn with "weight": 0 among them) uploaded
// with files.create, a job created on a model whose GGUF carries a ChatML
// template (made offline: `adalora create-model --chat-template chatml`).
// What shows the chat rendering was used:
//   - the model lists its template; the same file on a model without one is
//     a 400 naming method.<type>.hyperparameters.chat_template;
//   - the job's "Files validated" event counts the loss targets, and they
//     are exactly the mask `adalora render` prints for the file (assistant
//     turns and their <|im_end|>, weight-0 turns left out): fewer than the
//     tokens, and fewer again when a second turn is weighted 0;
//   - the job trains and succeeds.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requirePackages } from './daemon.mjs';
import { spawnDaemon } from '../../node_common/spawn_daemon.mjs';

requirePackages('openai');
const { default: OpenAI } = await import('openai');

const cli = process.env.ADALORA_BIN;
if (!cli) throw new Error('ADALORA_BIN must be set (run with meson)');
const key = 'sk-adalorad-chat-test';
const d = await spawnDaemon('openai-chat', (models) => {
  execFileSync(cli, ['create-model', '--shape', 'tiny', '--chat-template', 'chatml',
                     '--seed', '2', '--out', join(models, 'chat.gguf')]);
  execFileSync(cli, ['create-model', '--shape', 'tiny', '--seed', '2',
                     '--out', join(models, 'plain.gguf')]);
}, { key });
const client = new OpenAI({ apiKey: key, baseURL: `${d.base}/v1`, maxRetries: 0 });

test.after(async () => {
  assert.equal(await d.stop(), 0);
});

// n conversations: a system turn in every other one, two exchanges, the
// second reply weighted 0 in every third (or in all, with maskSecond).
const colours = ['Blue.', 'Green.', 'White.', 'Red.', 'Black.', 'Grey.', 'Gold.', 'Pink.'];
const things = ['sky', 'grass', 'snow', 'blood', 'coal', 'ash', 'sun', 'rose'];
function writeChat(path, n, maskSecond) {
  const lines = [];
  for (let i = 0; i < n; i++) {
    const a = i % things.length, b = (i * 3 + 1) % things.length;
    const messages = [];
    if (i % 2 === 0) messages.push({ role: 'system', content: 'Answer with one colour.' });
    messages.push({ role: 'user', content: `What colour is the ${things[a]}?` });
    messages.push({ role: 'assistant', content: colours[a] });
    messages.push({ role: 'user', content: `And the ${things[b]}?` });
    const second = { role: 'assistant', content: colours[b] };
    if (maskSecond || i % 3 === 0) second.weight = 0;
    messages.push(second);
    lines.push(JSON.stringify({ messages }));
  }
  writeFileSync(path, lines.join('\n') + '\n');
}

// The loss targets and tokens of a file as `adalora render` shows them.
function rendered(path) {
  const out = execFileSync(cli, ['render', '--model', join(d.dir, 'models', 'chat.gguf'),
                                 '--data', path], { encoding: 'utf8' });
  let targets = 0, tokens = 0;
  for (const line of out.trim().split('\n')) {
    const r = JSON.parse(line);
    assert.equal(r.chat_template, 'chatml');
    targets += r.mask.reduce((s, m) => s + m, 0);
    tokens += r.tokens.length;
  }
  return { targets, tokens };
}

function body(model, fileId, steps) {
  return {
    model, training_file: fileId, seed: 4, suffix: 'chat',
    method: { type: 'lora', lora: { hyperparameters: {
      max_steps: steps, seq_len: 256, batch_size: 2, learning_rate: 0.01, r: 4,
      log_every: 2, checkpoint_every: 0, valid_fraction: 0,
    } } },
  };
}

async function finished(id) {
  let got;
  for (const t0 = Date.now(); ;) {
    got = await client.fineTuning.jobs.retrieve(id);
    if (['succeeded', 'failed', 'cancelled'].includes(got.status)) return got;
    assert.ok(Date.now() - t0 < 120000, 'the job did not finish in 2 minutes');
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The loss targets the "Files validated" event reports.
async function plannedTargets(id) {
  const events = await client.fineTuning.jobs.listEvents(id, { limit: 100 });
  const v = events.data.find((e) => e.message.startsWith('Files validated'));
  assert.ok(v, 'no "Files validated" event');
  const m = /with (\d+) loss targets/.exec(v.message);
  assert.ok(m, v.message);
  return Number(m[1]);
}

test('a chat job through files.create, rendered with the model\'s ChatML template', async () => {
  const pathA = join(d.dir, 'chat.jsonl'), pathB = join(d.dir, 'chat-masked.jsonl');
  writeChat(pathA, 24, false);
  writeChat(pathB, 24, true);

  const models = await client.models.list();
  const chat = models.data.find((m) => m.id === 'chat');
  const plain = models.data.find((m) => m.id === 'plain');
  assert.equal(chat.chat_template, 'chatml');
  assert.equal(plain.chat_template, null);

  const fileA = await client.files.create({ file: createReadStream(pathA), purpose: 'fine-tune' });
  const fileB = await client.files.create({ file: createReadStream(pathB), purpose: 'fine-tune' });
  assert.equal(fileA.status, 'processed');
  assert.equal(fileA.filename, 'chat.jsonl');

  // No template to render with: refused at creation, naming the field.
  await assert.rejects(client.fineTuning.jobs.create(body('plain', fileA.id, 4)),
    (err) => err instanceof OpenAI.BadRequestError &&
             err.param === 'method.lora.hyperparameters.chat_template');

  const job = await client.fineTuning.jobs.create(body('chat', fileA.id, 8));
  const got = await finished(job.id);
  assert.equal(got.status, 'succeeded', JSON.stringify(got.error));
  assert.equal(got.progress.step, 8);

  const a = rendered(pathA), b = rendered(pathB);
  assert.equal(await plannedTargets(job.id), a.targets);
  assert.ok(a.targets > 0 && a.targets < a.tokens / 4, JSON.stringify(a));

  const masked = await client.fineTuning.jobs.create(body('chat', fileB.id, 2));
  const gotB = await finished(masked.id);
  assert.equal(gotB.status, 'succeeded', JSON.stringify(gotB.error));
  assert.equal(await plannedTargets(masked.id), b.targets);
  assert.ok(b.targets < a.targets && b.tokens === a.tokens, JSON.stringify({ a, b }));

  const events = await client.fineTuning.jobs.listEvents(job.id, { limit: 100 });
  const metrics = events.data.filter((e) => e.type === 'metrics');
  assert.equal(metrics.length, 4);
  assert.ok(metrics.every((e) => Number.isFinite(e.data.train_loss)));
});
