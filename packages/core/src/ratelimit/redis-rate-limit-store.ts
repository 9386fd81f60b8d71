import { RedisStore } from 'rate-limit-redis';
import type { RedisConnection, RedisScript } from '../redis/redis-connection.js';
import decrementHitsLua from './decrement-hits-1.lua';
import type { RateLimitCount, RateLimitStore, RateLimitStoreOptions, RateLimitStores } from './rate-limit-store.js';
import type { RateLimitPolicy } from './rate-limiter.js';

/** What rate-limit-redis may get back from a command. */
type RedisReply = boolean | number | string | Array<boolean | number | string>;

/**
 * rate-limit-redis's store (fixed windows: its increment script sets a key with PX on the first
 * hit and INCRs it after), with its traps taken out:
 *
 * - `init` never touches the network (see `RedisRateLimitStores`), so a store made while Redis
 *   is down is not stuck on a rejected SCRIPT LOAD, and starts counting once Redis answers.
 * - `decrement` runs `decrement-hits-1.lua`: never below 0, and the TTL kept.
 * - `get` says undefined for a key with no count, where the library would report NaN hits.
 *
 * One `increment` is one round trip (EVALSHA), two only after Redis lost its scripts.
 */
export class RedisRateLimitStore extends RedisStore implements RateLimitStore {
  readonly localKeys = false;
  readonly #decrementHits: RedisScript;

  constructor(options: { prefix: string; sendCommand: (...args: string[]) => Promise<RedisReply>; decrementHits: RedisScript }) {
    super({ prefix: options.prefix, sendCommand: options.sendCommand });
    this.#decrementHits = options.decrementHits;
  }

  /** Takes the window; the scripts' SHA1s are computed here, with no round trip. */
  override async init(options: RateLimitStoreOptions): Promise<void> {
    // The library reads only windowMs of express-rate-limit's options.
    await super.init(options as Parameters<RedisStore['init']>[0]);
  }

  override async get(key: string): Promise<RateLimitCount | undefined> {
    const count = await super.get(key);
    // The library's get script answers a missing key with a nil count, which it parses as NaN.
    return count && Number.isFinite(count.totalHits) ? count : undefined;
  }

  override async decrement(key: string): Promise<void> {
    await this.#decrementHits([this.prefixKey(key)]);
  }
}

/**
 * Rate limit counts in Redis, shared by every instance, one store per policy under
 * `<connection prefix>rl:<policy>:`. Every command goes through the connection, so it has the
 * command timeout and the circuit breaker, and fails with an UnavailableError while Redis is
 * down: put a `FallbackRateLimitStores` in front to keep answering then.
 *
 * rate-limit-redis asks for a `sendCommand`; the one given here answers SCRIPT LOAD itself,
 * making the script one of the connection's (its SHA1 computed locally), and runs an EVALSHA of
 * it as the connection runs its scripts: EVAL once when Redis answers NOSCRIPT (it restarted),
 * which caches it again. So the library never sees NOSCRIPT, never retries a command, and never
 * holds a rejected SCRIPT LOAD.
 */
export class RedisRateLimitStores implements RateLimitStores {
  readonly backend = 'redis';
  readonly #connection: RedisConnection;
  /** The scripts rate-limit-redis has "loaded", by SHA1. */
  readonly #scripts = new Map<string, RedisScript>();

  constructor(connection: RedisConnection) {
    this.#connection = connection;
  }

  storeFor(policy: RateLimitPolicy): RedisRateLimitStore {
    const store = new RedisRateLimitStore({
      prefix: `${this.#connection.prefix}rl:${policy.name}:`,
      sendCommand: (...args) => this.#send(args),
      decrementHits: this.#connection.script('rateLimitDecrementHits', decrementHitsLua),
    });
    // Local work only (see #send), so the store is ready to count as RateLimitStores promises;
    // express-rate-limit calling init again with the same window changes nothing.
    store.init({ windowMs: policy.windowMs }).catch(() => undefined);
    return store;
  }

  async #send([command = '', ...args]: string[]): Promise<RedisReply> {
    const name = command.toUpperCase();
    if (name === 'SCRIPT' && args[0]?.toUpperCase() === 'LOAD' && args[1] !== undefined) {
      const script = this.#connection.script(`rate-limit-redis:${args[1]}`, args[1]);
      this.#scripts.set(script.sha, script);
      return script.sha;
    }
    const script = name === 'EVALSHA' ? this.#scripts.get(args[0] ?? '') : undefined;
    if (script) {
      // EVALSHA sha numkeys key… arg…
      const keyCount = Number(args[1]);
      return (await script(args.slice(2, 2 + keyCount), args.slice(2 + keyCount))) as RedisReply;
    }
    return (await this.#connection.call(command, ...args)) as RedisReply;
  }
}
