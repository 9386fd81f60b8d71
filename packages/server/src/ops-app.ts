import express, { type Express } from 'express';
import type { Mixtape } from '@mixtape/core';
import { observeRequests } from './http/observe-requests.js';
import { notFoundHandler, problemHandler } from './http/problem.js';
import { requestId } from './http/request-context.js';
import type { Logger } from './logger.js';
import { opsRoutes, type OpsOptions } from './routes/ops-routes.js';

export interface OpsAppOptions extends OpsOptions {
  mixtape: Mixtape;
  logger: Logger;
}

/**
 * The face of a process that serves no API (`mixtape worker`): `/livez`, `/readyz`, `/health`
 * and `/metrics` from the same routes as the API server, and a 404 problem for anything else.
 */
export function createOpsApp(options: OpsAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy ?? false);
  app.use(requestId);
  app.use(observeRequests(options.mixtape.metrics, options.logger));
  app.use(opsRoutes(options.mixtape, options));
  app.use(notFoundHandler);
  app.use(problemHandler(options.logger));
  return app;
}
