import { describe, expect, it } from 'vitest';
import { EventStreamParser, readEventStream, type ServerSentEvent } from '../src/event-stream.js';

function parseInChunks(chunks: string[]): ServerSentEvent[] {
  const parser = new EventStreamParser();
  const events = chunks.flatMap((chunk) => parser.push(chunk));
  parser.end();
  return events;
}

/** Every way of cutting `text` in two, so no boundary goes untested. */
function everySplit(text: string): string[][] {
  return Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]);
}

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

const stream =
  ': keep-alive\n' +
  'event: progress\n' +
  'data: {"bytes":1024,"totalBytes":4096}\n' +
  '\n' +
  'id: 7\r\n' +
  'event: status\r\n' +
  'data: {"status":"completed"}\r\n' +
  '\r\n' +
  'data: first\r' +
  'data:second\r' +
  '\r';

const expected: ServerSentEvent[] = [
  { event: 'progress', data: '{"bytes":1024,"totalBytes":4096}', id: '' },
  { event: 'status', data: '{"status":"completed"}', id: '7' },
  { event: 'message', data: 'first\nsecond', id: '7' },
];

describe('EventStreamParser', () => {
  it('parses LF, CRLF and CR line endings, comments and multi-line data in one chunk', () => {
    expect(parseInChunks([stream])).toEqual(expected);
  });

  it('gives the same events wherever a chunk boundary falls, CRLF split included', () => {
    for (const chunks of everySplit(stream)) {
      expect(parseInChunks(chunks), JSON.stringify(chunks)).toEqual(expected);
    }
  });

  it('gives the same events when fed one character at a time', () => {
    expect(parseInChunks([...stream])).toEqual(expected);
  });

  it('does not turn a CRLF split across chunks into two line ends', () => {
    // Were the LF read as a second line end, the blank line would dispatch "a" before "b" joined it.
    expect(parseInChunks(['data: a\r', '\ndata: b\r\n\r\n'])).toEqual([{ event: 'message', data: 'a\nb', id: '' }]);
  });

  it('drops an event the stream ended in the middle of', () => {
    expect(parseInChunks(['event: status\ndata: {"status":"running"}\n\nevent: status\ndata: {"sta'])).toEqual([
      { event: 'status', data: '{"status":"running"}', id: '' },
    ]);
    expect(parseInChunks(['data: no blank line\n'])).toEqual([]);
  });

  it('strips only one leading space, ignores unknown fields and events without data', () => {
    const events = parseInChunks(['data:  two spaces\nfoo: bar\ndata\n\nevent: empty\n\n:comment only\n\n']);
    expect(events).toEqual([{ event: 'message', data: ' two spaces\n', id: '' }]);
  });

  it('strips a leading byte order mark, reads retry, and refuses an id holding NUL', () => {
    const parser = new EventStreamParser();
    const events = parser.push('\uFEFFretry: 2500\nid: a\0b\ndata: x\n\nretry: soon\n');
    expect(events).toEqual([{ event: 'message', data: 'x', id: '' }]);
    expect(parser.retryMs).toBe(2500);
  });
});

describe('readEventStream', () => {
  it('decodes UTF-8 split across byte chunks and yields the events of a body', async () => {
    const bytes = new TextEncoder().encode('event: status\ndata: {"title":"Für Elise ♪"}\n\ndata: tail\n\n');
    // Cut inside the two-byte "ü" and the three-byte "♪".
    const u = bytes.indexOf(0xc3) + 1;
    const note = bytes.indexOf(0xe2) + 2;
    const chunks = [bytes.slice(0, u), bytes.slice(u, note), bytes.slice(note)];
    const events: ServerSentEvent[] = [];
    for await (const event of readEventStream(streamOf(chunks))) events.push(event);
    expect(events).toEqual([
      { event: 'status', data: '{"title":"Für Elise ♪"}', id: '' },
      { event: 'message', data: 'tail', id: '' },
    ]);
  });

  it('cancels the body when the reader stops early', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('data: tick\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    let seen = 0;
    for await (const event of readEventStream(body)) {
      expect(event.data).toBe('tick');
      seen += 1;
      if (seen === 3) break;
    }
    expect(seen).toBe(3);
    expect(cancelled).toBe(true);
  });
});
