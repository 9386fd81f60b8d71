import type { Mixtape, RateLimitPolicies } from '@mixtape/core';
import type { RateLimitContext } from '../http/rate-limit.js';

/** What every route module needs: the services, the limits, and the auth middleware. */
export interface RouteContext {
  mixtape: Mixtape;
  policies: RateLimitPolicies;
  limits: RateLimitContext;
  /** Aborted when a shutdown begins; streaming responses listen to it and end at once. */
  shutdown?: AbortSignal;
}
