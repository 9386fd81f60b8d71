import { ConfigError, UnavailableError } from '../errors.js';
import type { TrackMetadata } from '../model.js';
import { CircuitBreaker, type CircuitBreakerOptions } from '../resilience/circuit-breaker.js';
import { isTrackId } from '../spotify/track-ref.js';
import { DEFAULT_SPOTIFY_BUDGET, type CallBudget } from './call-budget.js';
import { LocalCallBudget } from './local-call-budget.js';
import type { TrackMetadataProvider } from './track-metadata-provider.js';

export interface SpotifyMetadataProviderOptions {
  clientId: string;
  clientSecret: string;
  /** Base URL of the Web API; default `https://api.spotify.com`. */
  apiUrl?: string;
  /** Base URL of the accounts service (token endpoint `/api/token`); default `https://accounts.spotify.com`. */
  accountsUrl?: string;
  /** Limit for each request, body included; default 5000. */
  timeoutMs?: number;
  /** A 429 whose Retry-After is at most this long is waited out and retried once; default 2000. */
  maxRetryWaitMs?: number;
  /**
   * Taken from before every call, the token endpoint's too; a 429 pauses it for its
   * Retry-After. Share one (RedisCallBudget) between instances so that they share Spotify's
   * limit. Default: this process's own, 20 calls a second, waiting at most `maxRetryWaitMs`.
   */
  budget?: CallBudget;
  /** The breaker in front of Spotify, named "Spotify" (see CircuitBreaker for the defaults). */
  breaker?: Omit<CircuitBreakerOptions, 'name'>;
  fetch?: typeof fetch;
  now?: () => number;
}

interface AccessToken {
  value: string;
  expiresAt: number;
}

interface Reply {
  status: number;
  headers: Headers;
  /** The parsed body of a 2xx reply; other bodies are discarded unread. */
  json?: unknown;
}

// Refresh this long before Spotify's stated expiry (at most a tenth of the token's life),
// so a token never expires between our check and Spotify's.
const TOKEN_REFRESH_MARGIN_MS = 60_000;
const DEFAULT_RETRY_AFTER_MS = 1_000;

/**
 * Track metadata from the Spotify Web API, authenticated with the client-credentials flow.
 *
 * Every call takes a token from the call budget first, and a 429 pauses the budget for its
 * Retry-After, so that every instance sharing the budget stays away, not only this one:
 * calling on through a ban is how a ban gets longer. Timeouts, unreachable hosts
 * and 5xx answers count against a circuit breaker: once open, look-ups fail at once, with no
 * call and no token spent, until a probe finds Spotify well again.
 */
export class SpotifyMetadataProvider implements TrackMetadataProvider {
  readonly name = 'spotify';
  readonly budget: CallBudget;
  readonly breaker: CircuitBreaker;

  readonly #basicAuth: string;
  readonly #apiUrl: string;
  readonly #tokenUrl: string;
  readonly #timeoutMs: number;
  readonly #maxRetryWaitMs: number;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;

  #token: AccessToken | undefined;
  #tokenRequest: Promise<AccessToken> | undefined;

  constructor(options: SpotifyMetadataProviderOptions) {
    const timeoutMs = options.timeoutMs ?? 5000;
    const maxRetryWaitMs = options.maxRetryWaitMs ?? 2000;
    const problems: string[] = [];
    if (!options.clientId) problems.push('Spotify client id is required');
    if (!options.clientSecret) problems.push('Spotify client secret is required');
    if (!(timeoutMs > 0)) problems.push('Spotify timeoutMs must be positive');
    if (!(maxRetryWaitMs >= 0)) problems.push('Spotify maxRetryWaitMs must not be negative');
    const apiUrl = baseUrl(options.apiUrl ?? 'https://api.spotify.com', 'apiUrl', problems);
    const accountsUrl = baseUrl(options.accountsUrl ?? 'https://accounts.spotify.com', 'accountsUrl', problems);
    if (problems.length > 0) throw new ConfigError(problems);

    this.#basicAuth = `Basic ${Buffer.from(`${options.clientId}:${options.clientSecret}`).toString('base64')}`;
    this.#apiUrl = apiUrl;
    this.#tokenUrl = `${accountsUrl}/api/token`;
    this.#timeoutMs = timeoutMs;
    this.#maxRetryWaitMs = maxRetryWaitMs;
    this.#fetch = options.fetch ?? fetch;
    this.#now = options.now ?? Date.now;
    this.budget =
      options.budget ?? new LocalCallBudget({ name: 'spotify', ...DEFAULT_SPOTIFY_BUDGET, maxWaitMs: maxRetryWaitMs, now: this.#now });
    this.breaker = new CircuitBreaker({ name: 'Spotify', now: this.#now, ...options.breaker });
  }

  async getTrack(id: string, signal?: AbortSignal): Promise<TrackMetadata | null> {
    // Spotify would answer 400; no id outside the pattern can name a track.
    if (!isTrackId(id)) return null;
    const url = `${this.#apiUrl}/v1/tracks/${encodeURIComponent(id)}`;
    let refreshedToken = false;
    let waitedOutRateLimit = false;
    for (;;) {
      const token = await abortable(this.#accessToken(), signal);
      const reply = await this.#call(
        url,
        { headers: { authorization: `Bearer ${token.value}`, accept: 'application/json' } },
        signal,
      );
      if (reply.json !== undefined) return toTrackMetadata(id, reply.json);
      if (reply.status === 404 || reply.status === 400) return null;
      if (reply.status === 401 && !refreshedToken) {
        refreshedToken = true;
        if (this.#token === token) this.#token = undefined;
        continue;
      }
      if (reply.status === 429) {
        const waitMs = await this.#pauseEveryone(reply.headers);
        // The retry's token waits out the pause.
        if (!waitedOutRateLimit && waitMs <= this.#maxRetryWaitMs) {
          waitedOutRateLimit = true;
          continue;
        }
        throw rateLimited(waitMs);
      }
      throw new UnavailableError(`Spotify answered HTTP ${reply.status}`);
    }
  }

  /** The cached token, or one shared request for a new one. Not tied to any caller's signal. */
  #accessToken(): Promise<AccessToken> {
    const cached = this.#token;
    if (cached && this.#now() < cached.expiresAt) return Promise.resolve(cached);
    this.#tokenRequest ??= this.#requestToken().finally(() => {
      this.#tokenRequest = undefined;
    });
    return this.#tokenRequest;
  }

  async #requestToken(): Promise<AccessToken> {
    const requestedAt = this.#now();
    const reply = await this.#call(this.#tokenUrl, {
      method: 'POST',
      headers: {
        authorization: this.#basicAuth,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: 'grant_type=client_credentials',
    });
    if (reply.status === 429) throw rateLimited(await this.#pauseEveryone(reply.headers));
    if (reply.status === 400 || reply.status === 401) {
      throw new UnavailableError(`Spotify refused the client credentials (HTTP ${reply.status})`);
    }
    if (reply.json === undefined) throw new UnavailableError(`Spotify's token endpoint answered HTTP ${reply.status}`);

    const body = reply.json;
    if (!isRecord(body) || typeof body.access_token !== 'string' || body.access_token === '') {
      throw new UnavailableError("Spotify's token endpoint sent no access token");
    }
    if (typeof body.token_type === 'string' && body.token_type.toLowerCase() !== 'bearer') {
      throw new UnavailableError("Spotify's token endpoint sent a token that is not a bearer token");
    }
    const lifetimeMs = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in * 1000 : 0;
    const marginMs = Math.min(TOKEN_REFRESH_MARGIN_MS, lifetimeMs / 10);
    const token = { value: body.access_token, expiresAt: requestedAt + lifetimeMs - marginMs };
    this.#token = token;
    return token;
  }

  /** Pauses the budget, and so every instance sharing it, for a 429's Retry-After; returns its length. */
  async #pauseEveryone(headers: Headers): Promise<number> {
    const waitMs = parseRetryAfter(headers.get('retry-after'), this.#now());
    await this.budget.pause(waitMs);
    return waitMs;
  }

  /**
   * One call to Spotify: refused at once while the breaker is open (before a token is spent),
   * then a token from the budget, then the request, whose faults (not the caller's abort) the
   * breaker counts. A 429 is no fault: Spotify answered, and the pause deals with it.
   */
  async #call(url: string, init: RequestInit, signal?: AbortSignal): Promise<Reply> {
    if (this.breaker.state === 'open') {
      throw new UnavailableError('Spotify is unavailable (circuit open)', { retryAfterMs: Math.max(1, this.breaker.retryAfterMs) });
    }
    await this.budget.take(signal);
    const isFault = (error: unknown) => error instanceof UnavailableError && !signal?.aborted;
    return this.breaker.run(() => this.#send(url, init, signal), isFault);
  }

  /**
   * One request under a timeout; a caller's abort is rethrown, every other failure (a 5xx
   * answer included) is UnavailableError.
   */
  async #send(url: string, init: RequestInit, signal?: AbortSignal): Promise<Reply> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let reply: Reply;
    try {
      const response = await this.#fetch(url, { ...init, signal: combined });
      if (response.ok) {
        reply = { status: response.status, headers: response.headers, json: await response.json() };
      } else {
        await response.body?.cancel().catch(() => undefined);
        reply = { status: response.status, headers: response.headers };
      }
    } catch (error) {
      signal?.throwIfAborted();
      if (timeout.aborted) {
        throw new UnavailableError(`Spotify did not answer within ${this.#timeoutMs} ms`, { cause: error });
      }
      // A JSON parse error quotes the body, which may hold a token: keep it out of the cause.
      if (error instanceof SyntaxError) throw new UnavailableError('Spotify sent a reply that is not JSON');
      throw new UnavailableError('Could not reach Spotify', { cause: error });
    }
    if (reply.status >= 500) {
      const who = url === this.#tokenUrl ? "Spotify's token endpoint" : 'Spotify';
      throw new UnavailableError(`${who} answered HTTP ${reply.status}`);
    }
    return reply;
  }
}

function toTrackMetadata(id: string, body: unknown): TrackMetadata {
  if (!isRecord(body) || typeof body.name !== 'string' || !Array.isArray(body.artists)) throw unexpectedTrack();
  const album = body.album;
  const durationMs = body.duration_ms;
  if (!isRecord(album) || typeof album.name !== 'string') throw unexpectedTrack();
  if (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs < 0) throw unexpectedTrack();
  const artists: string[] = [];
  for (const artist of body.artists as unknown[]) {
    if (!isRecord(artist) || typeof artist.name !== 'string') throw unexpectedTrack();
    artists.push(artist.name);
  }
  const externalIds = body.external_ids;
  const isrc = isRecord(externalIds) && typeof externalIds.isrc === 'string' ? externalIds.isrc : '';
  // Keyed by the id asked for: a relinked track must not move to another catalog row.
  const track: TrackMetadata = { id, title: body.name, artists, album: album.name, durationMs: Math.round(durationMs) };
  if (isrc !== '') track.isrc = isrc;
  return track;
}

function unexpectedTrack(): UnavailableError {
  return new UnavailableError('Spotify sent a track object of an unexpected shape');
}

function rateLimited(waitMs: number): UnavailableError {
  return new UnavailableError(`Spotify is rate-limiting requests; retry in ${Math.ceil(waitMs / 1000)} s`, {
    retryAfterMs: waitMs,
  });
}

/** Retry-After is delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
function parseRetryAfter(header: string | null, now: number): number {
  const value = header?.trim() ?? '';
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? DEFAULT_RETRY_AFTER_MS : Math.max(0, date - now);
}

function baseUrl(value: string, option: string, problems: string[]): string {
  if (!/^https?:\/\/[^/?#\s]+(\/[^?#\s]*)?$/.test(value)) {
    problems.push(`Spotify ${option} must be an http(s) URL without query string`);
  }
  return value.replace(/\/+$/, '');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Lets one caller stop waiting for a promise that others still share. */
function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
