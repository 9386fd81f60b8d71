import type { Request, RequestHandler } from 'express';

/** Every method the API answers. */
const ALLOWED_METHODS = 'GET, HEAD, POST, DELETE';
/** What the client sends beyond the CORS-safelisted headers: tokens, JSON, conditional and range requests. */
const ALLOWED_HEADERS = 'Authorization, Content-Type, If-None-Match, If-Range, Range, X-Request-Id';
/**
 * API.md's list: what a browser app needs to read to back off, cache, resume and report; and
 * Content-Disposition, so that it can save a download under the name the server gave it.
 */
const EXPOSED_HEADERS = [
  'Content-Disposition',
  'Retry-After',
  'ETag',
  'Content-Range',
  'Location',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
  'RateLimit-Policy',
  'X-Request-Id',
].join(', ');
/** Seconds a browser may reuse a preflight's answer: a changed origin list is seen within minutes. */
const MAX_AGE_SECONDS = '600';

function isPreflight(req: Request): boolean {
  return req.method === 'OPTIONS' && req.get('Access-Control-Request-Method') !== undefined;
}

/**
 * CORS for `MIXTAPE_CORS_ORIGINS`, exact origins only. A listed origin is echoed (never `*`)
 * on every answer, problems included; any other origin gets no CORS header at all. Credentials
 * are never allowed: the API takes bearer tokens, not cookies. Preflights are answered here,
 * before rate limits and authentication, which a preflight never carries the means to pass.
 */
export function cors(origins: readonly string[]): RequestHandler {
  const listed = new Set(origins);
  return (req, res, next) => {
    // Every answer depends on the origin, so a shared cache must not hand one origin's to another.
    res.vary('Origin');
    const origin = req.get('Origin');
    if (origin === undefined) return next();
    const allowed = listed.has(origin);
    if (isPreflight(req)) {
      if (allowed) {
        res.setHeader('Access-Control-Allow-Origin', origin);
        res.setHeader('Access-Control-Allow-Methods', ALLOWED_METHODS);
        res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
        res.setHeader('Access-Control-Max-Age', MAX_AGE_SECONDS);
      }
      // Unlisted, the answer without CORS headers is the browser's refusal.
      res.status(204).end();
      return;
    }
    if (allowed) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    }
    next();
  };
}
