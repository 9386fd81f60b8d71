import { randomUUID } from 'node:crypto';
import { ConfigError, UnavailableError } from '../errors.js';
import type { RedisConnection, RedisScript } from '../redis/redis-connection.js';
import refillLua from './refill-2.lua';
import type { MirroredRevocationList, RevocationList } from './revocation-list.js';
import type { RevocationKind } from './revocation-mirror.js';
import revokeLua from './revoke-1.lua';

/** Entries per refill script: a long list goes in several, so no one command holds Redis long. */
const REFILL_CHUNK = 1000;
/** How long a refill's claim lasts: a process that dies mid-refill leaves it to another after this. */
const REFILL_CLAIM_MS = 30_000;
/** Revokes kept for sharing once Redis answers again; past this, a refill from the database does it. */
const MAX_UNSHARED = 10_000;
/** Entries per read of the denylist: each page well within the command timeout. */
const READ_PAGE = 1000;
/** How long a catch-up waits for the subscriber, which reconnects on its own backoff (up to 2 s apart). */
const SUBSCRIBE_WAIT_MS = 3000;
/** How long `start` waits for a connection still being made before it leaves Redis to the ready event. */
const START_WAIT_MS = 1000;
/** The denylist's member that says a refill completed since Redis last lost the key. */
const FILLED = '~filled';

export interface RedisRevocationListOptions {
  /**
   * How often to retry what Redis could not do when asked (share a revoke made while it was down,
   * refill it, catch up after a reconnection), and to check it still holds the denylist
   * (default 5 s): one ZSCORE when there is nothing to do.
   */
  syncIntervalMs?: number;
  /** Told of each Redis failure and each unreadable message; revokes and checks go on without Redis. */
  onError?: (error: unknown) => void;
}

/**
 * The `RevocationList` for instances sharing a Redis: the database stays the record, and Redis
 * tells every process of a revoke at once.
 *
 * - **Revoke**: the database list first (durable, and this process's copy has it at once), then
 *   one script that adds the entry to the shared denylist and publishes it on
 *   `<prefix>revocations`. Every process puts what it hears into its database list's copy, so
 *   a logout on one instance is refused on the others within milliseconds. When Redis fails,
 *   the revoke still succeeds: the other processes learn it from their database poll, and this
 *   one shares it once Redis answers again.
 * - **Check**: `isRevoked` is the database list's, synchronous, from this process's copy; it
 *   fails closed exactly as that list does (its freshness is that of the database poll, which
 *   keeps running whether Redis is up or not). Redis being down never makes a check throw.
 * - **The denylist** is one sorted set, `<prefix>revoked`: member `<kind>:<id>`, scored with its
 *   expiry (epoch ms). Expired members are dropped by each write and skipped by each read. One
 *   key rather than one per id: a reader gets the live list by score ranges, not by a SCAN of
 *   a keyspace shared with the rate limits, and a restart or an eviction loses the marker with
 *   the entries, never one without the other.
 * - **Who reads it**: each process, at start and after every reconnection, once its subscriber
 *   listens again, merges the live entries into its copy. Pub/sub is at most once, so this
 *   catches up on messages published while the subscriber was away, at once instead of at the
 *   next database poll. Checks never read it: they would cost a round trip each, and would
 *   have to fall back to the copy anyway when Redis is down. The poll remains the safety net
 *   for what this misses (a subscriber that drops while the command connection stays up).
 * - **Refill**: a completed refill leaves the member `~filled` (score +inf). When a sync (at
 *   every reconnection, and every `syncIntervalMs`) finds it missing (Redis restarted empty, or
 *   evicted the key), the live entries are read from the
 *   database and written back in chunks, under a claim so that one process does it while the
 *   others wait; a claim whose process died expires and is taken up by another.
 *
 * `start()` subscribes and syncs; `close()` stops listening and syncing. Neither starts nor closes
 * the database list, or the connection: their owner does.
 */
export class RedisRevocationList implements RevocationList {
  readonly #connection: RedisConnection;
  readonly #database: MirroredRevocationList;
  readonly #key: string;
  readonly #claimKey: string;
  readonly #channel: string;
  readonly #revoke: RedisScript;
  readonly #refill: RedisScript;
  readonly #syncIntervalMs: number;
  readonly #onError: (error: unknown) => void;
  /** Revokes Redis has not got yet, by member, with their expiry: shared at the next sync. */
  readonly #unshared = new Map<string, number>();
  /** More revokes went unshared than are kept: the next sync refills from the database instead. */
  #overflowed = false;
  /** The subscriber may have missed messages: the next sync reads the denylist. */
  #catchUp = true;
  #syncing: Promise<void> | undefined;
  #syncAgain = false;
  #state: 'new' | 'started' | 'closed' = 'new';
  #timer: NodeJS.Timeout | undefined;
  readonly #unsubscribe: (() => void)[] = [];

  constructor(connection: RedisConnection, database: MirroredRevocationList, options: RedisRevocationListOptions = {}) {
    const { syncIntervalMs = 5000 } = options;
    if (!(Number.isInteger(syncIntervalMs) && syncIntervalMs > 0)) {
      throw new ConfigError([`RedisRevocationList: syncIntervalMs must be a positive integer (got ${syncIntervalMs})`]);
    }
    this.#connection = connection;
    this.#database = database;
    this.#key = `${connection.prefix}revoked`;
    this.#claimKey = `${connection.prefix}revoked:refill`;
    this.#channel = `${connection.prefix}revocations`;
    this.#revoke = connection.script('revocationRevoke', revokeLua);
    this.#refill = connection.script('revocationRefill', refillLua);
    this.#syncIntervalMs = syncIntervalMs;
    this.#onError = options.onError ?? (() => undefined);
  }

  /**
   * Listens for revokes and catches up with the denylist (refilling it first if Redis lost it).
   * Resolves once that first sync has succeeded or failed, so that from then on, with Redis up,
   * this process hears every revoke; with Redis down it waits at most a second, and syncs again
   * once Redis is back. Safe to call twice.
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'started';
    this.#unsubscribe.push(
      this.#connection.subscribe(this.#channel, (message) => this.#hear(message)),
      this.#connection.onReady(() => {
        this.#catchUp = true;
        this.#sync();
      }),
    );
    this.#timer = setInterval(() => this.#sync(), this.#syncIntervalMs);
    this.#timer.unref();
    // A fresh connection is usually a moment from ready; catching up now closes the start's gap.
    await this.#connection.waitUntilReady(START_WAIT_MS).catch(() => undefined);
    this.#sync();
    await this.#syncing;
  }

  /** Stops listening and syncing; checks fail closed from now on. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await this.#syncing;
  }

  async revokeSession(sessionId: string, until: Date): Promise<void> {
    await this.#database.revokeSession(sessionId, until);
    await this.#share('session', sessionId, until.getTime());
  }

  async revokeToken(tokenId: string, until: Date): Promise<void> {
    await this.#database.revokeToken(tokenId, until);
    await this.#share('token', tokenId, until.getTime());
  }

  isRevoked(token: { sid: string; jti: string }): boolean {
    if (this.#state !== 'started') {
      throw new UnavailableError(`The revocation list is ${this.#state === 'new' ? 'not started yet' : 'closed'}`, { retryAfterMs: 1000 });
    }
    return this.#database.isRevoked(token);
  }

  /** Adds a revoke the database has recorded to the denylist and tells every process; a Redis failure only defers it. */
  async #share(kind: RevocationKind, id: string, expiresAt: number): Promise<void> {
    if (!(expiresAt > Date.now())) return;
    const member = `${kind}:${id}`;
    if (this.#state === 'started') {
      try {
        await this.#publish(member, expiresAt);
        return;
      } catch (error) {
        this.#onError(error);
      }
    }
    this.#keepUnshared(member, expiresAt);
  }

  #publish(member: string, expiresAt: number): Promise<unknown> {
    const separator = member.indexOf(':');
    const message = JSON.stringify({ kind: member.slice(0, separator), id: member.slice(separator + 1), until: expiresAt });
    return this.#revoke([this.#key], [Date.now(), member, expiresAt, this.#channel, message]);
  }

  #keepUnshared(member: string, expiresAt: number): void {
    const known = this.#unshared.get(member);
    if (known !== undefined) this.#unshared.set(member, Math.max(known, expiresAt));
    else if (this.#unshared.size < MAX_UNSHARED) this.#unshared.set(member, expiresAt);
    else this.#overflowed = true;
  }

  #hear(message: string): void {
    if (this.#state !== 'started') return;
    const entry = parseMessage(message);
    if (entry) this.#database.learn(entry.kind, entry.id, new Date(entry.until));
    else this.#onError(new Error(`Unreadable message on ${this.#channel}`));
  }

  /** Runs a sync, or another one right after the one running. Never throws: errors go to onError. */
  #sync(): void {
    if (this.#state !== 'started') return;
    if (this.#syncing) {
      this.#syncAgain = true;
      return;
    }
    this.#syncing = this.#syncOnce()
      .catch((error: unknown) => this.#onError(error))
      .finally(() => {
        this.#syncing = undefined;
        if (this.#syncAgain) {
          this.#syncAgain = false;
          this.#sync();
        }
      });
  }

  async #syncOnce(): Promise<void> {
    // Not connected: the ready event syncs, and asking now would only count against the breaker.
    if (!this.#connection.ready) return;
    await this.#shareUnshared();
    await this.#refillIfLost();
    if (this.#catchUp) {
      // Cleared first: a reconnection while reading asks for another read.
      this.#catchUp = false;
      try {
        // Subscribed first, then read: a revoke published in between is heard, not missed.
        await this.#connection.listening(SUBSCRIBE_WAIT_MS);
        await this.#readDenylist();
      } catch (error) {
        this.#catchUp = true;
        throw error;
      }
    }
  }

  async #shareUnshared(): Promise<void> {
    const pending = [...this.#unshared];
    if (pending.length === 0) return;
    const now = Date.now();
    // Issued at once: the connection sends them in one write.
    const outcomes = await Promise.allSettled(
      pending.map(async ([member, expiresAt]) => {
        if (expiresAt > now) await this.#publish(member, expiresAt);
        // A revoke of the same id made meanwhile with a later expiry stays to be shared.
        if (this.#unshared.get(member) === expiresAt) this.#unshared.delete(member);
      }),
    );
    const failed = outcomes.find((outcome) => outcome.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async #refillIfLost(): Promise<void> {
    if (this.#overflowed) {
      await this.#connection.run((redis) => redis.zrem(this.#key, FILLED));
      this.#overflowed = false;
    }
    const filled = await this.#connection.run((redis) => redis.zscore(this.#key, FILLED));
    if (filled !== null) return;
    const now = Date.now();
    const live = (await this.#database.liveEntries()).filter((entry) => entry.until.getTime() > now);
    const token = randomUUID();
    const chunks = Math.max(1, Math.ceil(live.length / REFILL_CHUNK));
    for (let chunk = 0; chunk < chunks; chunk += 1) {
      const pairs = live.slice(chunk * REFILL_CHUNK, (chunk + 1) * REFILL_CHUNK).flatMap((entry) => [`${entry.kind}:${entry.id}`, entry.until.getTime()]);
      const args = [Date.now(), token, chunk === 0 ? '1' : '0', chunk === chunks - 1 ? '1' : '0', REFILL_CLAIM_MS, ...pairs];
      // 0: another process has the refill, or Redis lost this one's claim; a later sync sees to it.
      if ((await this.#refill([this.#key, this.#claimKey], args)) !== 1) return;
    }
  }

  /**
   * Pages from the latest expiry down: a revoke meanwhile can only make a page repeat an entry,
   * and the trim of expired entries takes from the far end, so no live entry is skipped.
   */
  async #readDenylist(): Promise<void> {
    const now = Date.now();
    for (let offset = 0; ; offset += READ_PAGE) {
      const flat = await this.#connection.run((redis) =>
        redis.zrevrangebyscore(this.#key, '+inf', `(${now}`, 'WITHSCORES', 'LIMIT', offset, READ_PAGE),
      );
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const entry = parseMember(flat[i]!);
        if (entry) this.#database.learn(entry.kind, entry.id, new Date(Number(flat[i + 1])));
      }
      if (flat.length < 2 * READ_PAGE) return;
    }
  }
}

function parseMember(member: string): { kind: RevocationKind; id: string } | undefined {
  const separator = member.indexOf(':');
  const kind = member.slice(0, separator);
  return isKind(kind) ? { kind, id: member.slice(separator + 1) } : undefined;
}

/** A message another process published, or undefined when it is not one (a stranger on the channel). */
function parseMessage(message: string): { kind: RevocationKind; id: string; until: number } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { kind, id, until } = parsed as Record<string, unknown>;
  if (typeof kind !== 'string' || !isKind(kind) || typeof id !== 'string' || typeof until !== 'number' || !Number.isFinite(until)) return undefined;
  return { kind, id, until };
}

function isKind(kind: string): kind is RevocationKind {
  return kind === 'session' || kind === 'token';
}
