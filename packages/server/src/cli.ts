#!/usr/bin/env node
import pino from 'pino';
import { ConfigError, generateSecret, type MixtapeConfig } from '@mixtape/core';
import { adminCommand } from './admin-command.js';
import { openBackends } from './backends.js';
import { loadConfig } from './load-config.js';
import { createLogger, type Logger } from './logger.js';
import { reconcileCommand } from './reconcile-command.js';
import { startServer, type RunningServer } from './server.js';
import { transferCommand } from './transfer-command.js';
import { startWorker } from './worker.js';

/** sysexits(3): the conventions service managers understand. */
const EXIT = { usage: 64, software: 70, config: 78 } as const;

const USAGE = `Usage: mixtape <command>

Commands:
  serve      apply pending migrations, serve the HTTP API and run download workers
  worker     run download workers only; serves /livez, /readyz, /health and /metrics
             on MIXTAPE_HOST:MIXTAPE_PORT (default port 3001; 0 picks a free one)
  migrate    apply database migrations, then exit
  keygen     print a new random JWT secret (base64url, 256 bits)
  reconcile [--dry-run] [--json]
             one reconciler pass over files, rows, search documents and jobs.
             --dry-run changes nothing at all: it reads the database read-only, applies
             no migration (it lists pending ones), seeds nothing and removes no file;
             where there is no database yet it says there is nothing to check, creates
             none, and exits 0
  admin grant <username> | admin revoke <username>
             give or take the admin role (roles live in the database)
  transfer --to <mysql url> [--json]
             copy the embedded database into an empty MySQL database; the audio files
             stay where they are (mixtape transfer --help says more)
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'keygen') {
    process.stdout.write(`${generateSecret()}\n`);
    return 0;
  }
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command === undefined ? EXIT.usage : 0;
  }
  if (command === 'reconcile') {
    const unknown = rest.filter((a) => a !== '--dry-run' && a !== '--json');
    if (unknown.length > 0) {
      process.stderr.write(`mixtape reconcile: unknown options: ${unknown.join(' ')}\n`);
      return EXIT.usage;
    }
    const config = loadConfig();
    // Quiet unless asked, and on stderr: the report is the output (`--json` must be one document).
    const logger = createLogger({ level: process.env.MIXTAPE_LOG_LEVEL ?? 'warn', destination: pino.destination({ fd: 2, sync: true }) });
    return reconcileCommand(config, logger, { dryRun: rest.includes('--dry-run'), json: rest.includes('--json') });
  }
  if (command === 'admin') return adminCommand(rest, loadConfig);
  if (command === 'transfer') return transferCommand(rest, loadConfig);
  if (rest.length > 0) {
    process.stderr.write(`mixtape ${command}: unexpected arguments: ${rest.join(' ')}\n`);
    return EXIT.usage;
  }
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel });
  switch (command) {
    case 'serve':
      return serve(config, logger);
    case 'worker':
      return work(config, logger);
    case 'migrate':
      return migrate(config);
    default:
      process.stderr.write(`mixtape: unknown command "${command}"\n\n${USAGE}`);
      return EXIT.usage;
  }
}

async function serve(config: MixtapeConfig, logger: Logger): Promise<number> {
  const running = await startServer(config, logger);
  return runUntilSignal(running, config, logger, () => {
    logger.info({ url: running.url, workers: config.workers }, 'serving');
    process.stdout.write(`Mixtape is listening on ${running.url}\n`);
  });
}

async function work(config: MixtapeConfig, logger: Logger): Promise<number> {
  const running = await startWorker(config, logger);
  return runUntilSignal(running, config, logger, () => {
    logger.info({ url: running.url, workers: Math.max(1, config.workers) }, 'download workers started');
    process.stdout.write(`Mixtape worker is listening on ${running.url}\n`);
  });
}

/**
 * The first SIGTERM or SIGINT begins a graceful shutdown (readiness drops at once, work in
 * flight gets `MIXTAPE_SHUTDOWN_GRACE_MS`). Later ones are noted and ignored, so that a
 * terminal's Ctrl-C reaching the process twice (npm forwards it too) cannot cut the drain short;
 * the grace bounds it anyway.
 */
/** How long past the grace a shutdown may still take (closing stores) before the process exits anyway. */
const SHUTDOWN_EXIT_MARGIN_MS = 5000;

/**
 * `announce` says where the process listens, once the signal handlers are in place: whoever reads
 * the URL may signal at once, and a SIGTERM before the handlers would kill the process outright
 * (a test saw `exit` by SIGTERM instead of 0 when the reader was quicker than the child).
 */
async function runUntilSignal(running: RunningServer, config: MixtapeConfig, logger: Logger, announce: () => void): Promise<number> {
  let stopping = false;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal, graceMs: config.shutdownGraceMs }, 'already shutting down');
        return;
      }
      stopping = true;
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  announce();
  const signal = await signalled;
  logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down');
  // The grace bounds the whole shutdown. A socket a driver half-closed (a database that went
  // silent) would otherwise keep the process alive after everything was stopped; unref'd, this
  // timer never holds the process up by itself.
  const deadline = setTimeout(() => {
    logger.warn({ graceMs: config.shutdownGraceMs }, 'still open after the shutdown grace; exiting');
    process.exit(0);
  }, config.shutdownGraceMs + SHUTDOWN_EXIT_MARGIN_MS);
  deadline.unref();
  await running.close();
  logger.info('stopped');
  return 0;
}

/**
 * `mixtape migrate`: opens the backends as every command does, applying what is pending whatever
 * MIXTAPE_MIGRATE says. It changes the database alone, so it neither needs nor waits on Redis.
 */
async function migrate(config: MixtapeConfig): Promise<number> {
  const backends = await openBackends(config, { migrate: true, redis: false });
  try {
    const applied = backends.appliedMigrations;
    process.stdout.write(applied.length > 0 ? `Applied migrations ${applied.join(', ')}\n` : 'No migrations pending\n');
    return 0;
  } finally {
    await backends.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) process.stderr.write(`${problem}\n`);
      process.exitCode = EXIT.config;
    } else {
      // A config-shaped error from elsewhere (pending migrations) is still the operator's to fix.
      const code = (error as { code?: unknown } | null)?.code;
      process.stderr.write(`mixtape: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = code === 'ERR_CONFIG' ? EXIT.config : EXIT.software;
    }
  },
);
