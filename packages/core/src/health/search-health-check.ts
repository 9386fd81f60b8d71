import type { SearchIndex } from '../search/search-index.js';
import { timed, type HealthCheck } from './health-check.js';

/** The search index answers. Not critical: search falls back to the database when it is down. */
export function searchHealthCheck(index: SearchIndex): HealthCheck {
  return {
    name: `${index.name}:responseTime`,
    critical: false,
    failure: 'the search index does not answer',
    run: () => timed(() => index.search('health', { limit: 1, offset: 0 })),
  };
}
