import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { ConfigError, UnavailableError } from '../errors.js';
import { timed, type HealthCheck } from '../health/health-check.js';
import { CircuitBreaker, type CircuitBreakerOptions } from '../resilience/circuit-breaker.js';

export interface RedisConnectionOptions {
  /** `redis://[:password@]host:6379/0` or `rediss://…`. Never logged: it may hold a password. */
  url: string;
  /** What every key and channel of Mixtape's starts with (default `mixtape:`), so several deployments can share a Redis. */
  prefix?: string;
  /** A command not answered within this fails (default 250 ms): no request waits longer on Redis. */
  commandTimeoutMs?: number;
  /** A connection not made within this fails (default 1 s); reconnections back off up to 2 s apart. */
  connectTimeoutMs?: number;
  /**
   * The breaker in front of every command (see CircuitBreaker); named "Redis". It opens at the
   * first failure unless told otherwise: a request passes several limits and a lock one after
   * another, and each waiting out its own timeout would add up to a second on a paused Redis.
   */
  breaker?: Omit<CircuitBreakerOptions, 'name'>;
  /** Told of connection errors, which ioredis would otherwise print; neither the URL nor any command's arguments (AUTH's password) are in them. */
  onError?: (error: Error) => void;
}

/** Arguments of a command or script. */
export type RedisArgument = string | number | Buffer;

/** A Lua script bound to this connection: runs with its keys (prefixed by the caller) and arguments. */
export interface RedisScript {
  (keys: readonly string[], args?: readonly RedisArgument[]): Promise<unknown>;
  /** The script's SHA1, as EVALSHA names it. */
  readonly sha: string;
}

/**
 * One Redis for every Redis-backed port of a process: a command connection that fails fast, a
 * subscriber connection opened on first use, and one circuit breaker in front of both.
 *
 * - **Fail fast.** ioredis queues commands while disconnected by default; here the offline
 *   queue is off, a command has `commandTimeoutMs`, and a request retries once at most. While
 *   Redis is down every port gets an UnavailableError within the command timeout, and once the
 *   breaker opens, at once: each port's fallback takes over.
 * - **Heal.** ioredis reconnects on its own, backing off; the breaker lets a probe through
 *   after it has been open a while, and at once when a reconnection succeeds (its backoff may
 *   have grown to 30 s during a long outage), and closes on the first success.
 * - **Scripts** are `<name>-<keys>.lua` files: `script` sends EVALSHA, and EVAL once when
 *   Redis lost it (NOSCRIPT after a restart).
 */
export class RedisConnection {
  readonly prefix: string;
  readonly breaker: CircuitBreaker;
  readonly #client: Redis;
  /** The subscriber connection is made from the same URL and options. */
  readonly #url: string;
  readonly #options: RedisOptions;
  readonly #onError: (error: Error) => void;
  #subscriber: Redis | undefined;
  readonly #channels = new Map<string, Set<(message: string) => void>>();
  readonly #scripts = new Map<string, RedisScript>();
  readonly #readyListeners = new Set<() => void>();
  #closed = false;

  constructor(options: RedisConnectionOptions) {
    const { prefix = 'mixtape:', commandTimeoutMs = 250, connectTimeoutMs = 1000 } = options;
    const problems: string[] = [];
    if (!/^rediss?:\/\//.test(options.url)) problems.push('the Redis URL must start with redis:// or rediss://');
    if (!(commandTimeoutMs > 0)) problems.push('commandTimeoutMs must be positive');
    if (!(connectTimeoutMs > 0)) problems.push('connectTimeoutMs must be positive');
    if (problems.length > 0) throw new ConfigError(problems);
    this.prefix = prefix;
    this.breaker = new CircuitBreaker({ name: 'Redis', failureThreshold: 1, ...options.breaker });
    const onError = options.onError ?? (() => undefined);
    this.#onError = (error) => onError(withoutArguments(error) as Error);
    this.#options = {
      enableOfflineQueue: false,
      commandTimeout: commandTimeoutMs,
      connectTimeout: connectTimeoutMs,
      maxRetriesPerRequest: 1,
      // 50 ms, 100 ms, … up to 2 s between attempts, with jitter so instances do not reconnect in step.
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000) * (0.5 + Math.random() / 2),
      // Commands issued in one tick go out in one write: many requests at once cost one round trip.
      enableAutoPipelining: true,
      lazyConnect: false,
      // See quitOrDisconnect: the socket is destroyed at once, with no ref'd timer left behind.
      disconnectTimeout: 0,
    };
    this.#client = new Redis(options.url, this.#options);
    this.#client.on('error', (error: Error) => this.#onError(error));
    this.#client.on('ready', () => {
      this.breaker.probeNow();
      for (const listener of this.#readyListeners) listener();
    });
    this.#url = options.url;
  }

  /** Whether the command connection is up right now. */
  get ready(): boolean {
    return this.#client.status === 'ready';
  }

  /** Resolves once connected, or rejects with an UnavailableError after `timeoutMs`. */
  async waitUntilReady(timeoutMs = 2000): Promise<void> {
    if (this.ready) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#readyListeners.delete(onReady);
        reject(new UnavailableError(`Redis did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        this.#readyListeners.delete(onReady);
        resolve();
      };
      this.#readyListeners.add(onReady);
    });
  }

  /** Called each time the command connection is (re)established: a Redis that restarted may have lost every key. */
  onReady(listener: () => void): () => void {
    this.#readyListeners.add(listener);
    return () => this.#readyListeners.delete(listener);
  }

  /**
   * Runs `command` through the breaker. Any failure of Redis is an UnavailableError (the cause
   * kept), counted by the breaker: unreachable or slow, and every error reply too (OOM, MISCONF,
   * NOAUTH, NOPERM, READONLY…), since each port falls back on UnavailableError alone. Only
   * NOSCRIPT passes through, uncounted: its caller loads the script and tries again.
   */
  async run<T>(command: (redis: Redis) => Promise<T>): Promise<T> {
    if (this.#closed) throw new UnavailableError('The Redis connection is closed');
    try {
      return await this.breaker.run(() => command(this.#client), isConnectionFault);
    } catch (error) {
      if (error instanceof UnavailableError || !isConnectionFault(error)) throw error;
      throw new UnavailableError('Redis does not answer', { retryAfterMs: 1000, cause: withoutArguments(error) });
    }
  }

  /** A raw command, as rate-limit-redis sends them. */
  call(command: string, ...args: RedisArgument[]): Promise<unknown> {
    return this.run((redis) => redis.call(command, ...args));
  }

  /**
   * The script `name`, sent as EVALSHA of its SHA1 (computed here), and as EVAL once when Redis
   * answers NOSCRIPT (it restarted, or its scripts were flushed): one round trip normally, two
   * after a restart, within one `run`. The number of keys is given with each call, so one
   * script serves any number (a lock on several keys).
   *
   * Not ioredis's `defineCommand`: with auto-pipelining, a command defined after a pipeline was
   * created and called into it leaves a callback with no result, which throws out of the event
   * loop (ioredis #1931). EVALSHA and EVAL are built in, in every pipeline.
   */
  script(name: string, lua: string): RedisScript {
    const known = this.#scripts.get(name);
    if (known) return known;
    const sha = createHash('sha1').update(lua).digest('hex');
    const run = (keys: readonly string[], args: readonly RedisArgument[] = []) =>
      this.run(async (redis) => {
        try {
          return await redis.evalsha(sha, keys.length, ...keys, ...args);
        } catch (error) {
          if (!isNoScript(error)) throw error;
          return redis.eval(lua, keys.length, ...keys, ...args);
        }
      });
    const script: RedisScript = Object.assign(run, { sha });
    this.#scripts.set(name, script);
    return script;
  }

  /**
   * Calls `listener` with each message published on `channel` (prefixed by the caller), on a
   * connection of its own that resubscribes after a reconnection. Messages published while it
   * was down are lost: pub/sub is at most once, so every user keeps a slower safety net.
   */
  subscribe(channel: string, listener: (message: string) => void): () => void {
    const subscriber = this.#subscriberConnection();
    let listeners = this.#channels.get(channel);
    if (!listeners) {
      this.#channels.set(channel, (listeners = new Set()));
      subscriber.subscribe(channel).catch((error: Error) => this.#onError(error));
    }
    listeners.add(listener);
    return () => {
      const current = this.#channels.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.#channels.delete(channel);
      if (!this.#closed) subscriber.unsubscribe(channel).catch((error: Error) => this.#onError(error));
    };
  }

  /**
   * Resolves once Redis has answered the subscriber connection after every subscription made so
   * far, renewals after a reconnection included (a PING queued behind them), so that a reader
   * that must not miss a message can subscribe, await this, and only then read what it catches
   * up from. Rejects with an UnavailableError after `timeoutMs`.
   */
  async listening(timeoutMs = 1000): Promise<void> {
    if (this.#closed) throw new UnavailableError('The Redis connection is closed');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new UnavailableError(`The Redis subscriber did not answer within ${timeoutMs} ms`, { retryAfterMs: 1000 })), timeoutMs);
    });
    // A ping still queued when the wait ends rejects later, once the connection gives it up.
    const ping = this.#subscriberConnection().ping();
    ping.catch(() => undefined);
    try {
      await Promise.race([ping, timeout]);
    } catch (error) {
      throw error instanceof UnavailableError ? error : new UnavailableError('The Redis subscriber does not answer', { retryAfterMs: 1000, cause: withoutArguments(error) });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Publishes `message` on `channel`; resolves to how many subscribers (connections) got it. */
  async publish(channel: string, message: string): Promise<number> {
    return this.run((redis) => redis.publish(channel, message));
  }

  /** Redis answers a PING: not critical, since every Redis-backed port has a fallback (`/health` says warn). */
  healthCheck(): HealthCheck {
    return {
      name: 'redis:responseTime',
      critical: false,
      failure: 'Redis does not answer; limits, locks and events use their fallbacks',
      run: () => timed(() => this.run((redis) => redis.ping())),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#readyListeners.clear();
    this.#channels.clear();
    await Promise.all([this.#client, this.#subscriber].map((redis) => redis && quitOrDisconnect(redis)));
  }

  #subscriberConnection(): Redis {
    if (this.#subscriber) return this.#subscriber;
    // Subscriptions wait for the connection (the offline queue is on here) and are renewed by
    // ioredis after every reconnection; no command timeout, since it only listens.
    const subscriber = new Redis(this.#url, { ...this.#options, enableOfflineQueue: true, commandTimeout: undefined, maxRetriesPerRequest: null });
    subscriber.on('error', (error: Error) => this.#onError(error));
    subscriber.on('message', (channel: string, message: string) => {
      for (const listener of this.#channels.get(channel) ?? []) listener(message);
    });
    this.#subscriber = subscriber;
    return subscriber;
  }
}

/**
 * Every failure but NOSCRIPT, which rate-limit-redis answers by loading its script (through
 * `call`), and `script` by sending EVAL. No Lua
 * script of ours raises an error of its own (`error_reply`): were one added, it would pass here.
 */
function isConnectionFault(error: unknown): boolean {
  return !isNoScript(error);
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError' && /^NOSCRIPT\b/.test(error.message);
}

/** How long close waits for QUIT's answer (a paused Redis never gives it). */
const QUIT_WAIT_MS = 200;

/**
 * QUIT when connected, so replies in flight arrive, waiting `QUIT_WAIT_MS` at most; then drop
 * the socket and stop reconnecting. The connection is made with `disconnectTimeout: 0`: ioredis
 * would otherwise end the socket gracefully and keep a ref'd timer to destroy it 2 s later if
 * it did not close, which a dead or paused Redis never does, and a CLI command waited it out.
 */
async function quitOrDisconnect(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise((resolve) => (timer = setTimeout(resolve, QUIT_WAIT_MS)));
    await Promise.race([redis.quit().catch(() => undefined), waited]);
    clearTimeout(timer);
  }
  redis.disconnect(false);
  redis.stream?.destroy();
}

/**
 * ioredis puts the failed command's arguments on its errors: AUTH's are the user name and
 * password, a script's are keys holding client addresses. Errors leave this connection (to
 * `onError`, or as a cause) with the command's name only.
 */
function withoutArguments(error: unknown): unknown {
  const command = (error as { command?: { name?: string; args?: unknown } } | null)?.command;
  if (!(error instanceof Error) || !command?.args) return error;
  const copy = Object.assign(Object.create(Object.getPrototypeOf(error) as object) as Error, error, { command: { name: command.name } });
  copy.message = error.message;
  copy.stack = error.stack;
  return copy;
}
