import type { SqliteDatabase } from '../db/sqlite-database.js';
import { timed, type HealthCheck } from './health-check.js';

/** The embedded database answers a query. */
export function sqliteHealthCheck(db: SqliteDatabase): HealthCheck {
  return {
    name: 'sqlite:responseTime',
    critical: true,
    failure: 'the database does not answer',
    run: () => timed(() => db.prepare('SELECT 1').get()),
  };
}
