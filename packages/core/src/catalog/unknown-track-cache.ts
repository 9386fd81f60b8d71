/**
 * Ids the metadata provider said it does not know, remembered for `ttlMs` so that asking for
 * them again costs no call. Bounded: beyond `maxSize` ids the oldest is forgotten first. Every
 * entry lives equally long, so the oldest is also the first to expire.
 */
export class UnknownTrackCache {
  readonly #expiresAt = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #maxSize: number;
  readonly #now: () => number;

  constructor(options: { ttlMs: number; maxSize: number; now?: () => number }) {
    this.#ttlMs = options.ttlMs;
    this.#maxSize = options.maxSize;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#expiresAt.size;
  }

  has(id: string): boolean {
    const expiresAt = this.#expiresAt.get(id);
    if (expiresAt === undefined) return false;
    if (expiresAt > this.#now()) return true;
    this.#expiresAt.delete(id);
    return false;
  }

  add(id: string): void {
    if (this.#ttlMs === 0 || this.#maxSize === 0) return;
    // Deleted first, so that the id moves to the end of the insertion order.
    this.#expiresAt.delete(id);
    this.#expiresAt.set(id, this.#now() + this.#ttlMs);
    for (const oldest of this.#expiresAt.keys()) {
      if (this.#expiresAt.size <= this.#maxSize) break;
      this.#expiresAt.delete(oldest);
    }
  }
}
