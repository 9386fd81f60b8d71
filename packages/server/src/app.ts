import express, { type Express } from 'express';
import type { Mixtape, RateLimitPolicies, TrustProxy } from '@mixtape/core';
import { cors } from './http/cors.js';
import { observeRequests } from './http/observe-requests.js';
import { notFoundHandler, problemHandler } from './http/problem.js';
import { clientAddressKey, rateLimit } from './http/rate-limit.js';
import { requestId } from './http/request-context.js';
import type { Logger } from './logger.js';
import { openApiDocumentFor } from './openapi.js';
import { adminRoutes } from './routes/admin-routes.js';
import { authRoutes } from './routes/auth-routes.js';
import { downloadRoutes } from './routes/download-routes.js';
import { libraryRoutes } from './routes/library-routes.js';
import { opsRoutes } from './routes/ops-routes.js';
import type { RouteContext } from './routes/route-context.js';
import { trackRoutes } from './routes/track-routes.js';

export const API_PREFIX = '/api/v1';

export interface AppOptions {
  mixtape: Mixtape;
  policies: RateLimitPolicies;
  logger: Logger;
  metricsToken: string | null;
  /** Express `trust proxy`; unset trusts no proxy, so the socket address is the client. */
  trustProxy: TrustProxy | null;
  /** True once a shutdown has begun: `/readyz` then answers 503. */
  shuttingDown?: () => boolean;
  /** Aborted when a shutdown begins: open event streams end, so their clients reconnect elsewhere. */
  shutdown?: AbortSignal;
  /** `MIXTAPE_CORS_ORIGINS`: browser origins that may call the API; none, no CORS. */
  corsOrigins?: readonly string[];
}

/** The HTTP face of Mixtape: parse, call one service, map the outcome. */
export function createApp(options: AppOptions): Express {
  const { mixtape, policies, logger } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy ?? false);
  app.set('query parser', 'simple');

  const context: RouteContext = {
    mixtape,
    policies,
    limits: {
      stores: mixtape.backends.rateLimitStores,
      onReject: (policy) => mixtape.metrics.rateLimitRejections.inc({ policy }),
      logger,
    },
    shutdown: options.shutdown,
  };
  app.use(requestId);
  app.use(observeRequests(mixtape.metrics, logger));
  // Probes and scrapes must answer whatever a client has spent, so only the API is limited.
  app.use(opsRoutes(mixtape, options));

  const api = express.Router();
  api.use(express.json({ limit: '16kb', strict: true, type: ['application/json', 'application/*+json'] }));
  // Stated from the same validators the routes' schemas are built from.
  const openApiDocument = openApiDocumentFor(mixtape.validators);
  api.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  for (const routes of [authRoutes, trackRoutes, downloadRoutes, libraryRoutes, adminRoutes]) api.use(routes(context));
  // Handled inside the router, before Express resets `req.baseUrl`, so metrics see the full route.
  api.use(problemHandler(logger));
  // Before the limits and authentication: a preflight carries no token and is never counted.
  if (options.corsOrigins?.length) app.use(API_PREFIX, cors(options.corsOrigins));
  // Before the API's body parser, so a client over the limit costs no parsing.
  app.use(API_PREFIX, rateLimit(context.limits, policies.global, clientAddressKey), api);

  app.use(notFoundHandler);
  app.use(problemHandler(logger));
  return app;
}
