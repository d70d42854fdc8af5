// sse — follows a job's live event stream (GET …/events?stream=true).
//
// fetch() and a streaming parser rather than EventSource, because
// EventSource cannot send the Authorization header. When the connection
// drops, the follower reconnects with Last-Event-ID, so the daemon
// resumes right after the last event received: no gaps, no repeats. It
// ends at `event: done` (the job reached a final status), when the job is
// gone (404) or when the caller aborts.
import { api } from './api.js';
import { sleep } from './util.js';

// Feed text chunks; calls onBlock({id, event, data}) per complete block.
// Follows the HTML spec's parsing: \n, \r\n or \r end lines; a leading
// space after the colon is dropped; ":" lines are comments (keep-alives).
export class SseParser {
  constructor(onBlock) {
    this.onBlock = onBlock;
    this.buf = '';
    this.reset();
  }

  reset() {
    this.event = '';
    this.data = [];
    this.id = null;
  }

  push(text) {
    this.buf += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      // A lone \r at the end may be the first half of \r\n: wait.
      if (!m || (m[0] === '\r' && m.index === this.buf.length - 1)) return;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      if (this.data.length || this.event) {
        this.onBlock({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
      }
      this.reset();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
  }
}

// handlers: onEvent(event object, id), onDone({status}), onState('live' |
// 'reconnecting' | 'ended' | 'gone'). Returns nothing; abort signal stops it.
export function followEvents(jobId, { onEvent, onDone, onState, signal }) {
  const path = `/v1/fine_tuning/jobs/${encodeURIComponent(jobId)}/events?stream=true`;
  let lastId = null;
  let delay = 500;

  (async () => {
    while (!signal.aborted) {
      let finished = false;
      try {
        const headers = { Accept: 'text/event-stream' };
        if (lastId !== null) headers['Last-Event-ID'] = lastId;
        const res = await api.request('GET', path, { headers, raw: true, signal });
        onState('live');
        delay = 500;
        const parser = new SseParser((block) => {
          if (block.id !== null) lastId = block.id;
          if (block.event === 'done') {
            finished = true;
            onDone(JSON.parse(block.data));
          } else {
            onEvent(JSON.parse(block.data), block.id);
          }
        });
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done || finished || signal.aborted) break;
          parser.push(value);
        }
        if (signal.aborted) return;
        if (finished) {
          reader.cancel().catch(() => {});
          onState('ended');
          return;
        }
      } catch (e) {
        if (signal.aborted) return;
        if (e.status === 404) {
          onState('gone');
          return;
        }
      }
      if (signal.aborted) return;
      onState('reconnecting');
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 10000);
    }
  })();
}
