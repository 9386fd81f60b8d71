import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diskHealthCheck } from '../../src/health/disk-health-check.js';
import { runHealthChecks, type HealthCheck } from '../../src/health/health-check.js';

/**
 * `/health` is unauthenticated, so what a failing check says must name what is wrong, never
 * where: no file system paths, hosts or queries from the error that made it fail.
 */

function failingWith(error: unknown, name = 'thing:responseTime'): HealthCheck {
  return { name, critical: true, run: () => Promise.reject(error) };
}

describe('health checks that fail', () => {
  it('the disk check says the storage directory cannot be read, without its path', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'mixtape-health-'));
    const storage = join(parent, 'audio');
    try {
      const report = await runHealthChecks([diskHealthCheck(storage)], { timeoutMs: 1000 });
      const [observation] = report.checks['storage:freeBytes'] ?? [];
      expect(observation?.status).toBe('fail');
      expect(observation?.output).toMatch(/storage directory/);
      expect(observation?.output).toMatch(/ENOENT|does not exist/);
      expect(JSON.stringify(report)).not.toContain(parent);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('no check echoes the message of the error that failed it', async () => {
    const pathError = Object.assign(new Error("EACCES: permission denied, open '/srv/mixtape/data/mixtape.db'"), { code: 'EACCES' });
    const hostError = new Error('connect ECONNREFUSED 10.1.2.3:9200 (https://elastic:secret@search.internal)');
    const report = await runHealthChecks([failingWith(pathError, 'a:b'), failingWith(hostError, 'c:d'), failingWith('a string, not an Error', 'e:f')], {
      timeoutMs: 1000,
    });
    expect(report.status).toBe('fail');
    for (const key of ['a:b', 'c:d', 'e:f']) {
      const [observation] = report.checks[key] ?? [];
      expect(observation?.status, key).toBe('fail');
      expect(observation?.output, key).toBeTypeOf('string');
      expect(observation?.output?.length, key).toBeGreaterThan(0);
    }
    // A stable error code says what went wrong, and is no secret.
    expect(report.checks['a:b']?.[0]?.output).toContain('EACCES');
    const text = JSON.stringify(report);
    for (const leak of ['/srv/', 'mixtape.db', '10.1.2.3', 'secret', 'search.internal', 'a string, not an Error']) expect(text).not.toContain(leak);
  });
});
