import { timingSafeEqual } from 'node:crypto';
import { Router, type Request } from 'express';
import type { Mixtape } from '@mixtape/core';
import { sendProblem } from '../http/problem.js';

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

function bearerMatches(req: Request, token: string): boolean {
  const given = Buffer.from(req.get('Authorization') ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Liveness, readiness, health+json and metrics: outside /api/v1, for probes and scrapers. */
export function opsRoutes(mixtape: Mixtape, options: { metricsToken: string | null }): Router {
  const router = Router();

  router.get('/livez', (_req, res) => {
    res.type('text/plain').send('ok');
  });

  router.get('/readyz', async (_req, res) => {
    const report = await mixtape.health('critical');
    if (report.status === 'fail') res.setHeader('Retry-After', '5');
    res.status(report.status === 'fail' ? 503 : 200).type('text/plain').send(report.status === 'fail' ? 'not ready' : 'ready');
  });

  router.get('/health', async (_req, res) => {
    const report = await mixtape.health();
    res
      .status(report.status === 'fail' ? 503 : 200)
      .type('application/health+json')
      .send(JSON.stringify({ status: report.status, checks: report.checks }));
  });

  // Without a token, metrics are for the machine itself: the socket address decides, never a header.
  router.get('/metrics', async (req, res) => {
    if (options.metricsToken ? !bearerMatches(req, options.metricsToken) : !isLoopback(req.socket.remoteAddress)) {
      return sendProblem(res, {
        kind: options.metricsToken ? 'unauthorized' : 'forbidden',
        status: options.metricsToken ? 401 : 403,
        detail: options.metricsToken ? 'Metrics need the metrics bearer token' : 'Metrics are served on loopback only',
      });
    }
    const { registry } = mixtape.metrics;
    res.type(registry.contentType).send(await registry.metrics());
  });

  return router;
}
