import { Router, type Request } from 'express';
import Joi from 'joi';
import { ConflictError, JOB_STATUSES, NotFoundError, ValidationError, type MixtapeValidators } from '@mixtape/core';
import { authenticate, requireAdmin } from '../http/authenticate.js';
import { jobResource } from '../http/job-resource.js';
import { joiPage, joiText } from '../http/joi-from-validators.js';
import { parse } from '../http/validate.js';
import type { RouteContext } from './route-context.js';

const listQuerySchema = (rules: MixtapeValidators) => Joi.object({ status: Joi.string().valid(...JOB_STATUSES), ...joiPage(rules.adminJobPage) });
const jobParamsSchema = (rules: MixtapeValidators) => Joi.object({ jobId: joiText(rules.jobId).required() });
/**
 * A real pass removes files, so a misspelt `dryRun` (`dryrun`, `dry_run`, `dryRun[]`) must be
 * refused rather than ignored as other routes ignore unknown query parameters: ignored, it
 * would run the very pass it meant to avoid. The flag is a query parameter; a body has no field.
 */
const reconcileQuery = Joi.object({ dryRun: Joi.boolean().default(false) })
  .prefs({ stripUnknown: false })
  .messages({ 'object.unknown': '{{#label}} is not a parameter of this route (a dry run is ?dryRun=true)' });
const reconcileBody = Joi.object({}).messages({ 'object.unknown': '{{#label}} is not allowed: this route takes no fields (a dry run is ?dryRun=true)' });

/** A body no parser read (a form, text): refused, so that `curl -d dryRun=true` cannot run a real pass either. */
function hasUnreadBody(req: Request): boolean {
  return req.body === undefined && (req.get('Transfer-Encoding') !== undefined || Number(req.get('Content-Length') ?? 0) > 0);
}

export function adminRoutes({ mixtape }: RouteContext): Router {
  const router = Router();
  const listQuery = listQuerySchema(mixtape.validators);
  const jobParams = jobParamsSchema(mixtape.validators);
  // The publishing queue, so that a retried job's followers hear of it.
  const { queue } = mixtape;
  const admin = [authenticate(mixtape.auth), requireAdmin(mixtape.roles)];

  router.get('/admin/jobs', ...admin, async (req, res) => {
    const query = parse(listQuery, req.query, 'query');
    const page = await queue.list(query);
    res.json({ items: page.items.map(jobResource), total: page.total });
  });

  router.post('/admin/jobs/:jobId/retry', ...admin, async (req, res) => {
    const { jobId } = parse(jobParams, req.params, 'params');
    const outcome = await queue.retry(jobId);
    if (outcome.kind === 'not-found') throw new NotFoundError('No such download job');
    if (outcome.kind === 'not-failed') throw new ConflictError(`Only failed jobs can be retried; this one is ${outcome.job.status}`);
    if (outcome.kind === 'duplicate') throw new ConflictError(`The user has asked for this track again since: job ${outcome.active.id} is ${outcome.active.status}`);
    mixtape.workers.wake();
    res.status(202).json(jobResource(outcome.job));
  });

  router.post('/admin/reconcile', ...admin, async (req, res) => {
    const { dryRun } = parse(reconcileQuery, req.query, 'query');
    if (hasUnreadBody(req)) throw new ValidationError('This route takes no body', [{ path: 'body', message: 'must be empty or {}' }]);
    if (req.body !== undefined) parse(reconcileBody, req.body, 'body');
    res.json(await mixtape.reconciler.run({ dryRun }));
  });

  return router;
}
