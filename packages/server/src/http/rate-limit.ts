import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit as expressRateLimit, type RateLimitInfo } from 'express-rate-limit';
import { rateLimitDecision, type RateLimitPolicy, type RateLimitStores } from '@mixtape/core';
import type { Logger } from '../logger.js';
import { sendProblem } from './problem.js';

export interface RateLimitContext {
  stores: RateLimitStores;
  onReject: (policy: string) => void;
  /** Where express-rate-limit reports a misconfiguration it detects. */
  logger: Logger;
}

export interface RateLimitOptions {
  /**
   * Keep the hit only when the answer is one this calls a failed attempt (for a login: a
   * password judged wrong), and give it back for every other answer: a success, a fault of ours,
   * and a refusal, by this limit or any other, that judged nothing. The hit is still counted
   * first, so parallel attempts cannot pass together. Without it every request counts.
   */
  countOnly?: (res: Response) => boolean;
}

/** IPv6 clients can use a whole /56, so they are counted per /56, as express-rate-limit advises. */
const IPV6_SUBNET = 56;

/** The client's address as a rate limit key: IPv4-mapped IPv6 as its IPv4 address, other IPv6 as its /56. */
export function clientAddressKey(req: Request): string {
  // Express leaves `ip` undefined once the socket is gone; such a request gets no answer anyway.
  return ipKeyGenerator(req.ip ?? 'unknown', IPV6_SUBNET);
}

/**
 * Counts every request against `policy` under the key `keyOf` gives, before it is checked, and
 * answers 429 `rate-limited` beyond the limit. One store per call, as express-rate-limit wants.
 */
export function rateLimit(
  context: RateLimitContext,
  policy: RateLimitPolicy,
  keyOf: (req: Request, res: Response) => string,
  options: RateLimitOptions = {},
): RequestHandler {
  return expressRateLimit({
    windowMs: policy.windowMs,
    limit: policy.limit,
    store: context.stores.storeFor(policy),
    keyGenerator: keyOf,
    // `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`, as the README promises.
    standardHeaders: 'draft-6',
    legacyHeaders: false,
    skipSuccessfulRequests: options.countOnly !== undefined,
    requestWasSuccessful: (_req, res) => !(options.countOnly?.(res) ?? true),
    handler: (req, res) => {
      const info = (req as Request & { rateLimit: RateLimitInfo }).rateLimit;
      const decision = rateLimitDecision(policy, { totalHits: info.used, resetTime: info.resetTime });
      context.onReject(policy.name);
      sendProblem(res, {
        kind: 'rate-limited',
        status: 429,
        detail: `Too many requests (${policy.name} allows ${policy.limit} per ${Math.round(policy.windowMs / 1000)} s)`,
        retryAfterMs: decision.retryAfterMs,
      });
    },
    logger: {
      warn: (error, message) => context.logger.warn({ err: error }, message ?? 'rate limit configuration'),
      error: (error, message) => context.logger.error({ err: error }, message ?? 'rate limit configuration'),
    },
  });
}
