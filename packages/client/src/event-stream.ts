/**
 * A parser for `text/event-stream` (the HTML Living Standard's "server-sent events"), fed with
 * text as it arrives. EventSource cannot send an Authorization header, so the client reads the
 * stream through fetch and parses it here.
 */

export interface ServerSentEvent {
  /** The `event` field; `message` when the event named none. */
  event: string;
  /** The `data` lines, joined with `\n`. */
  data: string;
  /** The last event id seen on the stream, `''` when none. */
  id: string;
}

export class EventStreamParser {
  /** The reconnection delay the server asked for with a `retry` field, if it did. */
  retryMs: number | undefined;

  private buffer = '';
  private started = false;
  // A chunk that ended in CR may be followed by the LF of the same CRLF in the next chunk.
  private skipLeadingLineFeed = false;
  private eventType = '';
  private dataLines: string[] = [];
  private lastEventId = '';

  /** Takes the next piece of text and returns the events it completed. */
  push(chunk: string): ServerSentEvent[] {
    let text = chunk;
    if (text === '') return [];
    if (this.skipLeadingLineFeed && text.startsWith('\n')) text = text.slice(1);
    this.skipLeadingLineFeed = false;
    if (!this.started) {
      this.started = true;
      if (text.startsWith('\uFEFF')) text = text.slice(1);
    }
    this.buffer += text;

    const events: ServerSentEvent[] = [];
    const lineEnd = /[\r\n]/g;
    let start = 0;
    for (let match = lineEnd.exec(this.buffer); match !== null; match = lineEnd.exec(this.buffer)) {
      const end = match.index;
      let next = end + 1;
      if (this.buffer[end] === '\r') {
        if (next === this.buffer.length) this.skipLeadingLineFeed = true;
        else if (this.buffer[next] === '\n') next += 1;
      }
      const event = this.processLine(this.buffer.slice(start, end));
      if (event) events.push(event);
      start = next;
      lineEnd.lastIndex = next;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /**
   * The stream ended. An event not closed by a blank line is dropped, as the standard says,
   * so a connection cut mid-event never yields half an event.
   */
  end(): void {
    this.buffer = '';
    this.eventType = '';
    this.dataLines = [];
  }

  private processLine(line: string): ServerSentEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.dataLines.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        // Unknown fields are ignored.
        break;
    }
    return undefined;
  }

  private dispatch(): ServerSentEvent | undefined {
    const event =
      this.dataLines.length === 0
        ? undefined
        : { event: this.eventType || 'message', data: this.dataLines.join('\n'), id: this.lastEventId };
    this.eventType = '';
    this.dataLines = [];
    return event;
  }
}

/**
 * Yields the events of a response body. Leaving the loop early cancels the body, which closes
 * the connection.
 */
export async function* readEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent, void, undefined> {
  const reader = body.getReader();
  // The parser strips the byte order mark itself, as the standard asks.
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  const parser = new EventStreamParser();
  let done = false;
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      yield* parser.push(decoder.decode(chunk.value, { stream: true }));
    }
    done = true;
    yield* parser.push(decoder.decode());
    parser.end();
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}
