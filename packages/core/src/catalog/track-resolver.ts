import { createHash } from 'node:crypto';
import { ConfigError, MixtapeError, NotFoundError, UnavailableError } from '../errors.js';
import type { LockManager } from '../locks/lock-manager.js';
import type { TrackMetadataProvider } from '../metadata/track-metadata-provider.js';
import type { CatalogTrack } from '../model.js';
import type { TrackCatalog } from './track-catalog.js';
import { UnknownTrackCache } from './unknown-track-cache.js';

export interface TrackLookupSettings {
  /** How long an id the provider does not know is answered "not found" without asking again; 0 never. */
  notFoundTtlMs: number;
  /** At most this many such ids are remembered, per process. */
  notFoundCacheSize: number;
}

export const DEFAULT_TRACK_LOOKUP_SETTINGS: TrackLookupSettings = { notFoundTtlMs: 600_000, notFoundCacheSize: 10_000 };

// The look-up lock is renewed while the provider is asked, so its TTL only bounds how long a
// crashed holder blocks the others. A caller waits a few seconds for it, then asks the
// provider itself: the lock saves calls, it is not what keeps the catalog right.
const LOOKUP_LOCK_TTL_MS = 10_000;
const LOOKUP_LOCK_WAIT_MS = 5_000;
/**
 * Look-up locks are striped: each acquisition leaves a fencing-token row in the database, and
 * one row per id ever asked (unknown ones included, so anyone could add rows) would grow without
 * end. Two ids on one stripe take turns, which costs little: a look-up is one provider call.
 */
const LOOKUP_LOCK_STRIPES = 1024;

/** What a caller of `TrackResolver.resolve` hears about how its answer was found. */
export interface ResolveObserver {
  onLookUp(): void;
}

/** A provider look-up shared by every resolve of its id that arrives while it runs. */
interface SharedLookup {
  result: Promise<CatalogTrack>;
  waiters: number;
  /** Called when every caller waiting has given up: aborts the look-up, so no one new joins it. */
  abandon(reason: unknown): void;
}

/**
 * Finds a track in the catalog, or asks the metadata provider and remembers the answer: a
 * track in the catalog (whose outbox row then brings it to the search index), an unknown id
 * for a while in this process. Concurrent resolves of one id share one provider call: within
 * this process always, and across every instance when `locks` are shared ones (the lock
 * `track-lookup:<stripe>`, inside which the catalog is read again before the provider is asked).
 */
export class TrackResolver {
  readonly #catalog: TrackCatalog;
  readonly #provider: TrackMetadataProvider;
  readonly #locks: LockManager | undefined;
  readonly #unknown: UnknownTrackCache;
  readonly #inFlight = new Map<string, SharedLookup>();

  constructor(deps: {
    catalog: TrackCatalog;
    provider: TrackMetadataProvider;
    /** Shared locks make instances share a look-up too; without them, each process asks on its own. */
    locks?: LockManager;
    settings?: Partial<TrackLookupSettings>;
    now?: () => number;
  }) {
    const settings = checkedSettings({ ...DEFAULT_TRACK_LOOKUP_SETTINGS, ...deps.settings });
    this.#catalog = deps.catalog;
    this.#provider = deps.provider;
    this.#locks = deps.locks;
    this.#unknown = new UnknownTrackCache({
      ttlMs: settings.notFoundTtlMs,
      maxSize: settings.notFoundCacheSize,
      ...(deps.now ? { now: deps.now } : {}),
    });
  }

  /**
   * @param observer `onLookUp` is called when this resolve asks the provider itself: not when
   *   it joins a look-up already under way, nor when another instance stored the track while
   *   this one waited for the look-up lock. So a host can hold each caller to a share of the
   *   provider's calls.
   * @throws NotFoundError when no one knows the track; UnavailableError when the provider is
   * down; `signal.reason` when aborted (the shared look-up goes on for other callers).
   */
  async resolve(id: string, signal?: AbortSignal, observer?: ResolveObserver): Promise<CatalogTrack> {
    signal?.throwIfAborted();
    const known = await this.#catalog.get(id);
    if (known) return known;
    if (this.#unknown.has(id)) throw unknownTrack(id);
    return this.#join(id, signal, observer);
  }

  /** Joins the look-up of `id` in flight, or starts one; only the one who starts it may be told it asked. */
  #join(id: string, signal: AbortSignal | undefined, observer: ResolveObserver | undefined): Promise<CatalogTrack> {
    const lookup = this.#inFlight.get(id) ?? this.#startLookUp(id, observer);
    lookup.waiters += 1;
    return signal ? waitOrGiveUp(lookup, signal) : lookup.result;
  }

  #startLookUp(id: string, observer: ResolveObserver | undefined): SharedLookup {
    const controller = new AbortController();
    const forget = () => {
      if (this.#inFlight.get(id) === lookup) this.#inFlight.delete(id);
    };
    const result = this.#lookUp(id, controller.signal, observer).finally(forget);
    // Every caller may have given up: then no one sees the outcome, and it is no unhandled rejection.
    result.catch(() => undefined);
    const lookup: SharedLookup = {
      result,
      waiters: 0,
      abandon(reason) {
        forget();
        controller.abort(reason);
      },
    };
    this.#inFlight.set(id, lookup);
    return lookup;
  }

  async #lookUp(id: string, signal: AbortSignal, observer: ResolveObserver | undefined): Promise<CatalogTrack> {
    // Another resolve may have stored it between this caller's miss and this look-up.
    const stored = await this.#catalog.get(id);
    if (stored) return stored;
    const locks = this.#locks;
    if (!locks) return this.#ask(id, signal, observer);
    let locked = false;
    try {
      return await locks.using(
        [lookupLockKey(id)],
        async () => {
          locked = true;
          // The holder before us (another instance, maybe) may have stored it.
          return (await this.#catalog.get(id)) ?? (await this.#ask(id, signal, observer));
        },
        { ttlMs: LOOKUP_LOCK_TTL_MS, waitTimeoutMs: LOOKUP_LOCK_WAIT_MS, signal },
      );
    } catch (error) {
      // No lock within the wait (a slow holder, a lock backend down): ask without it.
      if (locked || !(error instanceof UnavailableError)) throw error;
      return (await this.#catalog.get(id)) ?? (await this.#ask(id, signal, observer));
    }
  }

  async #ask(id: string, signal: AbortSignal, observer: ResolveObserver | undefined): Promise<CatalogTrack> {
    observer?.onLookUp();
    const metadata = await this.#provider.getTrack(id, signal);
    if (!metadata) {
      this.#unknown.add(id);
      throw unknownTrack(id);
    }
    await this.#catalog.upsert([metadata]);
    const track = await this.#catalog.get(id);
    if (!track) throw new MixtapeError('ERR_INTERNAL', `The track ${id} was stored but cannot be read back`);
    return track;
  }
}

/** The shared result, or this caller's own abort; the last caller to give up aborts the look-up. */
function waitOrGiveUp(lookup: SharedLookup, signal: AbortSignal): Promise<CatalogTrack> {
  return new Promise((resolve, reject) => {
    const giveUp = () => {
      lookup.waiters -= 1;
      if (lookup.waiters === 0) lookup.abandon(signal.reason);
      reject(signal.reason);
    };
    if (signal.aborted) return giveUp();
    signal.addEventListener('abort', giveUp, { once: true });
    lookup.result.then(resolve, reject).finally(() => signal.removeEventListener('abort', giveUp));
  });
}

/** The lock of `id`'s stripe. */
export function lookupLockKey(id: string): string {
  return `track-lookup:${createHash('sha1').update(id).digest().readUInt32BE(0) % LOOKUP_LOCK_STRIPES}`;
}

function unknownTrack(id: string): NotFoundError {
  return new NotFoundError(`No track has the id ${id}`);
}

function checkedSettings(settings: TrackLookupSettings): TrackLookupSettings {
  const problems = Object.entries(settings)
    .filter(([, value]) => !(Number.isInteger(value) && value >= 0))
    .map(([name]) => `track look-ups: ${name} must be a whole number, 0 or more`);
  if (problems.length > 0) throw new ConfigError(problems);
  return settings;
}
