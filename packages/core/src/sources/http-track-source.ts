import { ConfigError, MixtapeError, SourceError } from '../errors.js';
import type { AudioStream, TrackSource } from './track-source.js';

export interface HttpTrackSourceOptions {
  /** The origin's URL for a track, with `{id}` where the track id goes. */
  urlTemplate: string;
  /** Limit for the response headers to arrive; default 10000. */
  connectTimeoutMs?: number;
  /** Limit for the gap between two body chunks; default 30000. */
  idleTimeoutMs?: number;
  fetch?: typeof fetch;
}

type Interruption = 'connect-timeout' | 'idle-timeout' | 'aborted';

/** Streams audio from an HTTP origin, chunk by chunk, never holding the whole file. */
export class HttpTrackSource implements TrackSource {
  readonly name = 'http';

  readonly #urlTemplate: string;
  readonly #connectTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: HttpTrackSourceOptions) {
    const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    const problems: string[] = [];
    if (!options.urlTemplate.includes('{id}')) problems.push('The audio source URL template must contain {id}');
    if (!/^https?:\/\/[^/?#\s]+/.test(options.urlTemplate)) problems.push('The audio source URL must be http(s)');
    if (!(connectTimeoutMs > 0)) problems.push('The audio source connectTimeoutMs must be positive');
    if (!(idleTimeoutMs > 0)) problems.push('The audio source idleTimeoutMs must be positive');
    if (problems.length > 0) throw new ConfigError(problems);

    this.#urlTemplate = options.urlTemplate;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#fetch = options.fetch ?? fetch;
  }

  async open(trackId: string, signal: AbortSignal): Promise<AudioStream> {
    if (signal.aborted) throw abortedBy(signal);
    // One controller cancels the request whichever way it ends: caller abort, a timeout,
    // a failure, or a consumer that stops reading early.
    const controller = new AbortController();
    let interruption: Interruption | undefined;
    const interrupt = (why: Interruption) => {
      interruption ??= why;
      controller.abort();
    };
    const onCallerAbort = () => interrupt('aborted');
    signal.addEventListener('abort', onCallerAbort, { once: true });
    const release = () => {
      signal.removeEventListener('abort', onCallerAbort);
      controller.abort();
    };

    const connectTimer = setTimeout(() => interrupt('connect-timeout'), this.#connectTimeoutMs);
    let response: Response;
    try {
      const url = this.#urlTemplate.replaceAll('{id}', encodeURIComponent(trackId));
      response = await this.#fetch(url, {
        signal: controller.signal,
        // The size we report must be the size of the bytes we hand over.
        headers: { accept: '*/*', 'accept-encoding': 'identity' },
      });
    } catch (error) {
      release();
      if (interruption === 'aborted') throw abortedBy(signal);
      throw interruption ? interrupted(interruption, this.#connectTimeoutMs) : unreachable(error);
    } finally {
      clearTimeout(connectTimer);
    }

    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => undefined);
      release();
      throw statusError(response.status);
    }

    const encoding = response.headers.get('content-encoding');
    const declared = encoding && encoding !== 'identity' ? undefined : parseLength(response.headers.get('content-length'));
    const reader = response.body.getReader();
    const idleTimeoutMs = this.#idleTimeoutMs;

    async function* body(): AsyncGenerator<Uint8Array> {
      let received = 0;
      let finished = false;
      try {
        for (;;) {
          // Only time spent waiting on the origin counts, not time the consumer takes.
          const idleTimer = setTimeout(() => interrupt('idle-timeout'), idleTimeoutMs);
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (error) {
            if (interruption === 'aborted') throw abortedBy(signal);
            throw interruption ? interrupted(interruption, idleTimeoutMs) : cutOff(error);
          } finally {
            clearTimeout(idleTimer);
          }
          if (chunk.done) break;
          received += chunk.value.byteLength;
          yield chunk.value;
        }
        if (declared !== undefined && received !== declared) {
          throw new SourceError('truncated', `The audio source sent ${received} of ${declared} bytes`, {
            retryable: true,
          });
        }
        finished = true;
      } finally {
        if (!finished) await reader.cancel().catch(() => undefined);
        release();
      }
    }

    return {
      body: body(),
      ...(declared !== undefined ? { sizeBytes: declared } : {}),
      contentType: response.headers.get('content-type') ?? 'application/octet-stream',
    };
  }
}

function statusError(status: number): SourceError {
  if (status === 404 || status === 410) {
    return new SourceError('not-found', `The audio source has no such track (HTTP ${status})`, { retryable: false });
  }
  if (status >= 500 || status === 408 || status === 429) {
    return new SourceError('unavailable', `The audio source answered HTTP ${status}`, { retryable: true });
  }
  return new SourceError('rejected', `The audio source refused the request (HTTP ${status})`, { retryable: false });
}

function interrupted(why: Interruption, limitMs = 0): SourceError {
  switch (why) {
    case 'aborted':
      return new SourceError('aborted', 'The download was aborted', { retryable: true });
    case 'connect-timeout':
      return new SourceError('timeout', `The audio source did not answer within ${limitMs} ms`, { retryable: true });
    case 'idle-timeout':
      return new SourceError('timeout', `The audio source sent nothing for ${limitMs} ms`, { retryable: true });
  }
}

/**
 * The caller's typed reason when it gave one (its fetch deadline, a lost lock or lease, a
 * shutdown), so that the job's error says why; else a plain `aborted`.
 */
function abortedBy(signal: AbortSignal): MixtapeError {
  return signal.reason instanceof MixtapeError ? signal.reason : interrupted('aborted');
}

function unreachable(error: unknown): SourceError {
  return new SourceError('unavailable', 'Could not reach the audio source', { retryable: true, cause: error });
}

function cutOff(error: unknown): SourceError {
  return new SourceError('unavailable', 'The audio source broke off the transfer', { retryable: true, cause: error });
}

function parseLength(header: string | null): number | undefined {
  if (header === null || !/^\d+$/.test(header.trim())) return undefined;
  const length = Number(header.trim());
  return Number.isSafeInteger(length) ? length : undefined;
}
