import { INCONSISTENCY_KINDS, NotFoundError, type MixtapeConfig, type ReconcileReport } from '@mixtape/core';
import { openBackends, type OpenedBackends } from './backends.js';
import type { Logger } from './logger.js';
import { mixtapeFromConfig } from './mixtape-from-config.js';

export interface ReconcileCommandOptions {
  dryRun: boolean;
  json: boolean;
}

/** What `mixtape reconcile` prints: the reconciler's report, and what kept it from looking. */
export interface ReconcileOutput extends ReconcileReport {
  /**
   * Migrations the database lacks. Only a dry run can see any: a real run applies them first.
   * Empty, too, where there is no database at all (`skipped` says so).
   */
  pendingMigrations: number[];
  /** Why nothing was checked, when nothing was. */
  skipped?: string;
}

/**
 * `mixtape reconcile [--dry-run] [--json]`: one reconciler pass. A dry run changes nothing at
 * all: it opens the database read-only, applies no migration, seeds nothing and removes no
 * file. Where there is no database it says there is nothing to check, and creates none.
 * Returns the exit code.
 */
export async function reconcileCommand(config: MixtapeConfig, logger: Logger, options: ReconcileCommandOptions): Promise<number> {
  const output = options.dryRun ? await dryRun(config, logger) : await realRun(config, logger);
  process.stdout.write(options.json ? `${JSON.stringify(output)}\n` : describe(output));
  return 0;
}

async function realRun(config: MixtapeConfig, logger: Logger): Promise<ReconcileOutput> {
  const mixtape = await mixtapeFromConfig(config, logger, { workers: 0 });
  try {
    return { ...(await mixtape.reconciler.run({ dryRun: false })), pendingMigrations: [] };
  } finally {
    await mixtape.close();
  }
}

async function dryRun(config: MixtapeConfig, logger: Logger): Promise<ReconcileOutput> {
  let backends: OpenedBackends;
  try {
    backends = await openBackends(config, { readOnly: true });
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    const missing = error.message.charAt(0).toLowerCase() + error.message.slice(1);
    return nothingChecked([], `${missing}, and a dry run creates none`);
  }
  if (backends.pendingMigrations.length > 0) {
    await backends.close();
    // The checks read the schema this version writes; an older one is reported, not guessed at.
    return nothingChecked(backends.pendingMigrations, 'the database lacks migrations this version needs; run `mixtape migrate` first');
  }
  const mixtape = await mixtapeFromConfig(config, logger, { workers: 0, backends });
  try {
    return { ...(await mixtape.reconciler.run({ dryRun: true })), pendingMigrations: [] };
  } finally {
    await mixtape.close();
  }
}

function nothingChecked(pendingMigrations: number[], skipped: string): ReconcileOutput {
  const now = new Date();
  const zero = () => Object.fromEntries(INCONSISTENCY_KINDS.map((kind) => [kind, 0])) as ReconcileReport['found'];
  return {
    startedAt: now,
    finishedAt: now,
    dryRun: true,
    checked: { files: 0, rows: 0, documents: 0 },
    found: zero(),
    repaired: zero(),
    pendingMigrations,
    skipped,
  };
}

function describe(output: ReconcileOutput): string {
  const lines: string[] = [];
  if (output.pendingMigrations.length > 0) {
    lines.push(`Migrations pending: ${output.pendingMigrations.join(', ')} (a dry run applies none)`);
  }
  if (output.skipped !== undefined) {
    lines.push(`Nothing to check: ${output.skipped}`);
    return `${lines.join('\n')}\n`;
  }
  const seconds = (output.finishedAt.getTime() - output.startedAt.getTime()) / 1000;
  lines.push(
    `Checked ${output.checked.files} files, ${output.checked.rows} rows and ${output.checked.documents} documents in ${seconds} s${
      output.dryRun ? ' (dry run: nothing changed)' : ''
    }`,
  );
  for (const kind of INCONSISTENCY_KINDS) {
    lines.push(`  ${kind.padEnd(17)} found ${output.found[kind]}, repaired ${output.repaired[kind]}`);
  }
  return `${lines.join('\n')}\n`;
}
