import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMixtape,
  DEFAULT_MIXTAPE_VALIDATORS,
  loginRules,
  parseConfig,
  type IntegerRule,
  type Mixtape,
  type MixtapeValidators,
  type TextRule,
} from '@mixtape/core';
import { openSqliteBackends } from '@mixtape/core/sqlite';
import { createApp, createLogger, documentedOperations, openApiDocument, openApiDocumentFor } from '@mixtape/server';
import { apiOnlySettings } from './support/mixtape-settings.js';
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
function appOf(running: { mixtape: Mixtape }): Express {
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

type Document = { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, any> } };
type Rule = TextRule | IntegerRule;

/**
 * Every request field the document describes, with the validator it must state. A field that
 * is not listed fails the test below, so a new one cannot be documented by hand.
 */
const VALIDATED: Array<[operation: string, where: string, name: string, rule: (v: MixtapeValidators) => Rule]> = [
  ['POST /auth/register', 'body', 'username', (v) => v.username],
  ['POST /auth/register', 'body', 'password', (v) => v.password],
  ['POST /auth/login', 'body', 'username', (v) => loginRules(v).username],
  ['POST /auth/login', 'body', 'password', (v) => loginRules(v).password],
  ['POST /auth/refresh', 'body', 'refreshToken', (v) => v.refreshToken],
  ['POST /auth/logout', 'body', 'refreshToken', (v) => v.refreshToken],
  ['GET /tracks/search', 'query', 'q', (v) => v.searchQuery],
  ['GET /tracks/search', 'query', 'limit', (v) => v.searchPage.limit],
  ['GET /tracks/search', 'query', 'offset', (v) => v.searchPage.offset],
  ['GET /tracks/{trackId}', 'path', 'trackId', (v) => v.trackId],
  ['POST /downloads', 'body', 'track', (v) => v.trackRef],
  ['GET /downloads', 'query', 'limit', (v) => v.downloadPage.limit],
  ['GET /downloads', 'query', 'offset', (v) => v.downloadPage.offset],
  ['GET /downloads/{jobId}', 'path', 'jobId', (v) => v.jobId],
  ['DELETE /downloads/{jobId}', 'path', 'jobId', (v) => v.jobId],
  ['GET /downloads/{jobId}/events', 'path', 'jobId', (v) => v.jobId],
  ['GET /library', 'query', 'limit', (v) => v.libraryPage.limit],
  ['GET /library', 'query', 'offset', (v) => v.libraryPage.offset],
  ['GET /library/{trackId}/file', 'path', 'trackId', (v) => v.trackId],
  ['DELETE /library/{trackId}', 'path', 'trackId', (v) => v.trackId],
  ['GET /admin/jobs', 'query', 'limit', (v) => v.adminJobPage.limit],
  ['GET /admin/jobs', 'query', 'offset', (v) => v.adminJobPage.offset],
  ['POST /admin/jobs/{jobId}/retry', 'path', 'jobId', (v) => v.jobId],
];
/** Fields whose values are a closed list or a flag, not a validator's rule. */
const ENUMERATED = new Set(['GET /downloads query status', 'GET /admin/jobs query status', 'POST /admin/reconcile query dryRun']);

/** `operation where name` for every query, path and body field of the document's API operations. */
function requestFields(document: Document): Map<string, any> {
  const fields = new Map<string, any>();
  const resolve = (schema: any) => (schema?.$ref ? document.components.schemas[String(schema.$ref).split('/').at(-1)!] : schema);
  for (const [path, item] of Object.entries(document.paths)) {
    if (!path.startsWith('/api/v1/')) continue;
    for (const [method, operation] of Object.entries(item)) {
      const name = `${method.toUpperCase()} ${path.slice('/api/v1'.length)}`;
      for (const parameter of operation.parameters ?? []) {
        if (parameter.in !== 'header') fields.set(`${name} ${parameter.in} ${parameter.name}`, resolve(parameter.schema));
      }
      const body = resolve(operation.requestBody?.content?.['application/json']?.schema);
      for (const [property, schema] of Object.entries(body?.properties ?? {})) fields.set(`${name} body ${property}`, resolve(schema));
    }
  }
  return fields;
}

/** What the document must say of a field: the rule's every bound, and nothing looser. */
function expectStated(schema: any, rule: Rule, label: string): void {
  if (rule.kind === 'integer') {
    expect({ type: schema.type, minimum: schema.minimum, maximum: schema.maximum, default: schema.default }, label).toEqual({
      type: 'integer',
      minimum: rule.minimum,
      maximum: rule.maximum,
      default: rule.default,
    });
    return;
  }
  expect({ type: schema.type, minLength: schema.minLength, maxLength: schema.maxLength, pattern: schema.pattern, format: schema.format }, label).toEqual({
    type: 'string',
    minLength: rule.minLength,
    maxLength: rule.maxLength,
    pattern: rule.pattern,
    format: rule.format,
  });
  expect(schema.not, label).toEqual(rule.forbiddenCharacters ? { pattern: `[${rule.forbiddenCharacters}]` } : undefined);
  if (rule.trim) expect(schema.description, label).toMatch(/whitespace is ignored/);
}

describe('OpenAPI document and validators', () => {
  it("states every validated field exactly as core's validators hold it", () => {
    const document = openApiDocument as unknown as Document;
    const fields = requestFields(document);
    const listed = new Set(VALIDATED.map(([operation, where, name]) => `${operation} ${where} ${name}`));
    const unlisted = [...fields.keys()].filter((field) => !listed.has(field) && !ENUMERATED.has(field));
    expect(unlisted, 'documented fields with no validator behind them').toEqual([]);
    for (const [operation, where, name, rule] of VALIDATED) {
      const label = `${operation} ${where} ${name}`;
      expect(fields.has(label), `${label} is documented`).toBe(true);
      expectStated(fields.get(label), rule(DEFAULT_MIXTAPE_VALIDATORS), label);
    }
  });

  it('lists the job statuses core knows, and says which bodies may be left out', () => {
    const document = openApiDocument as unknown as Document;
    expect(document.components.schemas.JobStatus.enum).toEqual(['queued', 'running', 'completed', 'failed', 'cancelled']);
    expect(document.paths['/api/v1/auth/logout']!.post.requestBody.required).toBe(false);
    expect(document.components.schemas.LogoutRequest.required).toEqual([]);
    expect(document.paths['/api/v1/auth/refresh']!.post.requestBody.required).toBe(true);
    expect(document.components.schemas.RefreshRequest.required).toEqual(['refreshToken']);
  });

  describe('with rules of its own in the settings', () => {
    const rules: Partial<MixtapeValidators> = {
      username: { ...DEFAULT_MIXTAPE_VALIDATORS.username, minLength: 5 },
      searchQuery: { ...DEFAULT_MIXTAPE_VALIDATORS.searchQuery, maxLength: 10 },
      libraryPage: { ...DEFAULT_MIXTAPE_VALIDATORS.libraryPage, limit: { kind: 'integer', minimum: 1, maximum: 7, default: 3 } },
    };
    let dataDir: string;
    let mixtape: Mixtape;
    let close: () => Promise<void>;
    let api: string;

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'mixtape-openapi-'));
      mixtape = createMixtape(await openSqliteBackends({ dataDir }), { ...apiOnlySettings(), validators: rules });
      const listener = appOf({ mixtape }).listen(0, '127.0.0.1');
      await new Promise((resolve) => listener.once('listening', resolve));
      api = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/api/v1`;
      close = async () => {
        listener.closeAllConnections();
        await new Promise((resolve) => listener.close(resolve));
        await mixtape.close();
        rmSync(dataDir, { recursive: true, force: true });
      };
    });

    afterAll(async () => {
      await close?.();
    });

    it('serves the document of those rules, and its answers follow them', async () => {
      const served = (await call(`${api}/openapi.json`)).body as Document;
      expect(served).toEqual(JSON.parse(JSON.stringify(openApiDocumentFor(mixtape.validators))));
      const fields = requestFields(served);
      expect(fields.get('POST /auth/register body username').minLength).toBe(5);
      expect(fields.get('GET /tracks/search query q').maxLength).toBe(10);
      expect(fields.get('GET /library query limit')).toMatchObject({ maximum: 7, default: 3 });

      expect((await call(`${api}/auth/register`, { body: { username: 'abcd', password: 'a long enough password' } })).status).toBe(400);
      expect((await call(`${api}/auth/register`, { body: { username: 'abcde', password: 'a long enough password' } })).status).toBe(201);
      const { accessToken: token } = (await call(`${api}/auth/login`, { body: { username: 'abcde', password: 'a long enough password' } })).body;
      expect((await call(`${api}/tracks/search?q=${'q'.repeat(11)}`, { token })).status).toBe(400);
      expect((await call(`${api}/tracks/search?q=${'q'.repeat(10)}`, { token })).status).toBe(200);
      expect((await call(`${api}/library?limit=8`, { token })).status).toBe(400);
      expect((await call(`${api}/library?limit=7`, { token })).status).toBe(200);
    });
  });
});
