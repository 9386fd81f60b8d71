import { ConfigError, UnavailableError } from '../errors.js';

export interface HashGateOptions {
  /**
   * Hashes that may run at once (default 2). scrypt runs on libuv's thread pool, four threads
   * unless `UV_THREADPOOL_SIZE` says otherwise, which also reads and writes every file: keep this
   * below the pool size so that file I/O always finds a free thread.
   */
  concurrency?: number;
  /** Callers that may wait for a turn (default 8); the next one is refused at once. */
  maxWaiting?: number;
  /**
   * Hashes one client (one `clientKey` given to `run`) may have running or waiting at once; its
   * next one is refused as a full gate refuses. Default: half of `concurrency + maxWaiting`,
   * rounded up, so that no one client can hold the whole gate. Callers that name no client are
   * not held to it (see `run`).
   */
  maxPerClient?: number;
  /** How long a refused caller is told to wait before trying again (default 1000 ms). */
  retryAfterMs?: number;
}

interface HashGateSettings {
  concurrency: number;
  maxWaiting: number;
  maxPerClient: number;
  retryAfterMs: number;
}

export const DEFAULT_HASH_GATE: Readonly<Omit<HashGateSettings, 'maxPerClient'>> = Object.freeze({ concurrency: 2, maxWaiting: 8, retryAfterMs: 1000 });

function checked(options: HashGateOptions): HashGateSettings {
  const { maxPerClient, ...rest } = options;
  const base = { ...DEFAULT_HASH_GATE, ...rest };
  const settings = { ...base, maxPerClient: maxPerClient ?? Math.ceil((base.concurrency + base.maxWaiting) / 2) };
  const problems = [
    !(Number.isSafeInteger(settings.concurrency) && settings.concurrency >= 1) && 'concurrency must be a whole number of 1 or more',
    !(Number.isSafeInteger(settings.maxWaiting) && settings.maxWaiting >= 0) && 'maxWaiting must be a whole number of 0 or more',
    !(Number.isSafeInteger(settings.maxPerClient) && settings.maxPerClient >= 1) && 'maxPerClient must be a whole number of 1 or more',
    !(Number.isFinite(settings.retryAfterMs) && settings.retryAfterMs > 0) && 'retryAfterMs must be a positive number',
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `HashGate: ${p}`));
  return settings;
}

/** The one client that every caller naming no client counts as. */
const SHARED: unique symbol = Symbol('shared');
type Bucket = string | typeof SHARED;

interface Client {
  /** Hashing plus waiting for a turn. */
  admitted: number;
  running: number;
  /** When this client last got a turn, in turns given since the gate was made; -1: never. */
  lastTurn: number;
}

/**
 * Bounds the password hashes in flight, so that a flood of logins can neither take every thread
 * of libuv's pool nor build a queue that answers minutes later, and shares them fairly between
 * clients, so that one client with valid credentials cannot keep everyone else out.
 *
 * It sheds on a full queue rather than on a wait deadline: a caller that finds `concurrency`
 * hashes running and `maxWaiting` callers already waiting, or whose client already has
 * `maxPerClient` hashes running or waiting, is refused at once with an `UnavailableError` (503
 * and `Retry-After` over HTTP). The longest wait is therefore bounded by the queue
 * (`maxWaiting / concurrency` hashes), and a refusal costs no wait at all.
 *
 * A freed turn goes to the waiting client with the fewest hashes running, and among those to
 * the one whose last turn is oldest: clients take turns, and a newcomer waits for the next free
 * turn rather than behind everything another client queued.
 */
export class HashGate {
  readonly #settings: HashGateSettings;
  /** Clients with a hash running or waiting. */
  readonly #clients = new Map<Bucket, Client>();
  /** Starters of the callers waiting for a turn, per client, in order of arrival. */
  readonly #queues = new Map<Bucket, Array<() => void>>();
  /** Callers admitted and not yet finished: those hashing plus those waiting for a turn. */
  #admitted = 0;
  #running = 0;
  #turnsGiven = 0;

  constructor(options: HashGateOptions = {}) {
    this.#settings = checked(options);
  }

  /** Hashes running now. */
  get running(): number {
    return this.#running;
  }

  /** Callers waiting for a turn now. */
  get waiting(): number {
    return this.#admitted - this.#running;
  }

  /**
   * @param clientKey who the work is for (the server passes the client's address, IPv6 per /56).
   *   Callers that give none all count as one client, which takes its turns with the others but
   *   is not held to `maxPerClient`: a host that names no clients keeps the whole gate, first
   *   come first served, and one that names them should name them on every call.
   * @throws UnavailableError, at once, when the queue or the client's share is full; `work` then never runs.
   */
  async run<T>(work: () => Promise<T>, clientKey?: string): Promise<T> {
    const bucket: Bucket = clientKey ?? SHARED;
    const client = this.#admit(bucket);
    try {
      await this.#turn(bucket, client);
      try {
        return await work();
      } finally {
        this.#running -= 1;
        client.running -= 1;
        this.#handOn();
      }
    } finally {
      this.#admitted -= 1;
      client.admitted -= 1;
      if (client.admitted === 0) this.#clients.delete(bucket);
    }
  }

  #admit(bucket: Bucket): Client {
    const { concurrency, maxWaiting, maxPerClient, retryAfterMs } = this.#settings;
    if (this.#admitted >= concurrency + maxWaiting) {
      throw new UnavailableError('Too many sign-ins are in progress; try again shortly', { retryAfterMs });
    }
    let client = this.#clients.get(bucket);
    if (client && bucket !== SHARED && client.admitted >= maxPerClient) {
      throw new UnavailableError('Too many sign-ins from this client are in progress; try again shortly', { retryAfterMs });
    }
    if (!client) {
      client = { admitted: 0, running: 0, lastTurn: -1 };
      this.#clients.set(bucket, client);
    }
    this.#admitted += 1;
    client.admitted += 1;
    return client;
  }

  /** Resolves once the caller holds a turn, counted as running. */
  #turn(bucket: Bucket, client: Client): Promise<void> {
    const start = () => {
      this.#running += 1;
      client.running += 1;
      client.lastTurn = this.#turnsGiven;
      this.#turnsGiven += 1;
    };
    if (this.#running < this.#settings.concurrency) {
      start();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const queue = this.#queues.get(bucket) ?? [];
      queue.push(() => {
        start();
        resolve();
      });
      this.#queues.set(bucket, queue);
    });
  }

  /** Gives a freed turn to the next caller, if any waits. */
  #handOn(): void {
    if (this.#running >= this.#settings.concurrency) return;
    let next: { bucket: Bucket; client: Client } | undefined;
    for (const bucket of this.#queues.keys()) {
      const client = this.#clients.get(bucket)!;
      if (!next || client.running < next.client.running || (client.running === next.client.running && client.lastTurn < next.client.lastTurn)) {
        next = { bucket, client };
      }
    }
    if (!next) return;
    const queue = this.#queues.get(next.bucket)!;
    const startNext = queue.shift()!;
    if (queue.length === 0) this.#queues.delete(next.bucket);
    startNext();
  }
}
