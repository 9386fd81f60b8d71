import { ConfigError, UnavailableError } from '../errors.js';

/**
 * How many calls to a rate-limited API (Spotify's Web API) may be made, shared by everyone
 * holding the same budget: a token bucket of `limit` calls per `windowMs`, refilled
 * continuously, plus a pause the API itself can ask for (a 429's Retry-After).
 */
export interface CallBudget {
  readonly backend: string;
  /**
   * Takes one call's token, waiting first when the token (or the end of a pause) is at most
   * `maxWaitMs` away.
   * @throws UnavailableError with `retryAfterMs` when the wait would be longer; `signal.reason`
   * when aborted while waiting (the token is spent all the same).
   */
  take(signal?: AbortSignal): Promise<void>;
  /** No one sharing the budget calls for `ms` from now (a longer pause already set is kept). Never throws. */
  pause(ms: number): Promise<void>;
  /** How long the current pause still lasts; 0 when there is none. */
  pausedForMs(): Promise<number>;
}

export interface CallBudgetOptions {
  /** What the calls go to ("spotify"): in errors, and in the keys of a shared budget. */
  name: string;
  /** Calls allowed per window; also the largest burst. */
  limit: number;
  windowMs: number;
  /** The longest a `take` waits; a longer wait fails at once (default 2 s). */
  maxWaitMs?: number;
}

/** `MIXTAPE_SPOTIFY_BUDGET`'s default. */
export const DEFAULT_SPOTIFY_BUDGET = { limit: 20, windowMs: 1000 } as const;

/** Options checked once, at construction. */
export function checkedCallBudgetOptions(options: CallBudgetOptions): Required<CallBudgetOptions> {
  const { name, limit, windowMs, maxWaitMs = 2000 } = options;
  const problems: string[] = [];
  if (!/^[a-z0-9-]+$/.test(name)) problems.push('a call budget name must be lower-case letters, digits and dashes');
  if (!(Number.isInteger(limit) && limit >= 1)) problems.push(`${name} call budget: limit must be a whole number, 1 or more`);
  if (!(Number.isInteger(windowMs) && windowMs >= 1)) problems.push(`${name} call budget: windowMs must be a whole number of milliseconds, 1 or more`);
  if (!(Number.isInteger(maxWaitMs) && maxWaitMs >= 0)) problems.push(`${name} call budget: maxWaitMs must be a whole number of milliseconds, 0 or more`);
  if (problems.length > 0) throw new ConfigError(problems);
  return { name, limit, windowMs, maxWaitMs };
}

/** What a take that may not wait that long throws. */
export function budgetRefusal(name: string, waitMs: number, paused: boolean): UnavailableError {
  const why = paused ? 'it asked for a pause' : 'its call budget is spent';
  return new UnavailableError(`Not calling ${name}: ${why}; retry in ${Math.ceil(waitMs / 1000)} s`, { retryAfterMs: waitMs });
}

/** Waits `ms`; an abort rejects with the signal's own reason, as every caller of a budget expects. */
export function waitMs(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
