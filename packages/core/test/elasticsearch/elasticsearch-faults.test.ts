import { Client } from '@elastic/elasticsearch';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElasticsearchSearchIndex, versionedIndexName } from '../../src/elasticsearch.js';
import { UnavailableError } from '../../src/errors.js';
import type { TrackDocument } from '../../src/search/search-index.js';
import { rejection } from '../support/rejection.js';
import type { TcpProxy } from '../support/tcp-proxy.js';
import { proxiedElasticsearch, sharedElasticsearchUrl, uniqueIndexName } from './shared-elasticsearch.js';

/** Sent as basic auth, which the test node ignores: it must never show in an error. */
const USER = 'mixtape';
const PASSWORD = 's3cret';
const BASIC_AUTH = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

const SEARCH_TIMEOUT_MS = 500;
const WRITE_TIMEOUT_MS = 1000;

const page = { limit: 10, offset: 0 };
const track = (id: string, title: string): TrackDocument => ({ id, title, artists: ['Faultline'], album: 'Outages', durationMs: 1000, available: true, version: 3 });
const anthem = track('0FaultAnthem0000000000', 'Blackout Anthem');
const lullaby = track('0FaultLullaby000000000', 'Timeout Lullaby');

const REQUEST_LINE_END = ' HTTP/1.1\r\n';

/**
 * A TCP hop between the client and the test's proxy that counts the HTTP requests sent
 * through it, to show that an open breaker sends none, and can drop a connection under a
 * request, as a node restarting under a kept-alive socket would. A connection that fails on
 * one side is reset on the other, as it would be without the hop.
 */
class RequestCountingHop {
  requests = 0;
  #dropNext = false;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(private readonly targetPort: number) {}

  async start(): Promise<number> {
    const server = createServer((inbound) => this.#relay(inbound));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#server = server;
    return (server.address() as { port: number }).port;
  }

  /** Closes the connection that carries the next request, before it goes any further. */
  dropNextRequest(): void {
    this.#dropNext = true;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #relay(inbound: Socket): void {
    const outbound = connect(this.targetPort, '127.0.0.1');
    // A request line may be split between two chunks: keep what could be its start.
    let tail = '';
    inbound.on('data', (chunk: Buffer) => {
      const text = tail + chunk.toString('latin1');
      this.requests += text.split(REQUEST_LINE_END).length - 1;
      tail = text.slice(-(REQUEST_LINE_END.length - 1));
      if (!this.#dropNext) return void outbound.write(chunk);
      this.#dropNext = false;
      inbound.destroy();
    });
    outbound.on('data', (chunk: Buffer) => inbound.write(chunk));
    for (const [socket, other] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      this.#sockets.add(socket);
      socket.on('error', () => other.destroyed || other.resetAndDestroy());
      socket.on('close', () => {
        this.#sockets.delete(socket);
        other.destroy();
      });
    }
  }
}

/** Fails the test if anything a caller or a logger could show of `error` holds the URL's credentials. */
function expectNoCredentials(error: unknown): void {
  const shown = [String(error), error instanceof Error ? error.message : '', inspect(error, { depth: null })];
  for (const text of shown) {
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(BASIC_AUTH);
  }
}

/** The UnavailableError `promise` rejects with, checked to hold no credentials. */
async function unavailable(promise: Promise<unknown>): Promise<UnavailableError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(UnavailableError);
  expectNoCredentials(error);
  return error as UnavailableError;
}

/** Runs `call` and says how long it took to settle (ms). */
async function timed(call: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await call();
  return performance.now() - started;
}

describe('ElasticsearchSearchIndex when Elasticsearch fails', () => {
  let proxy: TcpProxy;
  let hop: RequestCountingHop;
  let client: Client;
  let direct: Client;
  let alias: string;
  let index: ElasticsearchSearchIndex;

  beforeEach(async () => {
    ({ proxy } = await proxiedElasticsearch());
    hop = new RequestCountingHop(proxy.port);
    const port = await hop.start();
    // As openElasticsearchBackends builds it: the credentials in the URL, no retries of its own.
    client = new Client({ node: `http://${USER}:${PASSWORD}@127.0.0.1:${port}`, maxRetries: 0 });
    direct = new Client({ node: sharedElasticsearchUrl() });
    alias = uniqueIndexName('faults');
    index = new ElasticsearchSearchIndex({ client, alias, searchTimeoutMs: SEARCH_TIMEOUT_MS, writeTimeoutMs: WRITE_TIMEOUT_MS, refreshOnWrite: true });
    // The index is created while Elasticsearch answers, so that each fault meets a ready one.
    await index.upsert([anthem]);
  });

  afterEach(async () => {
    await client.close();
    await hop.close();
    await proxy.close();
    await direct.indices.delete({ index: versionedIndexName(alias) }, { ignore: [404] });
    await direct.close();
  });

  /** Three searches that each wait out their deadline in a blackhole: the breaker's threshold. */
  const openTheBreaker = async () => {
    await proxy.cut('blackhole');
    for (let failures = 0; failures < 3; failures += 1) await unavailable(index.search('anthem', page));
    expect(index.breaker.state).toBe('open');
  };

  it('fails a search that meets a hang at its deadline, and opens the breaker on the third', async () => {
    await proxy.cut('blackhole');
    for (const stateAfter of ['closed', 'closed', 'open']) {
      let error: UnavailableError | undefined;
      const took = await timed(async () => (error = await unavailable(index.search('anthem', page))));
      expect(took).toBeLessThan(1500);
      expect(error?.message).toMatch(/no answer in time/);
      expect(index.breaker.state).toBe(stateAfter);
    }
  });

  it('fails searches at once while the breaker is open, sending none of them', async () => {
    await openTheBreaker();
    const sent = hop.requests;

    const took = await timed(() => unavailable(index.search('anthem', page)));
    expect(took).toBeLessThan(50);
    await unavailable(index.upsert([lullaby]));
    expect(hop.requests).toBe(sent);
  });

  it('lets one probe through once the open time is over, fails the calls made meanwhile fast, and closes when a probe is answered', async () => {
    await openTheBreaker();
    await sleep(index.breaker.retryAfterMs);
    expect(index.breaker.state).toBe('half-open');
    const sent = hop.requests;

    // Still hanging: the probe waits out its deadline while three other searches fail at once.
    const probe = unavailable(index.search('anthem', page));
    const meanwhile = await timed(() => Promise.all([1, 2, 3].map(() => unavailable(index.search('anthem', page)))));
    expect(meanwhile).toBeLessThan(50);
    await probe;
    expect(hop.requests).toBe(sent + 1);
    expect(index.breaker.state).toBe('open');

    await proxy.restore();
    await sleep(index.breaker.retryAfterMs);
    expect(await index.search('anthem', page)).toEqual({ items: [anthem.id], total: 1 });
    expect(index.breaker.state).toBe('closed');
    expect(hop.requests).toBe(sent + 2);
  });

  it('fails a search at once when connections are reset, without waiting out the deadline', async () => {
    await proxy.cut('reset');
    let error: UnavailableError | undefined;
    const took = await timed(async () => (error = await unavailable(index.search('anthem', page))));
    expect(took).toBeLessThan(SEARCH_TIMEOUT_MS);
    expect(error?.message).not.toMatch(/no answer in time/);

    await proxy.restore();
    expect(await index.search('anthem', page)).toEqual({ items: [anthem.id], total: 1 });
  });

  it('sends a search again, within its deadline, when the connection drops under it', async () => {
    const sent = hop.requests;
    hop.dropNextRequest();
    expect(await index.search('anthem', page)).toEqual({ items: [anthem.id], total: 1 });
    expect(hop.requests).toBe(sent + 2);
    expect(index.breaker.state).toBe('closed');
  });

  it('fails a write made during a cut, and takes the same write once restored', async () => {
    await proxy.cut('blackhole');
    await unavailable(index.upsert([lullaby]));
    await proxy.cut('reset');
    await unavailable(index.upsert([lullaby]));

    await proxy.restore();
    await index.upsert([lullaby]);
    expect(await index.search('lullaby', page)).toEqual({ items: [lullaby.id], total: 1 });
  });

  it('takes again, as one document, a write that Elasticsearch applied but whose answer came too late', async () => {
    // Each way takes 600 ms: the write lands, and its answer would arrive after the 1 s deadline.
    proxy.delay(600);
    await unavailable(index.upsert([lullaby]));
    const held = await direct.get({ index: alias, id: lullaby.id, realtime: true, _source: false });
    expect(held._version).toBe(lullaby.version);

    proxy.delay(0);
    await index.upsert([lullaby]);
    expect(await index.search('lullaby', page)).toEqual({ items: [lullaby.id], total: 1 });
    const documents = [];
    for await (const document of index.documents(10)) documents.push(document);
    expect(documents).toEqual([anthem, lullaby].map(({ id, version }) => ({ id, version })));
  });

  it('shows no credentials in an error Elasticsearch itself answers with', async () => {
    // A page past the index's result window is refused with a 400, which reaches the caller as it is.
    const error = await rejection(index.search('anthem', { limit: 10, offset: 20_000 }));
    expect(error).not.toBeInstanceOf(UnavailableError);
    expectNoCredentials(error);
    expect(index.breaker.state).toBe('closed');
  });
});
