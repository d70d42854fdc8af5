// serve.test.mjs — the official openai SDK (npm "openai"), unchanged, calling
// what adalorad trained: a LoRA job on a tiny ChatML model, then
// chat.completions.create({stream: true}) and completions.create on its
// fine_tuned_model, greedy, each equal token for token to
// `adalora generate --adapter` run here on the same model and prompt (the
// CLI prints each token's bytes, dropping single unprintable ones: the
// test rebuilds that text from the bytes the API reports per token).
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
const makeChat = process.env.ADALORA_MAKE_CHAT_MODEL;
if (!cli || !makeChat) throw new Error('ADALORA_BIN and ADALORA_MAKE_CHAT_MODEL must be set (run with meson)');

const key = 'sk-adalorad-serve';
let chatModel;
const d = await spawnDaemon('serve', (models) => {
  chatModel = join(models, 'chat.gguf');
  execFileSync(makeChat, [chatModel, '7']);
}, { key, args: ['--serve-threads', '2'] });
const client = new OpenAI({ apiKey: key, baseURL: `${d.base}/v1`, maxRetries: 0 });

test.after(async () => {
  assert.equal(await d.stop(), 0);
});

// A small chat dataset: short questions and answers.
function chatData() {
  const pairs = [['Hi', 'Hello!'], ['How are you?', 'Fine, thanks.'], ['Name a color', 'Blue.'],
    ['Count to three', '1 2 3'], ['Say yes', 'Yes.'], ['Bye', 'Goodbye!']];
  const lines = [];
  for (let i = 0; i < 60; i++) {
    const [q, a] = pairs[i % pairs.length];
    lines.push(JSON.stringify({ messages: [{ role: 'user', content: q },
      { role: 'assistant', content: a }] }));
  }
  const path = join(d.dir, 'chat.jsonl');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

// What `adalora generate` prints of tokens with these bytes.
function cliText(tokenBytes) {
  const out = [];
  for (const b of tokenBytes) {
    if (b.length === 1 && !((b[0] >= 0x20 && b[0] < 0x7f) || (b[0] >= 9 && b[0] <= 13))) continue;
    out.push(...b);
  }
  return Buffer.from(out).toString('latin1');
}

function generate(args) {
  return execFileSync(cli, ['generate', '--model', chatModel, '--temperature', '0', ...args])
    .toString('latin1');
}

let ft, adapterDir;

test('train a LoRA job on the chat model', async () => {
  const file = await client.files.create({ file: createReadStream(chatData()), purpose: 'fine-tune' });
  const job = await client.fineTuning.jobs.create({
    model: 'chat', training_file: file.id, seed: 5, suffix: 'serve',
    method: { type: 'lora', lora: { hyperparameters: {
      max_steps: 25, seq_len: 64, batch_size: 4, learning_rate: 0.02, r: 4 } } },
  });
  let got = job;
  for (const t0 = Date.now(); !['succeeded', 'failed', 'cancelled'].includes(got.status);) {
    assert.ok(Date.now() - t0 < 300000, 'the job did not finish in 5 minutes');
    await new Promise((r) => setTimeout(r, 100));
    got = await client.fineTuning.jobs.retrieve(job.id);
  }
  assert.equal(got.status, 'succeeded', JSON.stringify(got.error));
  ft = got.fine_tuned_model;
  adapterDir = join(d.dir, 'data', 'jobs', job.id, 'adapter');
  const models = await client.models.list();
  const m = models.data.find((x) => x.id === ft);
  assert.ok(m, 'the fine-tuned model is listed');
  assert.equal(m.owned_by, 'user');
  assert.equal(m.parent, 'chat');
  assert.equal(m.root, 'chat');
});

test('chat.completions.create, streamed, greedy = adalora generate --messages --adapter', async () => {
  const messages = [{ role: 'user', content: 'How are you?' }];
  const stream = await client.chat.completions.create({
    model: ft, messages, stream: true, temperature: 0, max_tokens: 24, logprobs: true,
    stream_options: { include_usage: true },
  });
  let content = '', role = null, finish = null, usage = null, chunks = 0;
  const bytes = [];
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.model, ft);
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta.role) role = c.delta.role;
    if (c.delta.content) content += c.delta.content;
    for (const lp of c.logprobs?.content ?? []) bytes.push(lp.bytes);
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(role, 'assistant');
  assert.ok(['stop', 'length'].includes(finish));
  assert.ok(chunks > 2);
  assert.ok(usage && usage.prompt_tokens > 10 && usage.completion_tokens === bytes.length);
  assert.ok(bytes.length > 0);
  const printed = generate(['--adapter', adapterDir, '--messages', JSON.stringify(messages),
    '-n', String(usage.prompt_tokens + 24 - 1)]);
  assert.equal(printed, cliText(bytes) + '\n');
  // All the bytes are the reply's text.
  assert.equal(Buffer.from(bytes.flat()).toString('utf8'), content);
});

test('completions.create, greedy = adalora generate --prompt --adapter', async () => {
  const prompt = 'Name a color';
  const r = await client.completions.create({
    model: ft, prompt, max_tokens: 20, temperature: 0, logprobs: 0,
  });
  assert.equal(r.object, 'text_completion');
  const choice = r.choices[0];
  assert.ok(['stop', 'length'].includes(choice.finish_reason));
  const bytes = choice.logprobs.tokens.map((t) => t.startsWith('bytes:')
    ? t.slice(6).split('\\x').filter(Boolean).map((h) => parseInt(h, 16))
    : [...Buffer.from(t, 'utf8')]);
  assert.equal(bytes.length, r.usage.completion_tokens);
  const printed = generate(['--adapter', adapterDir, '--prompt', prompt,
    '-n', String(r.usage.prompt_tokens + 20 - 1)]);
  assert.equal(printed, prompt + cliText(bytes) + '\n');
  assert.equal(Buffer.from(bytes.flat()).toString('utf8'), choice.text);
});

test('the base model streams too, and errors are the SDK\'s classes', async () => {
  const stream = await client.completions.create({ model: 'chat', prompt: 'Hi', max_tokens: 5,
    temperature: 0, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(typeof text, 'string');
  await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: [
    { role: 'user', content: 'x' }] }),
  (err) => err instanceof OpenAI.BadRequestError && err.param === 'model');
  await assert.rejects(client.completions.create({ model: ft, prompt: 'x', max_tokens: 100000 }),
    (err) => err instanceof OpenAI.BadRequestError && err.param === 'max_tokens');
  await assert.rejects(client.chat.completions.create({ model: ft, messages: [
    { role: 'user', content: 'x' }], temperature: -1 }),
  (err) => err instanceof OpenAI.BadRequestError && err.param === 'temperature');
});
