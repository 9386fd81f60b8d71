import { timed, type HealthCheck } from '../health/health-check.js';
import type { MysqlDatabase } from './mysql-database.js';

/**
 * The database answers a query: critical, so `/readyz` is 503 while it does not. The check's
 * own timeout bounds it (runHealthChecks); the pool's acquire and query timeouts end the
 * attempt soon after. Its output says what failed and the error's code, never a host or a query.
 */
export function mysqlHealthCheck(db: MysqlDatabase): HealthCheck {
  return {
    name: 'mysql:responseTime',
    critical: true,
    failure: 'the database does not answer',
    run: () => timed(() => db.get('SELECT 1 AS ok')),
  };
}
