import { UnavailableError } from '../errors.js';
import type { RevokedEntry } from './revocation-list.js';

/** What a revoked id names: a session (a token family, the `sid` claim) or one access token (`jti`). */
export type RevocationKind = 'session' | 'token';

export interface RevocationMirrorOptions {
  /** Checks fail closed once the last successful read began longer ago than this. */
  maxStalenessMs: number;
  /** The `retryAfterMs` of the UnavailableError a check throws while the copy cannot be trusted. */
  retryAfterMs: number;
}

/**
 * A process's copy of a shared revocation list, for the adapters that keep one and refresh it
 * from their store (SqliteRevocationList, MysqlRevocationList): the live entries, with when each expires, and
 * whether the copy is fresh enough to answer from. It does no I/O; its owner reads the store
 * and reports each read that succeeded (`refreshed`) or failed (`failed`).
 *
 * It fails closed: until the first successful read, after `close`, and once the last
 * successful read began longer ago than `maxStalenessMs`, `isRevoked` throws.
 */
export class RevocationMirror {
  readonly #maxStalenessMs: number;
  readonly #retryAfterMs: number;
  readonly #entries: Record<RevocationKind, Map<string, number>> = { session: new Map(), token: new Map() };
  /** When the last successful read began (epoch ms); null until one has. */
  #freshAt: number | null = null;
  #lastError: unknown;
  #closed = false;

  constructor(options: RevocationMirrorOptions) {
    this.#maxStalenessMs = options.maxStalenessMs;
    this.#retryAfterMs = options.retryAfterMs;
  }

  /** Whether a read has succeeded yet: until then the owner loads the whole list. */
  get loaded(): boolean {
    return this.#freshAt !== null;
  }

  /** Entries held, expired ones included until `forgetExpired`. */
  get size(): number {
    return this.#entries.session.size + this.#entries.token.size;
  }

  /** Adds an entry, or lengthens one: an entry never gets shorter here. Ignored once closed. */
  remember(kind: RevocationKind, id: string, expiresAt: number): void {
    if (this.#closed) return;
    const known = this.#entries[kind].get(id);
    if (known === undefined || known < expiresAt) this.#entries[kind].set(id, expiresAt);
  }

  /** A read that began at `startedAt` succeeded: the copy is fresh as of then. */
  refreshed(startedAt: number): void {
    if (this.#closed) return;
    this.#freshAt = Math.max(this.#freshAt ?? startedAt, startedAt);
    this.#lastError = undefined;
  }

  /** A read failed; the error becomes the cause of the checks refused from now on. */
  failed(error: unknown): void {
    this.#lastError = error;
  }

  /** @throws UnavailableError while the copy cannot be trusted. */
  isRevoked(token: { sid: string; jti: string }, now: number): boolean {
    this.#assertTrusted(now);
    return isLive(this.#entries.session.get(token.sid), now) || isLive(this.#entries.token.get(token.jti), now);
  }

  forgetExpired(now: number): void {
    for (const entries of Object.values(this.#entries)) {
      for (const [id, expiresAt] of entries) if (!isLive(expiresAt, now)) entries.delete(id);
    }
  }

  /** Forgets everything; checks fail closed from now on. */
  close(): void {
    this.#closed = true;
    this.#freshAt = null;
    this.#entries.session.clear();
    this.#entries.token.clear();
  }

  #assertTrusted(now: number): void {
    const retryAfterMs = this.#retryAfterMs;
    if (this.#closed) throw new UnavailableError('The revocation list is closed', { retryAfterMs });
    if (this.#freshAt === null) throw new UnavailableError('The revocation list is not loaded yet', { retryAfterMs, cause: this.#lastError });
    if (now - this.#freshAt > this.#maxStalenessMs) {
      throw new UnavailableError(`The revocation list has not been read for ${now - this.#freshAt} ms`, { retryAfterMs, cause: this.#lastError });
    }
  }
}

function isLive(expiresAt: number | undefined, now: number): boolean {
  return expiresAt !== undefined && expiresAt > now;
}

/** The timing options every polling revocation list takes, with the defaults applied. */
export interface RevocationPolling {
  pollIntervalMs: number;
  maxStalenessMs: number;
  purgeIntervalMs: number;
}

/** What is wrong with a polling list's timing options (none: an empty list), worded for a ConfigError. */
export function revocationPollingProblems({ pollIntervalMs, maxStalenessMs, purgeIntervalMs }: RevocationPolling): string[] {
  const problems: string[] = [];
  if (!(Number.isInteger(pollIntervalMs) && pollIntervalMs > 0)) problems.push(`pollIntervalMs must be a positive integer (got ${pollIntervalMs})`);
  if (!(maxStalenessMs > pollIntervalMs)) problems.push(`maxStalenessMs must be more than pollIntervalMs (got ${maxStalenessMs})`);
  if (!(Number.isInteger(purgeIntervalMs) && purgeIntervalMs >= 0)) problems.push(`purgeIntervalMs must be an integer, 0 or more (got ${purgeIntervalMs})`);
  return problems;
}

/** A row of `revoked_ids`, SQLite's or MySQL's, as the port hands it out. */
export function toRevokedEntry(row: { kind: RevocationKind; id: string; expires_at: number }): RevokedEntry {
  return { kind: row.kind, id: row.id, until: new Date(Number(row.expires_at)) };
}
