import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { MixtapeError, UnavailableError, ValidationError, type FieldProblem, type MixtapeErrorCode } from '@mixtape/core';
import type { Logger } from '../logger.js';

export const PROBLEM_KINDS = [
  'validation',
  'unauthorized',
  'forbidden',
  'not-found',
  'conflict',
  'rate-limited',
  'quota-exceeded',
  'unavailable',
  'internal',
] as const;
export type ProblemKind = (typeof PROBLEM_KINDS)[number];

const TITLES: Record<ProblemKind, string> = {
  validation: 'The request is not valid',
  unauthorized: 'Authentication is required',
  forbidden: 'Not allowed',
  'not-found': 'Not found',
  conflict: 'Conflict',
  'rate-limited': 'Too many requests',
  'quota-exceeded': 'Storage quota exceeded',
  unavailable: 'Temporarily unavailable',
  internal: 'Internal error',
};

export interface Problem {
  kind: ProblemKind;
  status: number;
  detail: string;
  errors?: FieldProblem[];
  retryAfterMs?: number;
  /** A more precise title than the kind's own. */
  title?: string;
}

export function problemType(kind: ProblemKind): string {
  return `https://mixtape.invalid/problems/${kind}`;
}

/** Writes an RFC 9457 problem document. `Retry-After` is whole seconds, rounded up. */
export function sendProblem(res: Response, problem: Problem): void {
  if (problem.retryAfterMs !== undefined) res.setHeader('Retry-After', String(Math.max(1, Math.ceil(problem.retryAfterMs / 1000))));
  if (problem.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="mixtape"');
  res
    .status(problem.status)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: problemType(problem.kind),
        title: problem.title ?? TITLES[problem.kind],
        status: problem.status,
        detail: problem.detail,
        ...(problem.errors && problem.errors.length > 0 ? { errors: problem.errors } : {}),
      }),
    );
}

interface CodeMapping {
  kind: ProblemKind;
  status: number;
  retryAfterMs?: number;
  /** Said instead of the error's message, which may name what a client must not see. */
  detail?: string;
}

const INTERNAL_DETAIL = 'Something went wrong on our side';

/**
 * Every code (a `Record`, so a new code does not compile until it is mapped here). Adapters
 * translate their drivers' faults into these, so nothing else is recognised.
 */
export const PROBLEM_BY_CODE: Readonly<Record<MixtapeErrorCode, CodeMapping>> = {
  ERR_VALIDATION: { kind: 'validation', status: 400 },
  ERR_UNAUTHORIZED: { kind: 'unauthorized', status: 401 },
  ERR_FORBIDDEN: { kind: 'forbidden', status: 403 },
  ERR_NOT_FOUND: { kind: 'not-found', status: 404 },
  ERR_CONFLICT: { kind: 'conflict', status: 409 },
  ERR_QUOTA_EXCEEDED: { kind: 'quota-exceeded', status: 403 },
  // A slot frees when one of the user's jobs ends, which takes seconds rather than minutes.
  ERR_TOO_MANY_JOBS: { kind: 'rate-limited', status: 429, retryAfterMs: 5000 },
  // An UnavailableError says when to come back; this is for a bare MixtapeError of the code.
  ERR_UNAVAILABLE: { kind: 'unavailable', status: 503, retryAfterMs: 5000 },
  // Another process took over the lock or the lease meanwhile (contention, a pause): asking
  // again soon succeeds, so it is a dependency's condition, not a bug.
  ERR_LOCK_LOST: { kind: 'unavailable', status: 503, retryAfterMs: 1000 },
  ERR_LEASE_LOST: { kind: 'unavailable', status: 503, retryAfterMs: 1000 },
  // This process is going away; another instance, or this one restarted, will answer.
  ERR_SHUTTING_DOWN: { kind: 'unavailable', status: 503, retryAfterMs: 1000 },
  // The audio origin failed: a dependency, whose message may name its address.
  ERR_SOURCE: { kind: 'unavailable', status: 503, retryAfterMs: 5000, detail: 'The audio source cannot answer now; try again' },
  // The track is larger than MIXTAPE_MAX_TRACK_BYTES: a refusal that asking again will not change.
  ERR_TOO_LARGE: { kind: 'forbidden', status: 403 },
  // Our own faults, whatever reached a request: a 500 that says nothing of its cause.
  ERR_CONFIG: { kind: 'internal', status: 500, detail: INTERNAL_DETAIL },
  ERR_INTERNAL: { kind: 'internal', status: 500, detail: INTERNAL_DETAIL },
};

/** What an error means to a client. Anything unexpected is a 500 that says nothing of its cause. */
export function problemFor(error: unknown): Problem {
  if (error instanceof MixtapeError) {
    const { detail, ...mapped } = PROBLEM_BY_CODE[error.code];
    return {
      ...mapped,
      detail: detail ?? error.message,
      ...(error instanceof ValidationError ? { errors: error.errors } : {}),
      ...(error instanceof UnavailableError ? { retryAfterMs: error.retryAfterMs } : {}),
    };
  }
  return bodyParserProblem(error) ?? clientErrorProblem(error) ?? { kind: 'internal', status: 500, detail: INTERNAL_DETAIL };
}

function bodyParserProblem(error: unknown): Problem | null {
  if (typeof error !== 'object' || error === null || !('type' in error)) return null;
  switch ((error as { type: unknown }).type) {
    case 'entity.too.large':
      return { kind: 'validation', status: 413, detail: 'The request body is larger than 16 KiB' };
    case 'entity.parse.failed':
      return { kind: 'validation', status: 400, detail: 'The request body is not valid JSON' };
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return { kind: 'validation', status: 415, detail: 'The request body encoding is not supported' };
    case 'request.size.invalid':
      return { kind: 'validation', status: 400, detail: 'The request body does not match its Content-Length' };
    case 'request.aborted':
      return { kind: 'validation', status: 400, detail: 'The request body did not arrive in full' };
    default:
      return null;
  }
}

/** zlib's codes (Z_DATA_ERROR, Z_BUF_ERROR) and brotli's (ERR__ERROR_FORMAT_…) for bytes it cannot decode. */
const DECODING_FAILED = /^(Z_|ERR__|ERR_BROTLI|ERR_ZSTD)/;

/**
 * Other client errors raised by Express, its router and body-parser, which give them a 4xx
 * `status` as Express's own final handler reads it: a body that claims a Content-Encoding it
 * does not have, a path parameter that is not valid percent-encoding. The detail is ours, never
 * the error's message.
 */
function clientErrorProblem(error: unknown): Problem | null {
  if (typeof error !== 'object' || error === null) return null;
  const { status, code } = error as { status?: unknown; code?: unknown };
  if (typeof status !== 'number' || status < 400 || status > 499) return null;
  if (typeof code === 'string' && DECODING_FAILED.test(code)) {
    return { kind: 'validation', status: 400, detail: 'The request body is not encoded as its Content-Encoding says' };
  }
  if (status === 413 || status === 415) return { kind: 'validation', status, detail: 'The request body cannot be read' };
  return { kind: 'validation', status: 400, detail: 'The request cannot be read' };
}

/** Set for the answer a route was preparing; a problem is a different representation. */
const REPRESENTATION_HEADERS = [
  'ETag',
  'Last-Modified',
  'Content-Disposition',
  'Content-Range',
  'Accept-Ranges',
  'Content-Length',
  'Content-Encoding',
  'X-Content-Type-Options',
];

/** What a client that closed its connection causes: nothing is wrong on our side, and nobody is left to answer. */
const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);

function clientWentAway(error: unknown, req: Request): boolean {
  if (!req.socket.destroyed || typeof error !== 'object' || error === null) return false;
  const { code, type } = error as { code?: unknown; type?: unknown };
  return type === 'request.aborted' || (typeof code === 'string' && CLIENT_GONE.has(code));
}

export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const context = { requestId: res.getHeader('X-Request-Id'), route: req.route?.path };
    if (clientWentAway(error, req)) {
      logger.debug({ ...context, code: (error as { code?: unknown }).code ?? (error as { type?: unknown }).type }, 'client went away');
      res.destroy();
      return;
    }
    const problem = problemFor(error);
    // A dependency that is down answers a 503 by design, to every request until it is back:
    // a warning each, not an error, so that real faults still stand out in the error log.
    if (problem.status === 503) logger.warn({ err: error, ...context }, 'request refused: a dependency is unavailable');
    else if (problem.status >= 500) logger.error({ err: error, ...context }, 'request failed');
    // Headers gone means the body was under way: only cutting the connection tells the client.
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    for (const name of REPRESENTATION_HEADERS) res.removeHeader(name);
    sendProblem(res, problem);
  };
}

export const notFoundHandler: RequestHandler = (req, res) => {
  sendProblem(res, { kind: 'not-found', status: 404, detail: `No route for ${req.method} ${req.path}` });
};
