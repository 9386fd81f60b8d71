import type { MixtapeConfig } from '@mixtape/core';
import { serveGracefully } from './graceful-shutdown.js';
import type { Logger } from './logger.js';
import { mixtapeFromConfig } from './mixtape-from-config.js';
import { createOpsApp } from './ops-app.js';
import type { RunningServer } from './server.js';

/**
 * `mixtape worker`: download workers apart from the API (at least one, whatever
 * `MIXTAPE_WORKERS` says), watched through the ops paths on `MIXTAPE_HOST`:`config.workerPort`.
 * Its `/metrics` are this process's own: the downloads it ran. It seeds nothing.
 */
export async function startWorker(config: MixtapeConfig, logger: Logger): Promise<RunningServer> {
  const mixtape = await mixtapeFromConfig(config, logger, { workers: Math.max(1, config.workers) });
  return serveGracefully({
    mixtape,
    host: config.host,
    port: config.workerPort,
    graceMs: config.shutdownGraceMs,
    logger,
    app: (shutdown) =>
      createOpsApp({
        mixtape,
        logger,
        metricsToken: config.metricsToken,
        trustProxy: config.trustProxy,
        shuttingDown: () => shutdown.aborted,
      }),
  });
}
