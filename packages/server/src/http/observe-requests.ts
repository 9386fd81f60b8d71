import type { Request, RequestHandler } from 'express';
import type { MixtapeMetrics } from '@mixtape/core';
import type { Logger } from '../logger.js';

/** The route pattern, never the raw path, so metric labels stay bounded. */
function routeOf(req: Request): string {
  const pattern = req.route?.path;
  return typeof pattern === 'string' ? `${req.baseUrl}${pattern}` : 'unmatched';
}

/** Counts, times and logs each request when its response is finished. */
export function observeRequests(metrics: MixtapeMetrics, logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      const seconds = (performance.now() - started) / 1000;
      const route = routeOf(req);
      metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      metrics.httpDuration.observe({ method: req.method, route }, seconds);
      logger.info(
        {
          requestId: res.getHeader('X-Request-Id'),
          method: req.method,
          route,
          status: res.statusCode,
          ms: Math.round(seconds * 1000),
        },
        'request',
      );
    });
    next();
  };
}
