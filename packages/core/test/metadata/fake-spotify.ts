import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const CLIENT_ID = 'test-client-id';
export const CLIENT_SECRET = 'sup3r-s3cret-value-that-must-not-leak';
export const TRACK_ID = '11dFghVXANMlKmJXsNCbNl';
export const OTHER_ID = '3n3Ppam7vgaVa1iaRUc9Lp';
export const UNKNOWN_ID = '0000000000000000000000';

/** Spotify's documented track object, trimmed to what we read plus a few fields we ignore. */
export function spotifyTrack(id: string, name: string) {
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

export type Responder = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A real HTTP server speaking Spotify's token and tracks endpoints, shared by the provider's
 * tests and those of instances sharing a budget. It records when each request arrived.
 */
export class FakeSpotify {
  readonly server: Server = createServer((req, res) => this.#handle(req, res));
  tokenRequests = 0;
  trackRequests = 0;
  expiresIn = 3600;
  tokenDelayMs = 0;
  /** Every request, in arrival order: its path and `Date.now()` when it arrived. */
  readonly requests: { path: string; at: number }[] = [];
  /** While set, every track request is answered with it (a Spotify that keeps failing). */
  trackFailure: Responder | undefined;
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
    this.requests.push({ path: url.pathname, at: Date.now() });
    if (req.method === 'POST' && url.pathname === '/api/token') {
      this.tokenRequests++;
      void this.#token(req, res);
      return;
    }
    const match = /^\/v1\/tracks\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && match) {
      this.trackRequests++;
      const scripted = this.trackScript.shift() ?? this.trackFailure;
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

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export function rateLimit(retryAfterSeconds: number): Responder {
  return (_req, res) => json(res, 429, { error: { status: 429, message: 'API rate limit exceeded' } }, {
    'retry-after': String(retryAfterSeconds),
  });
}
