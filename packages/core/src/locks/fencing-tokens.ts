/**
 * The fencing authority: a counter per lock key, raised by every acquisition, which guarded
 * writes compare against. It lives in the database the guarded rows live in, so a lock
 * backend that restarts (Redis) cannot make tokens go backwards.
 */
export interface FencingTokens {
  /**
   * Raises the counter of every key to one number, higher than each of them was, and returns
   * it: the token of one acquisition of all those keys.
   */
  issue(keys: readonly string[]): Promise<number>;
  /** The key's current token; null when the key was never locked. */
  current(key: string): Promise<number | null>;
}
