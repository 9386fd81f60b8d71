import { ConfigError, UnavailableError } from '../errors.js';

export interface CircuitBreakerOptions {
  /** What the breaker guards, for its errors ("Redis", "Spotify"). */
  name: string;
  /** Consecutive failures that open the circuit (default 3). */
  failureThreshold?: number;
  /** How long the circuit stays open after it first opens (default 1 s). */
  openMs?: number;
  /** Each probe that fails doubles the time open, up to this (default 30 s). */
  maxOpenMs?: number;
  now?: () => number;
}

export type CircuitState = 'closed' | 'open' | 'half-open';

/**
 * Stops calling a dependency that keeps failing, so callers get a fast UnavailableError instead
 * of each waiting out its own timeout. Closed, every call goes through; `failureThreshold`
 * failures in a row open it. Open, calls fail at once until the open time has passed; then one
 * call (the probe) goes through while the others still fail fast. A probe that succeeds closes
 * the circuit; one that fails opens it again for twice as long (backing off step by step to
 * `maxOpenMs`), so a dependency that stays down is asked less and less often.
 *
 * It counts outcomes only: the caller bounds each call with its own timeout and reports it.
 */
export class CircuitBreaker {
  readonly name: string;
  readonly #failureThreshold: number;
  readonly #openMs: number;
  readonly #maxOpenMs: number;
  readonly #now: () => number;
  #failures = 0;
  #openFor = 0;
  /** When the circuit may let a probe through (epoch ms); 0 while closed. */
  #openUntil = 0;
  #probing = false;
  #listeners = new Set<(state: CircuitState) => void>();

  constructor(options: CircuitBreakerOptions) {
    const { failureThreshold = 3, openMs = 1000, maxOpenMs = 30_000 } = options;
    const problems: string[] = [];
    if (!(Number.isInteger(failureThreshold) && failureThreshold >= 1)) problems.push(`${options.name} breaker: failureThreshold must be a whole number, 1 or more`);
    if (!(openMs > 0 && maxOpenMs >= openMs)) problems.push(`${options.name} breaker: openMs must be positive and at most maxOpenMs`);
    if (problems.length > 0) throw new ConfigError(problems);
    this.name = options.name;
    this.#failureThreshold = failureThreshold;
    this.#openMs = openMs;
    this.#maxOpenMs = maxOpenMs;
    this.#now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    if (this.#openUntil === 0) return 'closed';
    return this.#probing || this.#now() < this.#openUntil ? 'open' : 'half-open';
  }

  /** How long until a probe may go through; 0 while closed or half-open. */
  get retryAfterMs(): number {
    return this.#openUntil === 0 ? 0 : Math.max(0, this.#openUntil - this.#now());
  }

  /** Told of each change between closed and open (metrics, logs). */
  onChange(listener: (state: CircuitState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Runs `call` if the circuit lets it through, and counts its outcome. `isFailure` says which
   * errors are the dependency's fault (default: all); others pass through uncounted.
   * @throws UnavailableError at once while the circuit is open.
   */
  async run<T>(call: () => Promise<T>, isFailure: (error: unknown) => boolean = () => true): Promise<T> {
    const probe = this.#admit();
    try {
      const result = await call();
      this.#succeeded();
      return result;
    } catch (error) {
      if (isFailure(error)) this.#failed(probe);
      else if (probe) this.#probing = false;
      throw error;
    }
  }

  /** Opens the circuit now for `ms`, whatever it was: the dependency said when to come back (a 429). */
  openFor(ms: number): void {
    const wasClosed = this.#openUntil === 0;
    this.#openUntil = Math.max(this.#openUntil, this.#now() + ms);
    this.#probing = false;
    if (wasClosed) this.#emit('open');
  }

  /**
   * Lets the next call through as a probe now, however long the circuit had left to stay open:
   * the caller learned the dependency may be back (Redis reconnected). The backoff is kept, so a
   * probe that fails opens it for twice as long as before. Nothing changes while closed, or
   * while a probe is already out.
   */
  probeNow(): void {
    if (this.#openUntil === 0 || this.#probing) return;
    this.#openUntil = Math.min(this.#openUntil, this.#now());
  }

  /** True when this call is the probe of a half-open circuit. */
  #admit(): boolean {
    const state = this.state;
    if (state === 'open') {
      throw new UnavailableError(`${this.name} is unavailable (circuit open)`, { retryAfterMs: Math.max(1, this.retryAfterMs) });
    }
    if (state === 'half-open') {
      this.#probing = true;
      return true;
    }
    return false;
  }

  #succeeded(): void {
    this.#failures = 0;
    this.#probing = false;
    if (this.#openUntil !== 0) {
      this.#openUntil = 0;
      this.#openFor = 0;
      this.#emit('closed');
    }
  }

  #failed(probe: boolean): void {
    this.#failures += 1;
    const wasOpen = this.#openUntil !== 0;
    // A call let through before the circuit opened, failing after: it is open already.
    if (wasOpen && !probe) return;
    if (!wasOpen && this.#failures < this.#failureThreshold) return;
    // The first opening waits openMs; each failed probe after it waits twice as long as the last.
    this.#openFor = wasOpen ? Math.min(this.#openFor * 2 || this.#openMs, this.#maxOpenMs) : this.#openMs;
    this.#openUntil = this.#now() + this.#openFor;
    this.#probing = false;
    if (!wasOpen) this.#emit('open');
  }

  #emit(state: CircuitState): void {
    for (const listener of this.#listeners) listener(state);
  }
}
