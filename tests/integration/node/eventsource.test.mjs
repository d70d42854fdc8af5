// eventsource.test.mjs — the npm "eventsource" package (a WHATWG
// EventSource) follows a job's live stream from adalorad: metrics and
// rank events in order with their ids, then `event: done`; and a second
// client resuming from an id gets exactly the rest.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { requirePackages, startDaemon, corpus, jobBody } from './daemon.mjs';

requirePackages('eventsource');
const { EventSource } = await import('eventsource');

const d = await startDaemon('eventsource', { args: ['--sse-keepalive', '0.5'] });

test.after(async () => {
  assert.equal(await d.stop(), 0);
});

async function post(path, body, headers) {
  const res = await fetch(`${d.base}${path}`, { method: 'POST', body, headers });
  assert.ok(res.ok, `${path}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

// Follow a job's stream until `done`; lastEventId resumes.
function follow(jobId, lastEventId) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const url = `${d.base}/v1/fine_tuning/jobs/${jobId}/events?stream=true`;
    const init = lastEventId === undefined ? {} : {
      fetch: (input, opts) => fetch(input, {
        ...opts, headers: { ...opts.headers, 'Last-Event-ID': String(lastEventId) } }),
    };
    const es = new EventSource(url, init);
    const timer = setTimeout(() => { es.close(); reject(new Error('no done in 120 s')); }, 120000);
    const keep = (e) => seen.push({ id: Number(e.lastEventId), type: e.type,
                                     event: JSON.parse(e.data) });
    es.addEventListener('metrics', keep);
    es.addEventListener('message', keep);
    es.addEventListener('done', (e) => {
      clearTimeout(timer);
      es.close();
      resolve({ seen, done: JSON.parse(e.data) });
    });
  });
}

test('follow a job live, then resume from an id', async () => {
  const file = await post('/v1/files?purpose=fine-tune&filename=corpus.jsonl',
                          readFileSync(corpus), { 'Content-Type': 'application/jsonl' });
  const job = await post('/v1/fine_tuning/jobs', JSON.stringify(jobBody(file.id)),
                         { 'Content-Type': 'application/json' });

  const { seen, done } = await follow(job.id);
  assert.equal(done.status, 'succeeded');
  seen.forEach((s, i) => assert.equal(s.id, i + 1));   // every event, in order
  const steps = seen.filter((s) => s.type === 'metrics').map((s) => s.event.data.step);
  assert.deepEqual(steps, [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
  const ranks = seen.filter((s) => s.event.message === 'ranks');
  assert.ok(ranks.length >= 2);
  assert.equal(ranks.at(-1).event.data.budget.current, ranks.at(-1).event.data.budget.target);

  const rest = await follow(job.id, 10);
  assert.equal(rest.done.status, 'succeeded');
  assert.deepEqual(rest.seen.map((s) => s.id), seen.slice(10).map((s) => s.id));
});
