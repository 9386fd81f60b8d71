import { Router } from 'express';
import Joi from 'joi';
import { QUERY_CONTROL_CHARACTERS, QUERY_LENGTH, toTrack } from '@mixtape/core';
import { authenticate } from '../http/authenticate.js';
import { rateLimit } from '../http/rate-limit.js';
import { principalOf } from '../http/request-context.js';
import { parse, schemas } from '../http/validate.js';
import type { RouteContext } from './route-context.js';

const searchQuery = Joi.object({
  // The same rules as TrackSearch's, so the answer names `q` before any work is done.
  q: Joi.string()
    .trim()
    .min(QUERY_LENGTH.min)
    .max(QUERY_LENGTH.max)
    .pattern(QUERY_CONTROL_CHARACTERS, { invert: true })
    .required()
    .messages({ 'string.pattern.invert.base': '{{#label}} must not contain control characters' }),
  limit: schemas.limit(50, 20),
  offset: schemas.offset,
});
const trackParams = Joi.object({ trackId: schemas.trackId });

export function trackRoutes({ mixtape, policies, limits }: RouteContext): Router {
  const router = Router();
  const signedIn = authenticate(mixtape.auth);

  router.get('/tracks/search', signedIn, rateLimit(limits, policies.search, (_req, res) => `user:${principalOf(res).userId}`), async (req, res) => {
    const query = parse(searchQuery, req.query, 'query');
    res.json(await mixtape.search.search(query.q, { limit: query.limit, offset: query.offset }));
  });

  router.get('/tracks/:trackId', signedIn, async (req, res) => {
    const { trackId } = parse(trackParams, req.params, 'params');
    res.json(toTrack(await mixtape.resolver.resolve(trackId)));
  });

  return router;
}
