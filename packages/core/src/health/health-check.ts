export type HealthStatus = 'pass' | 'warn' | 'fail';

export interface HealthObservation {
  status: HealthStatus;
  observedValue?: number;
  observedUnit?: string;
  output?: string;
}

/** One measurement of one component, named `component:measurement` as in health+json. */
export interface HealthCheck {
  name: string;
  /** A critical check failing makes the service unready; others only degrade it to `warn`. */
  critical: boolean;
  /**
   * What a failure means, as `/health` tells anyone who asks, e.g. "the database does not
   * answer". The error's own message is never shown: it can hold paths, hosts or queries.
   */
  failure?: string;
  run(signal: AbortSignal): Promise<HealthObservation>;
}

export interface HealthReport {
  status: HealthStatus;
  checks: Record<string, Array<HealthObservation & { time: string }>>;
}

/** Runs every check at once, each bounded by `timeoutMs`, so one hung dependency cannot hang the report. */
export async function runHealthChecks(checks: readonly HealthCheck[], options: { timeoutMs: number; only?: 'critical' }): Promise<HealthReport> {
  const selected = options.only === 'critical' ? checks.filter((c) => c.critical) : checks;
  const results = await Promise.all(selected.map(async (check) => ({ check, observation: await runOne(check, options.timeoutMs) })));
  let status: HealthStatus = 'pass';
  const report: HealthReport['checks'] = {};
  for (const { check, observation } of results) {
    report[check.name] = [{ ...observation, time: new Date().toISOString() }];
    if (observation.status === 'fail' && check.critical) status = 'fail';
    else if (observation.status !== 'pass' && status === 'pass') status = 'warn';
  }
  return { status, checks: report };
}

async function runOne(check: HealthCheck, timeoutMs: number): Promise<HealthObservation> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<HealthObservation>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({ status: 'fail', output: `no answer within ${timeoutMs} ms` });
    }, timeoutMs);
  });
  try {
    return await Promise.race([
      check.run(controller.signal).catch((error: unknown) => ({ status: 'fail' as const, output: failureOutput(check, error) })),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A code such as ENOENT, SQLITE_BUSY or ECONNREFUSED: says what went wrong, and nothing of where. */
const ERROR_CODE = /^[A-Z][A-Z0-9_]{1,63}$/;

/** The check's own words for a failure, with the error's code when it has a plain one. */
function failureOutput(check: HealthCheck, error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const said = check.failure ?? 'the check failed';
  return typeof code === 'string' && ERROR_CODE.test(code) ? `${said} (${code})` : said;
}

/** Times `probe` in milliseconds: the usual observed value of a responseTime check. */
export async function timed(probe: () => unknown): Promise<HealthObservation> {
  const started = performance.now();
  await probe();
  return { status: 'pass', observedValue: Math.round((performance.now() - started) * 100) / 100, observedUnit: 'ms' };
}
