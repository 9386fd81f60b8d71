import { Router } from 'express';
import Joi from 'joi';
import { ConflictError, JOB_STATUSES, NotFoundError, type MixtapeValidators } from '@mixtape/core';
import { authenticate } from '../http/authenticate.js';
import { streamJobEvents } from '../http/job-event-stream.js';
import { jobResource } from '../http/job-resource.js';
import { rateLimit } from '../http/rate-limit.js';
import { principalOf } from '../http/request-context.js';
import { joiPage, joiText } from '../http/joi-from-validators.js';
import { parse } from '../http/validate.js';
import type { RouteContext } from './route-context.js';

// DownloadService checks the reference's form itself, and says why a link is not a track.
const requestBodySchema = (rules: MixtapeValidators) => Joi.object({ track: joiText(rules.trackRef, { patternCheckedByService: true }).required() });
const listQuerySchema = (rules: MixtapeValidators) => Joi.object({ status: Joi.string().valid(...JOB_STATUSES), ...joiPage(rules.downloadPage) });
const jobParamsSchema = (rules: MixtapeValidators) => Joi.object({ jobId: joiText(rules.jobId).required() });

export function downloadRoutes({ mixtape, policies, limits, shutdown }: RouteContext): Router {
  const router = Router();
  const requestBody = requestBodySchema(mixtape.validators);
  const listQuery = listQuerySchema(mixtape.validators);
  const jobParams = jobParamsSchema(mixtape.validators);
  const { downloads } = mixtape;
  // Per route rather than router.use, so a refused request still carries its route's label.
  const signedIn = authenticate(mixtape.auth);

  router.post('/downloads', signedIn, rateLimit(limits, policies.download, (_req, res) => `user:${principalOf(res).userId}`), async (req, res) => {
    const body = parse(requestBody, req.body, 'body');
    const job = await downloads.request(principalOf(res).userId, body.track);
    res.status(202).location(`${req.baseUrl}/downloads/${job.id}`).json(jobResource(job));
  });

  router.get('/downloads', signedIn, async (req, res) => {
    const query = parse(listQuery, req.query, 'query');
    const page = await downloads.list(principalOf(res).userId, query);
    res.json({ items: page.items.map(jobResource), total: page.total });
  });

  router.get('/downloads/:jobId', signedIn, async (req, res) => {
    const { jobId } = parse(jobParams, req.params, 'params');
    res.json(jobResource(await downloads.get(principalOf(res).userId, jobId)));
  });

  router.get('/downloads/:jobId/events', signedIn, async (req, res) => {
    const { jobId } = parse(jobParams, req.params, 'params');
    const userId = principalOf(res).userId;
    await streamJobEvents(req, res, {
      load: () => downloads.get(userId, jobId),
      follow: (onChange) => mixtape.jobEvents.subscribe(jobId, onChange),
      shutdown,
    });
  });

  router.delete('/downloads/:jobId', signedIn, async (req, res) => {
    const { jobId } = parse(jobParams, req.params, 'params');
    const outcome = await downloads.cancel(principalOf(res).userId, jobId);
    if (outcome.kind === 'not-found') throw new NotFoundError('No such download job');
    if (outcome.kind === 'conflict') throw new ConflictError(`The job is ${outcome.job.status} and can no longer be cancelled`);
    res.status(204).end();
  });

  return router;
}
