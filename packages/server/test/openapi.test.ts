import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '@mixtape/core';
import { createApp, createLogger, documentedOperations, openApiDocument } from '@mixtape/server';
import { call, startTestServer, type TestServer } from './support/test-server.js';

/**
 * Documented operations whose route is not built yet, as `METHOD /path/{param}`. Each entry must
 * go once its route exists: the test below fails while an entry here is served. (It held
 * `POST /api/v1/admin/reconcile` until the reconciler landed.)
 */
const notYetImplemented = new Set<string>([]);

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ MIXTAPE_WORKERS: '0' });
});

afterAll(async () => {
  await server?.stop();
});

interface Layer {
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** `METHOD /path/{param}` for every route of an Express 5 router, mounted routers included. */
function servedOperations(stack: Layer[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const path = `${prefix}${String(layer.route.path)}`;
      return Object.entries(layer.route.methods)
        .filter(([method, on]) => on && method !== '_all')
        .map(([method]) => operation(method, path));
    }
    if (layer.handle?.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      return servedOperations(layer.handle.stack, `${prefix}${mount}`);
    }
    return [];
  });
}

function operation(method: string, path: string): string {
  return `${method.toUpperCase()} ${path.replace(/:(\w+)/g, '{$1}')}`;
}

/** The app `startServer` serves, built the same way over the test server's services. */
function appOf(running: TestServer): Express {
  return createApp({
    mixtape: running.mixtape,
    policies: parseConfig({}).rateLimits,
    logger: createLogger({ level: 'silent' }),
    metricsToken: null,
    trustProxy: null,
    shuttingDown: () => false,
  });
}

describe('OpenAPI document', () => {
  it('is served at /api/v1/openapi.json as OpenAPI 3.1', async () => {
    const response = await call(`${server.api}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json\b/);
    expect(response.body.openapi).toMatch(/^3\.1\.\d+$/);
    expect(response.body.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(response.body).toEqual(JSON.parse(JSON.stringify(openApiDocument)));
    expect(Object.keys(response.body.paths)).toContain('/api/v1/downloads/{jobId}');
  });

  it('documents every route the app serves, and serves every route it documents', () => {
    const router = (appOf(server) as unknown as { router: { stack: Layer[] } }).router;
    const served = new Set(servedOperations(router.stack));
    const documented = new Set(documentedOperations().map((o) => operation(o.method, o.path)));

    // Sanity: the walk found the API's routes and the probes at the root.
    expect(served).toContain('GET /api/v1/downloads/{jobId}');
    expect(served).toContain('POST /api/v1/admin/jobs/{jobId}/retry');
    expect(served).toContain('GET /livez');
    expect(served.size).toBeGreaterThanOrEqual(20);

    const undocumented = [...served].filter((o) => !documented.has(o));
    const missing = [...documented].filter((o) => !served.has(o) && !notYetImplemented.has(o));
    const builtSince = [...notYetImplemented].filter((o) => served.has(o));
    expect(undocumented, 'served but not documented').toEqual([]);
    expect(missing, 'documented but not served').toEqual([]);
    expect(builtSince, 'now served: remove from notYetImplemented').toEqual([]);
    for (const o of notYetImplemented) expect(documented, o).toContain(o);
  });

  it('describes each operation with responses, and each path parameter', () => {
    const paths = openApiDocument.paths as Record<string, Record<string, { responses?: Record<string, unknown>; parameters?: Array<{ name: string; in: string }> }>>;
    for (const { method, path } of documentedOperations()) {
      const spec = paths[path]?.[method.toLowerCase()];
      expect(spec, `${method} ${path}`).toBeDefined();
      expect(Object.keys(spec?.responses ?? {}).length, `${method} ${path}`).toBeGreaterThan(0);
      for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])) {
        const declared = spec?.parameters?.some((p) => p.in === 'path' && p.name === name);
        expect(declared, `${method} ${path} declares {${name}}`).toBe(true);
      }
    }
  });
});
