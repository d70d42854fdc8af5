// sse_parser.test.mjs — the dashboard's Server-Sent Events parser
// (api/dashboard/sse.js) on its own, in Node (no browser, no packages):
// the same stream cut into chunks at every possible place parses to the
// same blocks; CRLF, CR and LF line ends; comments (keep-alives) and
// blocks without data ignored; multi-line data joined; ids kept.
import test from 'node:test';
import assert from 'node:assert/strict';
import { SseParser } from '../../api/dashboard/sse.js';

function parse(chunks) {
  const out = [];
  const p = new SseParser((b) => out.push(b));
  for (const c of chunks) p.push(c);
  return out;
}

const stream = ': keep-alive\n\n' +
  'id: 1\nevent: metrics\ndata: {"step":1}\n\n' +
  ': keep-alive\n\n' +
  'id: 2\r\nevent: message\r\ndata: {"message":"ranks",\r\ndata: "x":1}\r\n\r\n' +
  'id: 3\revent: metrics\rdata:{"step":3}\r\r' +
  'event: done\ndata: {"status":"succeeded"}\n\n';

const expected = [
  { id: '1', event: 'metrics', data: '{"step":1}' },
  { id: '2', event: 'message', data: '{"message":"ranks",\n"x":1}' },
  { id: '3', event: 'metrics', data: '{"step":3}' },
  { id: null, event: 'done', data: '{"status":"succeeded"}' },
];

test('one chunk', () => {
  assert.deepEqual(parse([stream]), expected);
});

test('every split into two chunks, and one character at a time', () => {
  for (let i = 0; i <= stream.length; i++) {
    assert.deepEqual(parse([stream.slice(0, i), stream.slice(i)]), expected, `split at ${i}`);
  }
  assert.deepEqual(parse([...stream]), expected);
});

test('an unfinished block is held back until its blank line', () => {
  const out = [];
  const p = new SseParser((b) => out.push(b));
  p.push('id: 9\nevent: metrics\ndata: {}\n');
  assert.equal(out.length, 0);
  p.push('\n');
  assert.deepEqual(out, [{ id: '9', event: 'metrics', data: '{}' }]);
});

test('a block without an event name is a "message"; unknown fields are ignored', () => {
  assert.deepEqual(parse(['retry: 10\nfoo: bar\ndata: x\n\n']),
                   [{ id: null, event: 'message', data: 'x' }]);
});
