import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, SourceError } from '../src/errors.js';
import { HttpTrackSource, type HttpTrackSourceOptions } from '../src/sources/http-track-source.js';

const BIG = randomBytes(5 * 1024 * 1024 + 123);
const CHUNK = 64 * 1024;

/** Writes `bytes` in chunks, honouring back-pressure. */
async function writeChunks(res: ServerResponse, bytes: Buffer): Promise<void> {
  for (let offset = 0; offset < bytes.length; offset += CHUNK) {
    if (res.destroyed) return;
    if (!res.write(bytes.subarray(offset, offset + CHUNK))) await once(res, 'drain');
  }
}

describe('HttpTrackSource', () => {
  let server: Server;
  let base: string;
  const requestedPaths: string[] = [];
  const closed = new Map<string, Promise<void>>();
  let releaseGate: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    releaseGate = resolve;
  });

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? '/';
      requestedPaths.push(path);
      closed.set(path, once(res, 'close').then(() => undefined));
      const id = decodeURIComponent(path.replace(/^\/audio\//, '').replace(/\?.*$/, ''));
      // `stall~abort` behaves as `stall`; the suffix tells the tests' requests apart.
      switch (id.split('~')[0]) {
        case 'big':
          res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': String(BIG.length) });
          void writeChunks(res, BIG).then(() => res.end());
          return;
        case 'gated':
          // The second half is only sent once the client has the first: a source that
          // buffered the whole body would never finish.
          res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': String(BIG.length) });
          void writeChunks(res, BIG.subarray(0, CHUNK * 4))
            .then(() => gate)
            .then(() => writeChunks(res, BIG.subarray(CHUNK * 4)))
            .then(() => res.end());
          return;
        case 'chunked':
          res.writeHead(200);
          res.write(BIG.subarray(0, 1000));
          setTimeout(() => res.end(BIG.subarray(1000, 3000)), 20);
          return;
        case 'stall':
          res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': String(1024 * 1024) });
          res.write(BIG.subarray(0, CHUNK));
          return; // never sends the rest
        case 'short':
          res.writeHead(200, { 'content-length': '1000' });
          res.write(BIG.subarray(0, 500));
          setTimeout(() => res.destroy(), 20);
          return;
        case 'no-headers':
          return; // never answers
        case 'missing':
          return void res.writeHead(404).end('not here');
        case 'gone':
          return void res.writeHead(410).end();
        case 'forbidden':
          return void res.writeHead(403).end();
        case 'busy':
          return void res.writeHead(503, { 'retry-after': '5' }).end('busy');
        case 'throttled':
          return void res.writeHead(429).end();
        default:
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(id)) });
          res.end(id);
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  /** Resolves once the server saw the request's connection end; fails after a bound. */
  async function hungUp(path: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${path} is still open`)), 2000);
    });
    try {
      await Promise.race([closed.get(path), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  function source(options: Partial<HttpTrackSourceOptions> = {}): HttpTrackSource {
    return new HttpTrackSource({ urlTemplate: `${base}/audio/{id}`, ...options });
  }

  async function collect(body: AsyncIterable<Uint8Array>): Promise<{ bytes: Buffer; chunks: number }> {
    const parts: Uint8Array[] = [];
    for await (const chunk of body) parts.push(chunk);
    return { bytes: Buffer.concat(parts), chunks: parts.length };
  }

  async function failure(run: () => Promise<unknown>): Promise<SourceError> {
    try {
      await run();
    } catch (error) {
      expect(error).toBeInstanceOf(SourceError);
      return error as SourceError;
    }
    throw new Error('expected a SourceError');
  }

  it('streams a multi-megabyte body byte for byte, with its declared size and type', async () => {
    const stream = await source().open('big', new AbortController().signal);
    expect(stream.sizeBytes).toBe(BIG.length);
    expect(stream.contentType).toBe('audio/mpeg');
    const { bytes, chunks } = await collect(stream.body);
    expect(bytes.length).toBe(BIG.length);
    expect(bytes.equals(BIG)).toBe(true);
    expect(chunks).toBeGreaterThan(1);
  });

  it('hands over chunks as they arrive instead of waiting for the whole body', async () => {
    const stream = await source().open('gated', new AbortController().signal);
    const parts: Uint8Array[] = [];
    for await (const chunk of stream.body) {
      parts.push(chunk);
      releaseGate();
    }
    expect(Buffer.concat(parts).equals(BIG)).toBe(true);
  });

  it('leaves the size unknown without Content-Length and defaults the content type', async () => {
    const stream = await source().open('chunked', new AbortController().signal);
    expect(stream.sizeBytes).toBeUndefined();
    expect(stream.contentType).toBe('application/octet-stream');
    expect((await collect(stream.body)).bytes.equals(BIG.subarray(0, 3000))).toBe(true);
  });

  it('puts the encoded id into the URL template', async () => {
    const stream = await source({ urlTemplate: `${base}/audio/{id}?format=original` }).open(
      'a b/c?d',
      new AbortController().signal,
    );
    expect(requestedPaths).toContain('/audio/a%20b%2Fc%3Fd?format=original');
    expect((await collect(stream.body)).bytes.toString()).toBe('a b/c?d');
  });

  it.each([
    ['missing', 'not-found', false],
    ['gone', 'not-found', false],
    ['forbidden', 'rejected', false],
    ['busy', 'unavailable', true],
    ['throttled', 'unavailable', true],
  ])('maps the answer for %s to reason %s, retryable %s', async (id, reason, retryable) => {
    const error = await failure(() => source().open(id, new AbortController().signal));
    expect(error.reason).toBe(reason);
    expect(error.retryable).toBe(retryable);
    expect(error.code).toBe('ERR_SOURCE');
  });

  it('times out, retryably, when the response headers do not come', async () => {
    const started = Date.now();
    const error = await failure(() => source({ connectTimeoutMs: 200 }).open('no-headers', new AbortController().signal));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error.reason).toBe('timeout');
    expect(error.retryable).toBe(true);
    await hungUp('/audio/no-headers');
  });

  it('fails the body with a retryable timeout when the origin stalls mid-body, and hangs up', async () => {
    const stream = await source({ idleTimeoutMs: 300 }).open('stall', new AbortController().signal);
    const started = Date.now();
    let received = 0;
    const error = await failure(async () => {
      for await (const chunk of stream.body) received += chunk.byteLength;
    });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(received).toBe(CHUNK);
    expect(error.reason).toBe('timeout');
    expect(error.retryable).toBe(true);
    await hungUp('/audio/stall'); // the connection was released
  });

  it('fails the body with a retryable error when the caller aborts mid-body', async () => {
    const controller = new AbortController();
    const stream = await source().open('stall~abort', controller.signal);
    const error = await failure(async () => {
      for await (const _chunk of stream.body) controller.abort();
    });
    expect(error.reason).toBe('aborted');
    expect(error.retryable).toBe(true);
    await hungUp('/audio/stall~abort');
  });

  it('fails with the caller’s typed reason when it gives one, mid-body or before the headers', async () => {
    const deadline = new SourceError('timeout', 'The fetch ran out of time', { retryable: true });
    const controller = new AbortController();
    const stream = await source().open('stall~deadline', controller.signal);
    const midBody = await failure(async () => {
      for await (const _chunk of stream.body) controller.abort(deadline);
    });
    expect(midBody).toBe(deadline);
    await hungUp('/audio/stall~deadline');

    const waiting = new AbortController();
    setTimeout(() => waiting.abort(deadline), 50);
    expect(await failure(() => source().open('no-headers~deadline', waiting.signal))).toBe(deadline);
  });

  it('refuses to start when the caller has already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await failure(() => source().open('big', controller.signal));
    expect(error.reason).toBe('aborted');
  });

  it('hangs up when the consumer stops reading early', async () => {
    const stream = await source().open('stall~early', new AbortController().signal);
    for await (const _chunk of stream.body) break;
    await hungUp('/audio/stall~early');
  });

  it('fails, retryably, when the origin hangs up before sending every declared byte', async () => {
    const stream = await source().open('short', new AbortController().signal);
    const error = await failure(() => collect(stream.body));
    expect(error.retryable).toBe(true);
  });

  it('fails, retryably, when the origin cannot be reached', async () => {
    const error = await failure(() =>
      source({ urlTemplate: 'http://127.0.0.1:1/audio/{id}' }).open('big', new AbortController().signal),
    );
    expect(error.reason).toBe('unavailable');
    expect(error.retryable).toBe(true);
  });

  it('checks its configuration', () => {
    expect(() => new HttpTrackSource({ urlTemplate: 'http://origin/audio' })).toThrow(ConfigError);
    expect(() => new HttpTrackSource({ urlTemplate: 'ftp://origin/{id}' })).toThrow(ConfigError);
    expect(() => new HttpTrackSource({ urlTemplate: 'http://origin/{id}', idleTimeoutMs: 0 })).toThrow(ConfigError);
  });
});
