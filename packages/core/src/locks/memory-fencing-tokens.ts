import type { FencingTokens } from './fencing-tokens.js';

/**
 * Tokens counted in this process only. Stores in a database accept only tokens that database
 * issued, so this suits in-memory stores and tests; with the SQLite stores, give the lock
 * manager `SqliteFencingTokens` instead.
 */
export class MemoryFencingTokens implements FencingTokens {
  readonly #tokens = new Map<string, number>();

  async issue(keys: readonly string[]): Promise<number> {
    const token = 1 + Math.max(0, ...keys.map((key) => this.#tokens.get(key) ?? 0));
    for (const key of keys) this.#tokens.set(key, token);
    return token;
  }

  async current(key: string): Promise<number | null> {
    return this.#tokens.get(key) ?? null;
  }
}
