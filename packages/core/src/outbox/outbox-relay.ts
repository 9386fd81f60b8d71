import type { TrackCatalog } from '../catalog/track-catalog.js';
import { ConfigError, UnavailableError } from '../errors.js';
import { retryDelayMs } from '../jobs/backoff.js';
import type { CatalogTrack } from '../model.js';
import type { SearchIndex, TrackDocument } from '../search/search-index.js';
import type { ChangeVersion, PendingChange, SearchOutbox } from './search-outbox.js';

export interface OutboxRelaySettings {
  /** Changes read and written per pass. */
  batchSize: number;
  /** How often a pass runs unasked: for other processes' changes, and retries. */
  intervalMs: number;
  /** Delay before the first retry of a failed change, doubling (with jitter) up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /**
   * After a bulk write fails, changes are written one at a time, so that one the index refuses
   * does not hold back the rest, until this many in a row have failed: the index is then taken
   * to be down, and the relay pauses, backing off like a failed change.
   */
  isolationLimit: number;
  /**
   * The longest pause while the index says it is down (an UnavailableError: Elasticsearch
   * not answering). No change counts an attempt then, since none is at fault: the relay
   * pauses, doubling from `retryBaseMs` up to this, and catches up within it once the index is back.
   */
  outagePauseMaxMs: number;
}

export const DEFAULT_OUTBOX_RELAY_SETTINGS: OutboxRelaySettings = {
  batchSize: 500,
  intervalMs: 1000,
  retryBaseMs: 1000,
  retryMaxMs: 300_000,
  isolationLimit: 3,
  outagePauseMaxMs: 10_000,
};

export interface OutboxRelayDeps {
  outbox: SearchOutbox;
  catalog: Pick<TrackCatalog, 'getMany'>;
  index: Pick<SearchIndex, 'upsert' | 'remove'>;
  settings?: Partial<OutboxRelaySettings>;
  now?: () => Date;
  /** A change that failed to apply, or a pass that could not run; the relay carries on. */
  onError?: (error: unknown) => void;
}

/** What one or more passes did. */
export interface RelayReport {
  /** Changes written to the index (or removed from it) and settled in the outbox. */
  applied: number;
  /** Changes that failed, kept with their attempt counted and a retry time. */
  failed: number;
}

/** A pending change with the catalog row it is to be written as; null when the catalog lacks the track. */
interface Write {
  change: PendingChange;
  track: CatalogTrack | null;
}

/**
 * Applies the search outbox to the search index, in bulk. Each pending track is written as
 * the catalog holds it now, with its version, so writing it twice is harmless and an index
 * refuses an older write that arrives late. Each outbox row is then deleted only up to the
 * version written, so a change made meanwhile stays for the next pass. A change that fails
 * stays too, with its attempts counted, and is retried with backoff.
 *
 * Passes run when `kick`ed (after each catalog commit), every `intervalMs` once started (or
 * when a scheduler calls `relayDue` instead), and on `flush`. Passes of one relay never overlap; relays of several processes may, safely.
 */
export class OutboxRelay {
  readonly #deps: OutboxRelayDeps;
  readonly #settings: OutboxRelaySettings;
  readonly #now: () => Date;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** The chain of passes, so that they run one at a time. */
  #passes: Promise<unknown> = Promise.resolve();
  #kicked = false;
  #draining = false;
  #drained: Promise<void> = Promise.resolve();
  /** Passes in a row that applied nothing and failed something, or found the index down. */
  #failingPasses = 0;
  #pausedUntil = 0;

  constructor(deps: OutboxRelayDeps) {
    this.#deps = deps;
    this.#settings = checkedSettings({ ...DEFAULT_OUTBOX_RELAY_SETTINGS, ...deps.settings });
    this.#now = deps.now ?? (() => new Date());
  }

  /** Runs a pass at once, then every `intervalMs`. Safe to call twice; does nothing once closed. */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => this.kick(), this.#settings.intervalMs);
    this.#timer.unref();
    this.kick();
  }

  /**
   * Asks for a pass soon: changes were committed. Kicks while a pass runs make one more pass
   * after it, never one each. Ignored while the index looks down (the timer retries), and once closed.
   */
  kick(): void {
    if (this.#closed || this.#now().getTime() < this.#pausedUntil) return;
    this.#kicked = true;
    if (this.#draining) return;
    this.#draining = true;
    this.#drained = this.#drain();
  }

  /**
   * What the timer does, awaited: a kick, and the passes it runs. For the housekeeping
   * scheduler, which runs the periodic pass in one process at a time in place of `start()`'s
   * timer. Like a kick, it does nothing while the index looks down; errors go to `onError`.
   */
  async relayDue(): Promise<void> {
    this.kick();
    await this.#drained;
  }

  /**
   * Runs passes now, until nothing is due or a pass applies nothing, and says what they did.
   * For repairs, and for whoever must see the index caught up. Rejects if a pass cannot run.
   */
  async flush(): Promise<RelayReport> {
    const total: RelayReport = { applied: 0, failed: 0 };
    for (;;) {
      const { due, applied, failed } = await this.#exclusive(() => this.#pass());
      total.applied += applied;
      total.failed += failed;
      if (due < this.#settings.batchSize || applied === 0) return total;
    }
  }

  /**
   * Queues tracks to be written to the index again as the catalog holds them, or removed where
   * it lacks them, and kicks: how repairs reach the index.
   */
  async reindex(trackIds: string[]): Promise<void> {
    await this.#deps.outbox.enqueue(trackIds);
    this.kick();
  }

  /** Stops the timer and waits for a pass in progress. Safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#drained;
    await this.#passes.catch(() => undefined);
  }

  async #drain(): Promise<void> {
    try {
      while (this.#kicked && !this.#closed) {
        this.#kicked = false;
        try {
          const { due, applied } = await this.#exclusive(() => this.#pass());
          // A full batch may have more behind it.
          if (due === this.#settings.batchSize && applied > 0) this.#kicked = true;
        } catch (error) {
          this.#deps.onError?.(error);
        }
      }
    } finally {
      // In the same step as the last look at #kicked, so that no kick falls in between.
      this.#draining = false;
    }
  }

  #exclusive<T>(pass: () => Promise<T>): Promise<T> {
    const run = this.#passes.then(pass, pass);
    this.#passes = run.catch(() => undefined);
    return run;
  }

  async #pass(): Promise<RelayReport & { due: number }> {
    const { outbox, catalog } = this.#deps;
    const changes = await outbox.due(this.#now(), this.#settings.batchSize);
    if (changes.length === 0) return { due: 0, applied: 0, failed: 0 };
    const tracks = new Map((await catalog.getMany(changes.map((change) => change.trackId))).map((track) => [track.id, track]));
    const writes = changes.map((change): Write => ({ change, track: tracks.get(change.trackId) ?? null }));
    try {
      await this.#write(writes);
    } catch (error) {
      if (error instanceof UnavailableError) return { due: changes.length, ...this.#indexDown(error, { applied: 0, failed: 0 }) };
      try {
        return { due: changes.length, ...this.#noted(await this.#writeOneByOne(writes, error)) };
      } catch (down) {
        if (!(down instanceof IndexDown)) throw down;
        return { due: changes.length, ...this.#indexDown(down.cause, down.report) };
      }
    }
    await outbox.applied(writes.map(writtenVersion));
    return { due: changes.length, ...this.#noted({ applied: writes.length, failed: 0 }) };
  }

  /** After a bulk write failed: each change alone, until `isolationLimit` fail in a row. */
  async #writeOneByOne(writes: Write[], bulkError: unknown): Promise<RelayReport> {
    const { outbox } = this.#deps;
    if (writes.length === 1) {
      await this.#fail(writes[0]!, bulkError);
      return { applied: 0, failed: 1 };
    }
    const report: RelayReport = { applied: 0, failed: 0 };
    let failuresInARow = 0;
    for (const write of writes) {
      try {
        await this.#write([write]);
      } catch (error) {
        if (error instanceof UnavailableError) throw new IndexDown(error, report);
        await this.#fail(write, error);
        report.failed += 1;
        if (++failuresInARow >= this.#settings.isolationLimit) break;
        continue;
      }
      await outbox.applied([writtenVersion(write)]);
      report.applied += 1;
      failuresInARow = 0;
    }
    return report;
  }

  async #write(writes: Write[]): Promise<void> {
    const { index, catalog } = this.#deps;
    const documents = writes.flatMap(({ track }) => (track ? [toDocument(track)] : []));
    const gone = writes.flatMap(({ change, track }) => (track ? [] : [change.trackId]));
    if (documents.length > 0) await index.upsert(documents);
    if (gone.length === 0) return;
    await index.remove(gone);
    // A removal carries no version. If one of these tracks was added since the catalog was
    // read, another relay may have indexed it just before this removal: write it back.
    const arrived = await catalog.getMany(gone);
    if (arrived.length > 0) await index.upsert(arrived.map(toDocument));
  }

  async #fail({ change }: Write, error: unknown): Promise<void> {
    const { retryBaseMs, retryMaxMs } = this.#settings;
    const delay = retryDelayMs(change.attempts + 1, retryBaseMs, { maxMs: retryMaxMs });
    const message = error instanceof Error ? error.message : String(error);
    await this.#deps.outbox.failed(change, message, new Date(this.#now().getTime() + delay));
    this.#deps.onError?.(error);
  }

  /** Pauses kicks while passes fail and apply nothing, backing off; returns the report. */
  #noted(report: RelayReport): RelayReport {
    if (report.applied > 0 || report.failed === 0) {
      this.#failingPasses = 0;
      this.#pausedUntil = 0;
    } else {
      this.#pause(this.#settings.retryMaxMs);
    }
    return report;
  }

  /** The index said it is down: every change stays as it was, and the relay pauses briefly. */
  #indexDown(error: unknown, report: RelayReport): RelayReport {
    this.#deps.onError?.(error);
    this.#pause(this.#settings.outagePauseMaxMs);
    return report;
  }

  #pause(maxMs: number): void {
    this.#failingPasses += 1;
    this.#pausedUntil = this.#now().getTime() + retryDelayMs(this.#failingPasses, this.#settings.retryBaseMs, { maxMs });
  }
}

/** Thrown out of one-by-one writes when the index turns out to be down: what they did before. */
class IndexDown extends Error {
  constructor(
    override readonly cause: UnavailableError,
    readonly report: RelayReport,
  ) {
    super(cause.message);
  }
}

/** The version a write settles: the catalog's, or the change's own when the track is gone. */
function writtenVersion({ change, track }: Write): ChangeVersion {
  return { trackId: change.trackId, version: track ? track.version : change.version };
}

/** Field by field, so that nothing the catalog adds to its rows reaches the index unasked. */
function toDocument(track: CatalogTrack): TrackDocument {
  const { id, title, artists, album, durationMs, isrc, audio, version } = track;
  return { id, title, artists, album, durationMs, ...(isrc === undefined ? {} : { isrc }), available: audio !== undefined, version };
}

function checkedSettings(settings: OutboxRelaySettings): OutboxRelaySettings {
  const problems = Object.entries(settings)
    .filter(([, value]) => !(Number.isInteger(value) && value >= 1))
    .map(([name]) => `search outbox relay: ${name} must be a positive integer`);
  if (settings.retryMaxMs < settings.retryBaseMs) problems.push('search outbox relay: retryMaxMs must be at least retryBaseMs');
  if (problems.length > 0) throw new ConfigError(problems);
  return settings;
}
