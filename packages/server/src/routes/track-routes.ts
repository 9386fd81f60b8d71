import { Router } from 'express';
import Joi from 'joi';
import { toTrack, type MixtapeValidators } from '@mixtape/core';
import { authenticate } from '../http/authenticate.js';
import { rateLimit } from '../http/rate-limit.js';
import { principalOf } from '../http/request-context.js';
import { joiPage, joiText } from '../http/joi-from-validators.js';
import { parse } from '../http/validate.js';
import type { RouteContext } from './route-context.js';

// TrackSearch's own rules, so the answer names `q` before any work is done.
const searchQuerySchema = (rules: MixtapeValidators) => Joi.object({ q: joiText(rules.searchQuery).required(), ...joiPage(rules.searchPage) });
const trackParamsSchema = (rules: MixtapeValidators) => Joi.object({ trackId: joiText(rules.trackId).required() });

export function trackRoutes({ mixtape, policies, limits }: RouteContext): Router {
  const router = Router();
  const searchQuery = searchQuerySchema(mixtape.validators);
  const trackParams = trackParamsSchema(mixtape.validators);
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
