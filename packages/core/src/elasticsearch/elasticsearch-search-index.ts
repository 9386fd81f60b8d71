import { errors, type Client } from '@elastic/elasticsearch';
import { UnavailableError } from '../errors.js';
import type { Page, PageRequest } from '../model.js';
import { CircuitBreaker } from '../resilience/circuit-breaker.js';
import { queryWords } from '../search/query-words.js';
import { SEARCH_TOTAL_LIMIT, type IndexedDocument, type SearchIndex, type TrackDocument } from '../search/search-index.js';
import { TRACK_INDEX_MAPPINGS, TRACK_INDEX_SETTINGS, trackQuery, trackSource, versionedIndexName } from './track-index-layout.js';

export interface ElasticsearchSearchIndexOptions {
  client: Client;
  /** The alias searches and writes go through (`MIXTAPE_ELASTICSEARCH_INDEX`). */
  alias: string;
  /** A search not answered in this time fails, and is served by the fallback (`MIXTAPE_ELASTICSEARCH_TIMEOUT_MS`). */
  searchTimeoutMs: number;
  /** A bulk write or a reconciliation page not answered in this time fails, to be retried (default 30 s). */
  writeTimeoutMs?: number;
  /** Makes each write visible to searches before it returns: for tests, not production (default false). */
  refreshOnWrite?: boolean;
  /**
   * Look, never touch (dry runs): the index is not created when missing, and is then read as
   * empty. Writes are not refused: the caller makes none (default false).
   */
  readOnly?: boolean;
  /**
   * Told when this process created the index, empty: at first use, or after someone deleted
   * it. Whoever holds the catalog queues every track again (see `openElasticsearchBackends`),
   * or searches would answer from an empty index as if it were whole.
   */
  onIndexCreated?: () => void;
  /** Guards every call; default: opens after 3 failures in a row, probing after 1 s, then up to 15 s. */
  breaker?: CircuitBreaker;
}

/** A bulk write that Elasticsearch took in part: the items it refused, by track id. */
export class BulkRejectionError extends Error {
  constructor(readonly rejected: Array<{ id: string; status: number; reason: string }>) {
    super(`Elasticsearch refused ${rejected.length} write(s): ${rejected.slice(0, 3).map((r) => `${r.id} (${r.status} ${r.reason})`).join(', ')}`);
    this.name = 'BulkRejectionError';
  }
}

const ONCE = { retries: 0 };

/**
 * Elasticsearch answered, refusing the request itself (wrong credentials, a mapping not ours
 * under the alias): waiting will not help, so the breaker does not count it. Its message is the
 * status and error type alone: the client's own error may quote the request.
 */
export class ElasticsearchRefusalError extends Error {
  constructor(readonly status: number, readonly type: string) {
    super(`Elasticsearch refused the request: ${status} ${type}`);
    this.name = 'ElasticsearchRefusalError';
  }
}

/** Options of one request to the client. */
interface CallOptions {
  requestTimeout: number;
  maxRetries: number;
  /**
   * No pause before a retry: the client's own waits 1 to 2 s, longer than a search's deadline,
   * so a hang would fail only after it and a dropped connection would never be sent again.
   */
  retryBackoff: () => number;
  signal: AbortSignal;
}

/**
 * The search index on Elasticsearch (8.x or 9.x), through an alias over a versioned index that
 * is created on first use. Writes are bulk requests with external versions (`external_gte`,
 * the catalog's version of each track): replaying one is harmless, and one older than the
 * indexed document is refused by Elasticsearch itself, whichever relay sent it. A delete
 * leaves a tombstone that refuses older writes for `index.gc_deletes` (60 s); a write arriving
 * later than that, or of the deleted version itself, can bring a deleted document back, which
 * the reconciler finds (its track is not in the catalog).
 *
 * Every call is bounded by a timeout and passes one circuit breaker, so when Elasticsearch
 * hangs or dies, searches fail within `searchTimeoutMs` and then at once, and the caller
 * (`TrackSearch`) serves them from the database; the breaker's probes find it back.
 */
export class ElasticsearchSearchIndex implements SearchIndex {
  readonly name = 'elasticsearch';
  readonly breaker: CircuitBreaker;
  readonly #client: Client;
  readonly #alias: string;
  readonly #searchTimeoutMs: number;
  readonly #writeTimeoutMs: number;
  readonly #refresh: boolean;
  readonly #readOnly: boolean;
  readonly #onIndexCreated: () => void;
  /** Creating the index and alias, once; cleared on failure so the next call tries again. */
  #prepared: Promise<void> | undefined;

  constructor(options: ElasticsearchSearchIndexOptions) {
    this.#client = options.client;
    this.#alias = options.alias;
    this.#searchTimeoutMs = options.searchTimeoutMs;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 30_000;
    this.#refresh = options.refreshOnWrite ?? false;
    this.#readOnly = options.readOnly ?? false;
    this.#onIndexCreated = options.onIndexCreated ?? (() => undefined);
    this.breaker = options.breaker ?? new CircuitBreaker({ name: 'Elasticsearch', failureThreshold: 3, openMs: 1000, maxOpenMs: 15_000 });
  }

  async upsert(documents: TrackDocument[]): Promise<void> {
    if (documents.length === 0) return;
    const operations = documents.flatMap((track) => [
      { index: { _index: this.#alias, _id: track.id, version: track.version, version_type: 'external_gte' as const } },
      trackSource(track),
    ]);
    await this.#bulk(operations);
  }

  /**
   * Deletes each document at the version it holds, read just before: its tombstone then refuses
   * older writes, as a newer document would, while the same version can be written again (a
   * lost document put back). A plain delete would raise the version past the catalog's, and
   * refuse that too. A document written in between keeps its newer version: its delete is refused.
   */
  async remove(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const held = await this.#call(this.#writeTimeoutMs, ONCE, (options) =>
      this.#client.mget({ index: this.#alias, ids, _source: false, realtime: true }, options),
    );
    const operations = held.docs.flatMap((doc) =>
      'found' in doc && doc.found ? [{ delete: { _index: this.#alias, _id: doc._id, version: doc._version!, version_type: 'external_gte' as const } }] : [],
    );
    if (operations.length > 0) await this.#bulk(operations);
  }

  async search(query: string, page: PageRequest): Promise<Page<string>> {
    const words = queryWords(query);
    if (words.length === 0) return { items: [], total: 0 };
    // Sent again once if the connection drops (a node restarted under a kept-alive socket), within the same deadline.
    const response = await this.#call(this.#searchTimeoutMs, { retries: 1 }, (options) =>
      this.#client.search(
        {
          index: this.#alias,
          query: trackQuery(query, words),
          sort: [{ _score: { order: 'desc' } }, { id: { order: 'asc' } }],
          from: page.offset,
          size: page.limit,
          track_total_hits: SEARCH_TOTAL_LIMIT,
          _source: false,
        },
        options,
      ),
    );
    const total = response.hits.total;
    return { items: response.hits.hits.map((hit) => hit._id!), total: typeof total === 'number' ? total : (total?.value ?? 0) };
  }

  /** Pages of one point in time, so that writes made meanwhile neither skip nor repeat a document. */
  async *documents(pageSize: number): AsyncIterable<IndexedDocument> {
    // Only a read-only index can be missing here (any other is created first): it holds nothing yet.
    const missing = this.#readOnly && !(await this.#call(this.#writeTimeoutMs, ONCE, (options) => this.#client.indices.existsAlias({ name: this.#alias }, options)));
    if (missing) return;
    const pit = await this.#call(this.#writeTimeoutMs, ONCE, (options) => this.#client.openPointInTime({ index: this.#alias, keep_alive: '1m' }, options));
    try {
      for (let after: string | undefined; ; ) {
        const response = await this.#call(this.#writeTimeoutMs, ONCE, (options) =>
          this.#client.search(
            {
              pit: { id: pit.id, keep_alive: '1m' },
              sort: [{ id: { order: 'asc' } }],
              size: pageSize,
              version: true,
              _source: false,
              track_total_hits: false,
              ...(after === undefined ? {} : { search_after: [after] }),
            },
            options,
          ),
        );
        const hits = response.hits.hits;
        for (const hit of hits) yield { id: hit._id!, version: hit._version! };
        if (hits.length < pageSize) return;
        after = hits.at(-1)!._id!;
      }
    } finally {
      await this.#client.closePointInTime({ id: pit.id }).catch(() => undefined);
    }
  }

  /** Makes every write so far visible to searches (tests and benchmarks). */
  async refresh(): Promise<void> {
    await this.#call(this.#writeTimeoutMs, ONCE, (options) => this.#client.indices.refresh({ index: this.#alias }, options));
  }

  /**
   * One bulk request. An item refused for its version is settled (the index holds a newer
   * document); any other refusal fails the write with the refused ids, which the relay then
   * retries one by one, so that one bad document does not hold back the rest. Writes go only to
   * the alias: were its index deleted, Elasticsearch would otherwise create an index named after
   * the alias, with guessed mappings, which would hold the alias's name for good. Refused for
   * that, the index is created again and the bulk sent once more (its versions make it harmless).
   */
  async #bulk(operations: object[], again = true): Promise<void> {
    const response = await this.#call(this.#writeTimeoutMs, ONCE, (options) =>
      this.#client.bulk({ operations, refresh: this.#refresh, require_alias: true }, options),
    );
    if (!response.errors) return;
    const rejected = response.items.flatMap((item) => {
      const result = Object.values(item)[0]!;
      if (!result.error || result.status === 409) return [];
      return [{ id: result._id ?? '?', status: result.status, reason: result.error.type }];
    });
    if (rejected.length === 0) return;
    if (again && rejected.some((r) => r.reason === 'index_not_found_exception')) {
      this.#prepared = undefined;
      return this.#bulk(operations, false);
    }
    // Refused for lack of room (429), a failing node or a closed or blocked index: no document is wrong.
    const overloaded = rejected.some((r) => r.status === 429 || r.status >= 500 || INDEX_REFUSALS.has(r.reason));
    const error = new BulkRejectionError(rejected);
    throw overloaded ? new UnavailableError(error.message, { cause: error }) : error;
  }

  /**
   * A call through the breaker, bounded by `timeoutMs` from before the index is prepared, all
   * retries included; writes are sent once, since the relay retries them with backoff. Its
   * failure is an UnavailableError when Elasticsearch is the cause, with no request details (a
   * URL may hold credentials).
   */
  async #call<T>(timeoutMs: number, { retries }: { retries: number }, call: (options: CallOptions) => Promise<T>): Promise<T> {
    const options: CallOptions = { requestTimeout: timeoutMs, maxRetries: retries, retryBackoff: () => 0, signal: AbortSignal.timeout(timeoutMs) };
    try {
      return await this.breaker.run(async () => {
        await this.#prepare(options);
        return await call(options);
      }, isOutage);
    } catch (error) {
      // Someone deleted the index: create it again on the next call.
      if (responseType(error) === 'index_not_found_exception') this.#prepared = undefined;
      // The breaker's own (circuit open) and the bulk's overload say what happened, with no request detail.
      if (error instanceof UnavailableError) throw error;
      if (isOutage(error)) throw new UnavailableError(`Elasticsearch: ${describe(error)}`, { retryAfterMs: Math.max(1000, this.breaker.retryAfterMs) });
      if (error instanceof errors.ResponseError) throw new ElasticsearchRefusalError(error.statusCode ?? 0, responseType(error) ?? 'error');
      throw error;
    }
  }

  #prepare(options: CallOptions): Promise<void> {
    this.#prepared ??= this.#createIndex(options).catch((error: unknown) => {
      this.#prepared = undefined;
      throw error;
    });
    return this.#prepared;
  }

  /**
   * The versioned index with the alias on it, unless the alias exists; racing processes both
   * succeed. An index left without its alias (removed by hand) gets it back. Read-only: nothing.
   */
  async #createIndex(options: CallOptions): Promise<void> {
    if (this.#readOnly || (await this.#client.indices.existsAlias({ name: this.#alias }, options))) return;
    const index = versionedIndexName(this.#alias);
    try {
      await this.#client.indices.create(
        { index, settings: TRACK_INDEX_SETTINGS, mappings: TRACK_INDEX_MAPPINGS, aliases: { [this.#alias]: { is_write_index: true } } },
        options,
      );
    } catch (error) {
      if (responseType(error) !== 'resource_already_exists_exception') throw error;
      await this.#client.indices.putAlias({ index, name: this.#alias, is_write_index: true }, options);
      return;
    }
    this.#onIndexCreated();
  }
}

/** The type of error Elasticsearch answered with (`index_not_found_exception`); undefined when it did not answer. */
function responseType(error: unknown): string | undefined {
  return error instanceof errors.ResponseError ? error.body?.error?.type : undefined;
}

/**
 * Refusals of the whole index, not of a document: closed, blocked for writes (a disk past its
 * flood stage, or an operator), or gone. Waited out like an outage, with no change at fault.
 */
const INDEX_REFUSALS = new Set(['index_closed_exception', 'cluster_block_exception', 'index_not_found_exception']);

/** Elasticsearch did not answer, or answered that it cannot now: counted by the breaker. */
function isOutage(error: unknown): boolean {
  if (error instanceof UnavailableError) return true;
  if (error instanceof errors.ResponseError) {
    const { statusCode = 0 } = error;
    return statusCode === 429 || statusCode === 408 || statusCode >= 500 || INDEX_REFUSALS.has(responseType(error) ?? '');
  }
  return error instanceof errors.ElasticsearchClientError || (error instanceof Error && error.name === 'TimeoutError');
}

function describe(error: unknown): string {
  if (error instanceof errors.ResponseError) return `${error.statusCode} ${responseType(error) ?? 'error'}`;
  // The client's own timeout, or the deadline's signal (a TimeoutError DOMException) aborting it.
  if (error instanceof errors.RequestAbortedError || (error instanceof Error && error.name === 'TimeoutError')) return 'no answer in time';
  return error instanceof Error ? error.name : 'failed';
}
