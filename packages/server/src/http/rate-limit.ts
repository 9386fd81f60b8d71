import type { Request, RequestHandler, Response } from 'express';
import type { RateLimitDecision, RateLimiter, RateLimitPolicy } from '@mixtape/core';
import { sendProblem } from './problem.js';

export interface RateLimitContext {
  limiter: RateLimiter;
  onReject: (policy: string) => void;
}

/** `RateLimit-*` headers (IETF draft) so clients can pace themselves before they are refused. */
export function setRateLimitHeaders(res: Response, decision: RateLimitDecision): void {
  res.setHeader('RateLimit-Limit', String(decision.limit));
  res.setHeader('RateLimit-Remaining', String(Math.max(0, decision.remaining)));
  res.setHeader('RateLimit-Reset', String(Math.max(0, Math.ceil((decision.resetAt - Date.now()) / 1000))));
}

export function reject(res: Response, context: RateLimitContext, policy: RateLimitPolicy, decision: RateLimitDecision): void {
  context.onReject(policy.name);
  setRateLimitHeaders(res, decision);
  sendProblem(res, {
    kind: 'rate-limited',
    status: 429,
    detail: `Too many requests (${policy.name} allows ${policy.limit} per ${Math.round(policy.windowMs / 1000)} s)`,
    retryAfterMs: decision.retryAfterMs,
  });
}

/** Counts every request against `policy` under the key `keyOf` gives. */
export function rateLimit(context: RateLimitContext, policy: RateLimitPolicy, keyOf: (req: Request, res: Response) => string): RequestHandler {
  return async (req, res, next) => {
    const decision = await context.limiter.hit(policy, keyOf(req, res));
    if (!decision.allowed) return reject(res, context, policy, decision);
    setRateLimitHeaders(res, decision);
    next();
  };
}
