import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Stand-ins for the services a real deployment talks to: Spotify's accounts service and Web
 * API, and an audio origin. They are real HTTP servers on loopback, so the server under test
 * goes through its production adapters (SpotifyMetadataProvider, HttpTrackSource) unchanged.
 */

export interface StubTrack {
  id: string;
  name: string;
  artists: string[];
  album: string;
  durationMs: number;
  isrc?: string;
}

export interface SpotifyStub {
  /** Base URL for MIXTAPE_SPOTIFY_ACCOUNTS_URL (token endpoint `/api/token`). */
  accountsUrl: string;
  /** Base URL for MIXTAPE_SPOTIFY_API_URL (`/v1/tracks/{id}`). */
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  /** Token requests that carried the right credentials. */
  tokensIssued: number;
  /** `GET /v1/tracks/{id}` requests with a valid token, by id. */
  trackRequests: Map<string, number>;
  /** Requests refused for bad credentials or a bad token. */
  refused: number;
  addTrack(track: StubTrack): void;
  /** The env that points a Mixtape server at this stub. */
  env(): Record<string, string>;
  close(): Promise<void>;
}

export interface AudioPlan {
  body: Buffer;
  contentType?: string;
  /** Answered, one per request and in order, before the body is ever served. */
  failFirst?: number[];
  /** Every request gets this status, no body. */
  alwaysStatus?: number;
  /** Omit Content-Length and send chunked, so the size is unknown until the end. */
  chunked?: boolean;
  /** Awaited before answering, so a test can hold a download in `running`. */
  gate?: Promise<void>;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Send the body 1 KiB at a time, this many ms apart, to the first `trickleFirst` requests (every request when unset). */
  trickleMs?: number;
  trickleFirst?: number;
}

export interface AudioOrigin {
  url: string;
  /** For MIXTAPE_SOURCE_URL. */
  template: string;
  /** Every `GET /audio/{id}` the origin saw, by id (unknown ids included). */
  requests: Map<string, number>;
  serve(id: string, plan: AudioPlan): void;
  close(): Promise<void>;
}

/** Rate limits the download tests never reach, so that only the behaviour under test refuses a request. */
export const ROOMY_RATE_LIMITS = 'global=100000/1m,search=1000/1m,download=1000/1m,register=1000/1h';

/** The env that points a Mixtape server at both stand-ins, metadata from `spotify` and audio from `origin`, with `rateLimits`. */
export function originEnv(spotify: SpotifyStub, origin: AudioOrigin, rateLimits = ROOMY_RATE_LIMITS): Record<string, string> {
  return { ...spotify.env(), MIXTAPE_SOURCE_URL: origin.template, MIXTAPE_RATE_LIMITS: rateLimits };
}

/** Random-looking bytes that are the same for the same seed, so a test can recompute them. */
export function deterministicBytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let offset = 0;
  for (let block = 0; offset < size; block += 1) {
    const digest = createHash('sha256').update(`${seed}:${block}`).digest();
    offset += digest.copy(out, offset);
  }
  return out;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    Promise.resolve(handler(req, res)).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}` };
}

async function stop(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** The Web API's track object, in the shape Spotify documents (fields Mixtape ignores included). */
function spotifyTrackObject(track: StubTrack, apiUrl: string) {
  const artists = track.artists.map((name, i) => ({
    external_urls: { spotify: `https://open.spotify.com/artist/artist${i}` },
    href: `${apiUrl}/v1/artists/artist${i}`,
    id: `artist${i}`,
    name,
    type: 'artist',
    uri: `spotify:artist:artist${i}`,
  }));
  return {
    album: {
      album_type: 'album',
      total_tracks: 10,
      available_markets: ['DE', 'US'],
      external_urls: { spotify: 'https://open.spotify.com/album/album0' },
      href: `${apiUrl}/v1/albums/album0`,
      id: 'album0',
      images: [{ url: 'https://i.scdn.co/image/x', height: 640, width: 640 }],
      name: track.album,
      release_date: '2021-06-04',
      release_date_precision: 'day',
      type: 'album',
      uri: 'spotify:album:album0',
      artists,
    },
    artists,
    available_markets: ['DE', 'US'],
    disc_number: 1,
    duration_ms: track.durationMs,
    explicit: false,
    external_ids: track.isrc ? { isrc: track.isrc } : {},
    external_urls: { spotify: `https://open.spotify.com/track/${track.id}` },
    href: `${apiUrl}/v1/tracks/${track.id}`,
    id: track.id,
    is_playable: true,
    name: track.name,
    popularity: 42,
    preview_url: null,
    track_number: 3,
    type: 'track',
    uri: `spotify:track:${track.id}`,
    is_local: false,
  };
}

/** Spotify's accounts service (client-credentials grant only) and the tracks endpoint of its Web API. */
export async function startSpotifyStub(tracks: StubTrack[] = []): Promise<SpotifyStub> {
  const clientId = `client-${randomBytes(6).toString('hex')}`;
  const clientSecret = `secret-${randomBytes(16).toString('hex')}`;
  const expectedBasic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
  const catalog = new Map(tracks.map((t) => [t.id, t]));
  const issued = new Set<string>();

  const state = { tokensIssued: 0, refused: 0, trackRequests: new Map<string, number>() };

  const accounts = await listen(async (req, res) => {
    const body = await readBody(req);
    if (req.method !== 'POST' || req.url !== '/api/token') return json(res, 404, { error: 'not_found' });
    const form = new URLSearchParams(body);
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded') || form.get('grant_type') !== 'client_credentials') {
      return json(res, 400, { error: 'unsupported_grant_type', error_description: 'grant_type must be client_credentials' });
    }
    if (req.headers.authorization !== expectedBasic) {
      state.refused += 1;
      return json(res, 400, { error: 'invalid_client', error_description: 'Invalid client' });
    }
    const token = `tok-${randomBytes(12).toString('hex')}`;
    issued.add(token);
    state.tokensIssued += 1;
    json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 3600 });
  });

  const api = await listen(async (req, res) => {
    await readBody(req);
    const match = /^\/v1\/tracks\/([^/?]+)(?:\?.*)?$/.exec(req.url ?? '');
    if (req.method !== 'GET' || !match?.[1]) return json(res, 404, { error: { status: 404, message: 'Service not found' } });
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !issued.has(token)) {
      state.refused += 1;
      return json(res, 401, { error: { status: 401, message: 'Invalid access token' } });
    }
    const id = decodeURIComponent(match[1]);
    state.trackRequests.set(id, (state.trackRequests.get(id) ?? 0) + 1);
    const track = catalog.get(id);
    if (!track) return json(res, 404, { error: { status: 404, message: 'Resource not found' } });
    json(res, 200, spotifyTrackObject(track, api.url));
  });

  return {
    accountsUrl: accounts.url,
    apiUrl: api.url,
    clientId,
    clientSecret,
    get tokensIssued() {
      return state.tokensIssued;
    },
    get refused() {
      return state.refused;
    },
    trackRequests: state.trackRequests,
    addTrack(track) {
      catalog.set(track.id, track);
    },
    env() {
      return {
        MIXTAPE_SPOTIFY_CLIENT_ID: clientId,
        MIXTAPE_SPOTIFY_CLIENT_SECRET: clientSecret,
        MIXTAPE_SPOTIFY_API_URL: api.url,
        MIXTAPE_SPOTIFY_ACCOUNTS_URL: accounts.url,
      };
    },
    async close() {
      await Promise.all([stop(accounts.server), stop(api.server)]);
    },
  };
}

/** An audio origin at `GET /audio/{id}`; an id with no plan is 404. */
export async function startAudioOrigin(): Promise<AudioOrigin> {
  const plans = new Map<string, AudioPlan & { served: number }>();
  const requests = new Map<string, number>();

  const origin = await listen(async (req, res) => {
    const match = /^\/audio\/([^/?]+)$/.exec(req.url ?? '');
    if (req.method !== 'GET' || !match?.[1]) {
      res.writeHead(404).end();
      return;
    }
    const id = decodeURIComponent(match[1]);
    requests.set(id, (requests.get(id) ?? 0) + 1);
    const plan = plans.get(id);
    if (!plan) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such track');
      return;
    }
    const attempt = plan.served++;
    if (plan.gate) await plan.gate;
    if (plan.delayMs) await new Promise((resolve) => setTimeout(resolve, plan.delayMs));
    const failure = plan.alwaysStatus ?? plan.failFirst?.[attempt];
    if (failure !== undefined) {
      res.writeHead(failure, { 'content-type': 'text/plain' }).end(`status ${failure}`);
      return;
    }
    const headers: Record<string, string | number> = { 'content-type': plan.contentType ?? 'audio/mpeg' };
    if (!plan.chunked) headers['content-length'] = plan.body.length;
    res.writeHead(200, headers);
    // Several writes, so the body arrives as a stream rather than one piece.
    const trickle = plan.trickleMs !== undefined && (plan.trickleFirst === undefined || attempt < plan.trickleFirst);
    const step = trickle ? 1024 : 256 * 1024;
    for (let offset = 0; offset < plan.body.length; offset += step) {
      if (!res.write(plan.body.subarray(offset, offset + step))) await once(res, 'drain');
      if (res.destroyed) return;
      if (trickle) await new Promise((resolve) => setTimeout(resolve, plan.trickleMs));
      if (res.destroyed) return;
    }
    res.end();
  });

  return {
    url: origin.url,
    template: `${origin.url}/audio/{id}`,
    requests,
    serve(id, plan) {
      plans.set(id, { ...plan, served: 0 });
    },
    close: () => stop(origin.server),
  };
}

/** A promise a test resolves when it chooses, to hold an origin's answer back. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Makes a 22-character base62 track id from a short label, so tests read well. */
export function trackId(label: string): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const digest = createHash('sha256').update(label).digest();
  let id = '';
  for (let i = 0; i < 22; i += 1) id += alphabet[(digest[i] ?? 0) % 62];
  return id;
}

/** Every regular file under `dir`, as paths relative to it; empty when `dir` does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  const files: string[] = [];
  for (const name of names) {
    if ((await stat(join(dir, name)).catch(() => null))?.isFile()) files.push(name);
  }
  return files.sort();
}
