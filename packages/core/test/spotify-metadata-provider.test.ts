import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnavailableError } from '../src/errors.js';
import {
  SpotifyMetadataProvider,
  type SpotifyMetadataProviderOptions,
} from '../src/metadata/spotify-metadata-provider.js';

const CLIENT_ID = 'test-client-id';
const CLIENT_SECRET = 'sup3r-s3cret-value-that-must-not-leak';
const TRACK_ID = '11dFghVXANMlKmJXsNCbNl';
const OTHER_ID = '3n3Ppam7vgaVa1iaRUc9Lp';
const UNKNOWN_ID = '0000000000000000000000';

/** Spotify's documented track object, trimmed to what we read plus a few fields we ignore. */
function spotifyTrack(id: string, name: string) {
  return {
    id,
    name,
    type: 'track',
    uri: `spotify:track:${id}`,
    duration_ms: 207959,
    explicit: false,
    popularity: 42,
    artists: [
      { id: 'a1', name: 'Cut Copy', type: 'artist' },
      { id: 'a2', name: 'Guest Star', type: 'artist' },
    ],
    album: { id: 'al1', name: 'In Ghost Colours', album_type: 'album', release_date: '2008-03-15' },
    external_ids: { isrc: 'AUUM70800060' },
  };
}

type Responder = (req: IncomingMessage, res: ServerResponse) => void;

/** A real HTTP server speaking Spotify's token and tracks endpoints. */
class FakeSpotify {
  readonly server: Server = createServer((req, res) => this.#handle(req, res));
  tokenRequests = 0;
  trackRequests = 0;
  expiresIn = 3600;
  tokenDelayMs = 0;
  /** Responses to use, in order, for the next track requests before the normal behaviour. */
  readonly trackScript: Responder[] = [];
  tokenResponder: Responder | undefined;
  readonly #validTokens = new Set<string>();
  readonly #tracks = new Map([
    [TRACK_ID, spotifyTrack(TRACK_ID, 'Hearts on Fire')],
    [OTHER_ID, spotifyTrack(OTHER_ID, 'Lights and Music')],
  ]);
  readonly #held = new Set<ServerResponse>();

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
  }

  async close(): Promise<void> {
    for (const res of this.#held) res.destroy();
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  revokeTokens(): void {
    this.#validTokens.clear();
  }

  /** Never answers: for timeouts. */
  hold: Responder = (_req, res) => {
    this.#held.add(res);
  };

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && url.pathname === '/api/token') {
      this.tokenRequests++;
      void this.#token(req, res);
      return;
    }
    const match = /^\/v1\/tracks\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && match) {
      this.trackRequests++;
      const scripted = this.trackScript.shift();
      if (scripted) return scripted(req, res);
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token || !this.#validTokens.has(token)) {
        return json(res, 401, { error: { status: 401, message: 'The access token expired' } });
      }
      const track = this.#tracks.get(decodeURIComponent(match[1] ?? ''));
      if (!track) return json(res, 404, { error: { status: 404, message: 'Non existing id' } });
      return json(res, 200, track);
    }
    json(res, 404, { error: { status: 404, message: 'Service not found' } });
  }

  async #token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    if (this.tokenResponder) return this.tokenResponder(req, res);
    const expected = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
    const form = new URLSearchParams(body);
    if (
      req.headers.authorization !== expected ||
      req.headers['content-type'] !== 'application/x-www-form-urlencoded' ||
      form.get('grant_type') !== 'client_credentials'
    ) {
      return json(res, 400, { error: 'invalid_client', error_description: 'Invalid client' });
    }
    if (this.tokenDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.tokenDelayMs));
    const token = `access-token-${this.tokenRequests}-${Math.random().toString(36).slice(2)}`;
    this.#validTokens.add(token);
    json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: this.expiresIn });
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function rateLimit(retryAfterSeconds: number): Responder {
  return (_req, res) => json(res, 429, { error: { status: 429, message: 'API rate limit exceeded' } }, {
    'retry-after': String(retryAfterSeconds),
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

describe('SpotifyMetadataProvider', () => {
  let spotify: FakeSpotify;
  let clock: number;

  beforeEach(async () => {
    spotify = new FakeSpotify();
    await spotify.start();
    clock = 1_700_000_000_000;
  });

  afterEach(async () => {
    await spotify.close();
  });

  function provider(options: Partial<SpotifyMetadataProviderOptions> = {}): SpotifyMetadataProvider {
    return new SpotifyMetadataProvider({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      apiUrl: spotify.url,
      accountsUrl: `${spotify.url}/`,
      timeoutMs: 2000,
      ...options,
    });
  }

  it('maps Spotify track objects and reuses one token across calls', async () => {
    const spotifyProvider = provider();
    expect(spotifyProvider.name).toBe('spotify');
    const track = await spotifyProvider.getTrack(TRACK_ID);
    expect(track).toEqual({
      id: TRACK_ID,
      title: 'Hearts on Fire',
      artists: ['Cut Copy', 'Guest Star'],
      album: 'In Ghost Colours',
      durationMs: 207959,
      isrc: 'AUUM70800060',
    });
    expect((await spotifyProvider.getTrack(OTHER_ID))?.title).toBe('Lights and Music');
    expect((await spotifyProvider.getTrack(TRACK_ID))?.title).toBe('Hearts on Fire');
    expect(spotify.tokenRequests).toBe(1);
    expect(spotify.trackRequests).toBe(3);
  });

  it('omits isrc when Spotify has none', async () => {
    spotify.trackScript.push((_req, res) => json(res, 200, { ...spotifyTrack(TRACK_ID, 'No ISRC'), external_ids: {} }));
    const track = await provider().getTrack(TRACK_ID);
    expect(track?.title).toBe('No ISRC');
    expect(track).not.toHaveProperty('isrc');
  });

  it('shares one in-flight token request among concurrent callers', async () => {
    spotify.tokenDelayMs = 100;
    const spotifyProvider = provider();
    const tracks = await Promise.all(
      Array.from({ length: 6 }, (_, i) => spotifyProvider.getTrack(i % 2 === 0 ? TRACK_ID : OTHER_ID)),
    );
    expect(tracks.map((track) => track?.id)).toEqual([TRACK_ID, OTHER_ID, TRACK_ID, OTHER_ID, TRACK_ID, OTHER_ID]);
    expect(spotify.tokenRequests).toBe(1);
    expect(spotify.trackRequests).toBe(6);
  });

  it('refreshes the token shortly before it expires', async () => {
    const spotifyProvider = provider({ now: () => clock });
    await spotifyProvider.getTrack(TRACK_ID);
    clock += 3000_000; // 50 minutes of a 60-minute token
    await spotifyProvider.getTrack(TRACK_ID);
    expect(spotify.tokenRequests).toBe(1);
    clock += 570_000; // 59.5 minutes: inside the refresh margin
    await spotifyProvider.getTrack(TRACK_ID);
    expect(spotify.tokenRequests).toBe(2);
    await spotifyProvider.getTrack(TRACK_ID);
    expect(spotify.tokenRequests).toBe(2);
  });

  it('gets a new token and retries once when Spotify answers 401', async () => {
    const spotifyProvider = provider();
    await spotifyProvider.getTrack(TRACK_ID);
    spotify.revokeTokens();
    expect((await spotifyProvider.getTrack(TRACK_ID))?.id).toBe(TRACK_ID);
    expect(spotify.tokenRequests).toBe(2);
    expect(spotify.trackRequests).toBe(3);
  });

  it('gives up with UnavailableError when a fresh token is refused too', async () => {
    const unauthorized: Responder = (_req, res) => json(res, 401, { error: { status: 401, message: 'nope' } });
    spotify.trackScript.push(unauthorized, unauthorized, unauthorized);
    const error = await rejection(provider().getTrack(TRACK_ID));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(spotify.trackRequests).toBe(2);
    expect(spotify.tokenRequests).toBe(2);
  });

  it('answers null for an unknown track, and for a malformed id without asking Spotify', async () => {
    const spotifyProvider = provider();
    expect(await spotifyProvider.getTrack(UNKNOWN_ID)).toBeNull();
    expect(spotify.trackRequests).toBe(1);
    spotify.trackScript.push((_req, res) => json(res, 400, { error: { status: 400, message: 'invalid id' } }));
    expect(await spotifyProvider.getTrack(OTHER_ID)).toBeNull();
    expect(await spotifyProvider.getTrack('not-an-id/../../me')).toBeNull();
    expect(spotify.trackRequests).toBe(2);
  });

  it('waits out a short Retry-After and retries once', async () => {
    spotify.trackScript.push(rateLimit(1));
    const started = Date.now();
    const track = await provider().getTrack(TRACK_ID);
    expect(track?.id).toBe(TRACK_ID);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(spotify.trackRequests).toBe(2);
  });

  it('fails with the Retry-After of a long 429 and stays away until it ends', async () => {
    const spotifyProvider = provider({ now: () => clock });
    spotify.trackScript.push(rateLimit(30));
    const first = await rejection(spotifyProvider.getTrack(TRACK_ID));
    expect(first).toBeInstanceOf(UnavailableError);
    expect((first as UnavailableError).retryAfterMs).toBe(30_000);
    expect(spotify.trackRequests).toBe(1);

    clock += 10_000;
    const started = Date.now();
    const second = await rejection(spotifyProvider.getTrack(OTHER_ID));
    expect(Date.now() - started).toBeLessThan(100);
    expect(second).toBeInstanceOf(UnavailableError);
    expect((second as UnavailableError).retryAfterMs).toBe(20_000);
    expect(spotify.trackRequests).toBe(1);

    clock += 20_001;
    expect((await spotifyProvider.getTrack(OTHER_ID))?.id).toBe(OTHER_ID);
    expect(spotify.trackRequests).toBe(2);
  });

  it('fails when a short 429 comes back twice', async () => {
    spotify.trackScript.push(rateLimit(0), rateLimit(0));
    const error = await rejection(provider().getTrack(TRACK_ID));
    expect(error).toBeInstanceOf(UnavailableError);
    expect(spotify.trackRequests).toBe(2);
  });

  it.each([500, 502, 503])('turns HTTP %i into UnavailableError', async (status) => {
    spotify.trackScript.push((_req, res) => json(res, status, { error: { status, message: 'boom' } }));
    const error = await rejection(provider().getTrack(TRACK_ID));
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toContain(String(status));
  });

  it('times out quickly with UnavailableError when Spotify does not answer', async () => {
    spotify.trackScript.push(spotify.hold);
    const started = Date.now();
    const error = await rejection(provider({ timeoutMs: 200 }).getTrack(TRACK_ID));
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(UnavailableError);
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1500);
  });

  it('times out a token request that hangs', async () => {
    spotify.tokenResponder = spotify.hold;
    const error = await rejection(provider({ timeoutMs: 200 }).getTrack(TRACK_ID));
    expect(error).toBeInstanceOf(UnavailableError);
  });

  it('rethrows the caller’s abort', async () => {
    spotify.trackScript.push(spotify.hold);
    const controller = new AbortController();
    const pending = provider().getTrack(TRACK_ID, controller.signal);
    setTimeout(() => controller.abort(new Error('caller gave up')), 50);
    const error = await rejection(pending);
    expect((error as Error).message).toBe('caller gave up');
  });

  it('turns an unreachable Spotify into UnavailableError', async () => {
    const url = spotify.url;
    await spotify.close();
    spotify = new FakeSpotify();
    await spotify.start();
    const error = await rejection(provider({ apiUrl: url, accountsUrl: url }).getTrack(TRACK_ID));
    expect(error).toBeInstanceOf(UnavailableError);
  });

  it('rejects an unexpected track object', async () => {
    spotify.trackScript.push((_req, res) => json(res, 200, { id: TRACK_ID, name: 'x', artists: 'nobody' }));
    expect(await rejection(provider().getTrack(TRACK_ID))).toBeInstanceOf(UnavailableError);
  });

  it('never puts the client secret or an access token in an error', async () => {
    const secrets = [CLIENT_SECRET, Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64'), 'access-token-'];
    // A JSON parse error quotes the start of the body: here, where a token would be.
    const leakyToken = 'LEAKYTOKEN';
    const errors: unknown[] = [];

    spotify.tokenResponder = (_req, res) => json(res, 400, { error: 'invalid_client', error_description: CLIENT_SECRET });
    errors.push(await rejection(provider().getTrack(TRACK_ID)));
    spotify.tokenResponder = (_req, res) => json(res, 500, { error: CLIENT_SECRET });
    errors.push(await rejection(provider().getTrack(TRACK_ID)));
    spotify.tokenResponder = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${leakyToken}-rest-of-a-body-that-is-not-json`);
    };
    errors.push(await rejection(provider().getTrack(TRACK_ID)));
    spotify.tokenResponder = undefined;
    spotify.trackScript.push((_req, res) => json(res, 503, { error: { message: 'down' } }));
    errors.push(await rejection(provider().getTrack(TRACK_ID)));
    spotify.trackScript.push(spotify.hold);
    errors.push(await rejection(provider({ timeoutMs: 150 }).getTrack(TRACK_ID)));
    spotify.trackScript.push(rateLimit(60));
    errors.push(await rejection(provider().getTrack(TRACK_ID)));
    errors.push(await rejection(provider({ apiUrl: 'http://127.0.0.1:1' }).getTrack(TRACK_ID)));

    expect(errors).toHaveLength(7);
    for (const error of errors) {
      expect(error).toBeInstanceOf(UnavailableError);
      const text = describeError(error);
      for (const secret of [...secrets, leakyToken]) expect(text).not.toContain(secret);
    }
  });
});

/** Every message, stack and property along the cause chain. */
function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let current = error, depth = 0; current !== undefined && depth < 10; depth++) {
    if (current instanceof Error) {
      parts.push(current.message, current.stack ?? '', JSON.stringify({ ...current }));
      current = current.cause;
    } else {
      parts.push(String(current));
      current = undefined;
    }
  }
  return parts.join('\n');
}
