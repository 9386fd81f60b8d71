import { readEventStream } from './event-stream.js';
import { ProblemError } from './problem-error.js';
import {
  isFinalJobStatus,
  type Job,
  type JobProgress,
  type JobStatus,
  type LibraryEntry,
  type Me,
  type Page,
  type ReconcileReport,
  type RegisteredUser,
  type SearchResult,
  type TokenPair,
  type Track,
} from './types.js';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface MixtapeClientOptions {
  /** Where the server listens, e.g. `http://127.0.0.1:3000`; the client adds `/api/v1`. */
  baseUrl: string;
  /** Defaults to the global `fetch`. */
  fetch?: FetchLike;
  /** Tokens kept from an earlier session. */
  tokens?: TokenPair | null;
  /** Called whenever the held tokens change (login, refresh, logout, revoked family). */
  onTokens?: (tokens: TokenPair | null) => void;
}

export interface FollowDownloadOptions {
  onProgress?: (progress: JobProgress) => void;
  onStatus?: (status: JobStatus) => void;
  signal?: AbortSignal;
}

export interface DownloadFileOptions {
  /** A single byte range, both ends inclusive; `end` left out means "to the end". */
  range?: { start: number; end?: number };
  /** An ETag from an earlier answer; the server then answers 304 when the file is unchanged. */
  ifNoneMatch?: string;
  signal?: AbortSignal;
}

interface Call {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Built per attempt: a retried logout must send the refresh token of the new pair. */
  body?: () => unknown;
  auth: boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Statuses outside 2xx that are answers, not errors (304 for a conditional GET). */
  accept?: readonly number[];
}

/** A typed client of the Mixtape HTTP API. Works in browsers and in Node 20+. */
export class MixtapeClient {
  private readonly baseUrl: string;
  private readonly fetchFn: FetchLike;
  private readonly onTokens: ((tokens: TokenPair | null) => void) | undefined;
  private heldTokens: TokenPair | null;
  // One refresh at a time: concurrent 401s wait for the same one.
  private refreshing: Promise<TokenPair> | undefined;

  constructor(options: MixtapeClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    // Called unbound, window.fetch throws "Illegal invocation" in browsers.
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.heldTokens = options.tokens ?? null;
    this.onTokens = options.onTokens;
  }

  get tokens(): TokenPair | null {
    return this.heldTokens;
  }

  setTokens(tokens: TokenPair | null): void {
    this.heldTokens = tokens;
    this.onTokens?.(tokens);
  }

  // --- auth ---

  register(username: string, password: string): Promise<RegisteredUser> {
    return this.json({ method: 'POST', path: '/auth/register', body: () => ({ username, password }), auth: false });
  }

  async login(username: string, password: string): Promise<TokenPair> {
    const tokens = await this.json<TokenPair>({ method: 'POST', path: '/auth/login', body: () => ({ username, password }), auth: false });
    this.setTokens(tokens);
    return tokens;
  }

  /** Trades the refresh token for a new pair (refresh tokens rotate). Shared with automatic refreshes. */
  refresh(): Promise<TokenPair> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** Revokes the session on the server and forgets the tokens here, even if the server call fails. */
  async logout(): Promise<void> {
    if (!this.heldTokens) return;
    try {
      await this.none({
        method: 'POST',
        path: '/auth/logout',
        body: () => ({ refreshToken: this.heldTokens?.refreshToken }),
        auth: true,
      });
    } finally {
      this.setTokens(null);
    }
  }

  me(): Promise<Me> {
    return this.json({ method: 'GET', path: '/me', auth: true });
  }

  // --- tracks ---

  searchTracks(params: { q: string; limit?: number; offset?: number; signal?: AbortSignal }): Promise<SearchResult> {
    const { signal, ...query } = params;
    return this.json({ method: 'GET', path: '/tracks/search', query, auth: true, ...(signal && { signal }) });
  }

  getTrack(trackId: string): Promise<Track> {
    return this.json({ method: 'GET', path: `/tracks/${encodeURIComponent(trackId)}`, auth: true });
  }

  // --- downloads ---

  /** `track`: a Spotify track id, `spotify:track:ID` or `https://open.spotify.com/track/ID`. */
  requestDownload(track: string): Promise<Job> {
    return this.json({ method: 'POST', path: '/downloads', body: () => ({ track }), auth: true });
  }

  listDownloads(params: { status?: JobStatus; limit?: number; offset?: number } = {}): Promise<Page<Job>> {
    return this.json({ method: 'GET', path: '/downloads', query: { ...params }, auth: true });
  }

  getDownload(jobId: string): Promise<Job> {
    return this.json({ method: 'GET', path: `/downloads/${encodeURIComponent(jobId)}`, auth: true });
  }

  /** Cancels a queued job; a running or finished one is a `conflict`. */
  cancelDownload(jobId: string): Promise<void> {
    return this.none({ method: 'DELETE', path: `/downloads/${encodeURIComponent(jobId)}`, auth: true });
  }

  /**
   * Follows the job's server-sent events until it reaches a final status or the server ends
   * the stream, then answers with the job as the server now has it.
   */
  async followDownload(jobId: string, options: FollowDownloadOptions = {}): Promise<Job> {
    const { onProgress, onStatus, signal } = options;
    const path = `/downloads/${encodeURIComponent(jobId)}`;
    const response = await this.send({
      method: 'GET',
      path: `${path}/events`,
      auth: true,
      headers: { accept: 'text/event-stream' },
      ...(signal && { signal }),
    });
    if (response.body) {
      for await (const message of readEventStream(response.body)) {
        const data = parseJson(message.data);
        if (message.event === 'progress') {
          const progress = toProgress(data);
          if (progress) onProgress?.(progress);
        } else if (message.event === 'status') {
          const status = typeof data?.status === 'string' ? data.status : undefined;
          if (status === undefined) continue;
          onStatus?.(status as JobStatus);
          if (isFinalJobStatus(status)) break;
        }
      }
    }
    return this.json({ method: 'GET', path, auth: true, ...(signal && { signal }) });
  }

  // --- library ---

  library(): Promise<Page<LibraryEntry>> {
    return this.json({ method: 'GET', path: '/library', auth: true });
  }

  /**
   * The raw response (200, 206, or 304 with `ifNoneMatch`) so the caller can stream the body;
   * `Content-Range`, `ETag` and `Content-Disposition` are on its headers.
   */
  downloadFile(trackId: string, options: DownloadFileOptions = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (options.range) headers.range = `bytes=${options.range.start}-${options.range.end ?? ''}`;
    if (options.ifNoneMatch !== undefined) headers['if-none-match'] = options.ifNoneMatch;
    return this.send({
      method: 'GET',
      path: `/library/${encodeURIComponent(trackId)}/file`,
      auth: true,
      headers,
      accept: [304],
      ...(options.signal && { signal: options.signal }),
    });
  }

  removeFromLibrary(trackId: string): Promise<void> {
    return this.none({ method: 'DELETE', path: `/library/${encodeURIComponent(trackId)}`, auth: true });
  }

  // --- admin ---

  adminJobs(status?: JobStatus): Promise<Page<Job>> {
    return this.json({ method: 'GET', path: '/admin/jobs', query: { status }, auth: true });
  }

  /** Puts a failed job back in the queue with its attempts reset. */
  adminRetry(jobId: string): Promise<Job> {
    return this.json({ method: 'POST', path: `/admin/jobs/${encodeURIComponent(jobId)}/retry`, auth: true });
  }

  adminReconcile(dryRun = false): Promise<ReconcileReport> {
    return this.json({ method: 'POST', path: '/admin/reconcile', query: { dryRun }, auth: true });
  }

  // --- transport ---

  private async doRefresh(): Promise<TokenPair> {
    const spent = this.heldTokens?.refreshToken;
    if (spent === undefined) {
      throw new ProblemError({ type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'No refresh token is held' });
    }
    try {
      const tokens = await this.json<TokenPair>({ method: 'POST', path: '/auth/refresh', body: () => ({ refreshToken: spent }), auth: false });
      // A login or logout while the refresh was under way wins over its result.
      if (this.heldTokens?.refreshToken === spent) this.setTokens(tokens);
      return tokens;
    } catch (error) {
      // The family is spent or revoked: the tokens held can never work again.
      if (error instanceof ProblemError && error.status === 401 && this.heldTokens?.refreshToken === spent) this.setTokens(null);
      throw error;
    }
  }

  private async json<T>(call: Call): Promise<T> {
    const response = await this.send(call);
    return (await response.json()) as T;
  }

  private async none(call: Call): Promise<void> {
    const response = await this.send(call);
    await response.body?.cancel();
  }

  /** One request; on a 401 with a refresh token held, one refresh and one retry. */
  private async send(call: Call): Promise<Response> {
    const sentWith = this.heldTokens?.accessToken;
    const response = await this.attempt(call);
    if (response.ok || call.accept?.includes(response.status)) return response;
    const problem = await ProblemError.fromResponse(response);
    if (response.status !== 401 || !call.auth || !this.heldTokens) throw problem;

    // Another caller may already have refreshed since this request left.
    if (this.heldTokens.accessToken === sentWith) {
      try {
        await this.refresh();
      } catch (error) {
        throw error instanceof ProblemError && error.status === 401 ? problem : error;
      }
    }
    const retried = await this.attempt(call);
    if (retried.ok || call.accept?.includes(retried.status)) return retried;
    throw await ProblemError.fromResponse(retried);
  }

  private attempt(call: Call): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...call.headers };
    const init: RequestInit = { method: call.method, headers };
    if (call.body) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(call.body());
    }
    const accessToken = this.heldTokens?.accessToken;
    if (call.auth && accessToken !== undefined) headers.authorization = `Bearer ${accessToken}`;
    if (call.signal) init.signal = call.signal;
    return this.fetchFn(this.url(call), init);
  }

  private url(call: Call): string {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) search.set(name, String(value));
    }
    const query = search.toString();
    return `${this.baseUrl}/api/v1${call.path}${query ? `?${query}` : ''}`;
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Progress events carry `{bytes, totalBytes?}`; a whole job with `progress` is read too. */
function toProgress(data: Record<string, unknown> | undefined): JobProgress | undefined {
  const source = typeof data?.progress === 'object' && data.progress !== null ? (data.progress as Record<string, unknown>) : data;
  if (typeof source?.bytes !== 'number') return undefined;
  return typeof source.totalBytes === 'number' ? { bytes: source.bytes, totalBytes: source.totalBytes } : { bytes: source.bytes };
}
