import { timingSafeEqual } from 'node:crypto';
import { Router, type Request } from 'express';
import type { Mixtape, TrustProxy } from '@mixtape/core';
import { sendProblem } from '../http/problem.js';

export interface OpsOptions {
  metricsToken: string | null;
  /** `MIXTAPE_TRUST_PROXY`; null when unset. Any proxy setting closes token-less metrics. */
  trustProxy: TrustProxy | null;
  /** True from the moment a shutdown begins: readiness drops so load balancers stop sending. */
  shuttingDown?: () => boolean;
}

/** Seconds a probe is told to wait before asking again. */
const RETRY_AFTER_SECONDS = '5';

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

/** The scheme's name in any case (RFC 9110 §11.1); the token compared in constant time. */
function bearerMatches(req: Request, token: string): boolean {
  const credentials = /^Bearer +(.+)$/i.exec(req.get('Authorization') ?? '');
  const given = Buffer.from(credentials?.[1] ?? '');
  const expected = Buffer.from(token);
  return credentials !== null && given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Headers that proxies, load balancers and CDNs add to a request they pass on: `Via` (which
 * RFC 9110 requires of every proxy), the standard `Forwarded`, and the common unofficial ones.
 * Any of them, even empty, says the peer is relaying someone else.
 */
const FORWARDING_HEADERS = [
  'Forwarded',
  'Via',
  'X-Forwarded-For',
  'X-Forwarded-Host',
  'X-Forwarded-Proto',
  'X-Forwarded-Port',
  'Forwarded-For',
  'X-Real-IP',
  'X-Client-IP',
  'X-Cluster-Client-IP',
  'True-Client-IP',
  'CF-Connecting-IP',
  'Fastly-Client-IP',
];

/**
 * Without a token, metrics are for the machine itself. A reverse proxy on the same host
 * connects from loopback on behalf of anyone, so a loopback socket is not enough: a trusted
 * proxy setting or a forwarding header says some other client may be behind it. A proxy that
 * adds no header at all cannot be told apart; behind one, only MIXTAPE_METRICS_TOKEN helps.
 */
function isLocalScrape(req: Request, trustProxy: TrustProxy | null): boolean {
  return (
    trustProxy === null &&
    FORWARDING_HEADERS.every((name) => req.get(name) === undefined) &&
    isLoopback(req.socket.remoteAddress)
  );
}

/** Liveness, readiness, health+json and metrics: outside /api/v1, for probes and scrapers. */
export function opsRoutes(mixtape: Mixtape, options: OpsOptions): Router {
  const router = Router();

  router.get('/livez', (_req, res) => {
    res.type('text/plain').send('ok');
  });

  router.get('/readyz', async (_req, res) => {
    if (options.shuttingDown?.()) {
      res.setHeader('Retry-After', RETRY_AFTER_SECONDS);
      res.status(503).type('text/plain').send('shutting down');
      return;
    }
    const report = await mixtape.health('critical');
    if (report.status === 'fail') res.setHeader('Retry-After', RETRY_AFTER_SECONDS);
    res.status(report.status === 'fail' ? 503 : 200).type('text/plain').send(report.status === 'fail' ? 'not ready' : 'ready');
  });

  router.get('/health', async (_req, res) => {
    const report = await mixtape.health();
    res
      .status(report.status === 'fail' ? 503 : 200)
      .type('application/health+json')
      .send(JSON.stringify({ status: report.status, checks: report.checks }));
  });

  router.get('/metrics', async (req, res) => {
    if (options.metricsToken !== null) {
      if (!bearerMatches(req, options.metricsToken)) {
        return sendProblem(res, { kind: 'unauthorized', status: 401, detail: 'Metrics need the metrics bearer token' });
      }
    } else if (!isLocalScrape(req, options.trustProxy)) {
      return sendProblem(res, {
        kind: 'forbidden',
        status: 403,
        detail: 'Without MIXTAPE_METRICS_TOKEN, metrics are served only to a direct loopback client, never through a proxy',
      });
    }
    const { registry } = mixtape.metrics;
    res.type(registry.contentType).send(await registry.metrics());
  });

  return router;
}
