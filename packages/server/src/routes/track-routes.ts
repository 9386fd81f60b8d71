import { Router, type Response } from 'express';
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

/**
 * What a look-up spends of the shared Spotify budget, as `countOnly` reads it: a track the
 * provider was asked for, or a 404 (an id the provider did not know, or one the not-found cache
 * answers, which is as worthless to ask). A track from the catalog, a malformed id and a fault
 * spent nothing of it and are given back.
 */
const spentALookUp = (res: Response): boolean => res.statusCode === 404 || (res.statusCode === 200 && res.locals.lookedUp === true);

export function trackRoutes({ mixtape, policies, limits }: RouteContext): Router {
  const router = Router();
  const searchQuery = searchQuerySchema(mixtape.validators);
  const trackParams = trackParamsSchema(mixtape.validators);
  const signedIn = authenticate(mixtape.auth);

  router.get('/tracks/search', signedIn, rateLimit(limits, policies.search, (_req, res) => `user:${principalOf(res).userId}`), async (req, res) => {
    const query = parse(searchQuery, req.query, 'query');
    res.json(await mixtape.search.search(query.q, { limit: query.limit, offset: query.offset }));
  });

  // Look-ups the catalog cannot answer spend calls of the Spotify budget that every user shares,
  // so each user gets a share of them: counted before the look-up (parallel ones cannot all
  // pass), and kept only for an answer that asked the provider or names an id no one knows.
  const lookup = rateLimit(limits, policies.lookup, (_req, res) => `user:${principalOf(res).userId}`, { countOnly: spentALookUp });

  router.get('/tracks/:trackId', signedIn, lookup, async (req, res) => {
    const { trackId } = parse(trackParams, req.params, 'params');
    const track = await mixtape.resolver.resolve(trackId, undefined, { onLookUp: () => (res.locals.lookedUp = true) });
    res.json(toTrack(track));
  });

  return router;
}
