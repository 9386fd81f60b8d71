import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { parameterValue, satisfies, type Schema } from './support/json-schema-subset.js';
import { call, signUp, startTestServer, type TestServer } from './support/test-server.js';

/**
 * The served OpenAPI document is a promise to clients: a value it allows must never be a 400,
 * and a value it refuses must be a 400 naming the field. Every validated request field is
 * probed at the edges the document itself states (and at a few shapes its pattern decides),
 * and the server's answer is compared with the document's verdict.
 */

type CallResult = Awaited<ReturnType<typeof call>>;
type Method = 'get' | 'post';

interface FieldCase {
  method: Method;
  path: string;
  in: 'body' | 'query' | 'path';
  name: string;
  /** A value `n` characters long, and valid in every other way where it can be. */
  sample?: (n: number) => string;
  /** More values whose validity the document decides: shapes, characters, code points. */
  probes?: string[];
  send: (value: string) => Promise<CallResult>;
}

// High enough that probing is never rate-limited.
const LIMITS = 'search=100000/1m,download=100000/1m,login=100000/1m,login-ip=100000/1m,register=100000/1m,global=1000000/1m';
const TRACK = DEMO_TRACKS[0]!.id;
const EMOJI = '\u{1F3B5}';

let server: TestServer;
let document: { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, Schema> } };
let token: string;
let adminToken: string;
let names = 0;

beforeAll(async () => {
  server = await startTestServer({ MIXTAPE_WORKERS: '0', MIXTAPE_RATE_LIMITS: LIMITS });
  document = (await call(`${server.api}/openapi.json`)).body;
  token = (await signUp(server)).accessToken;
  const admin = await signUp(server);
  await server.mixtape.roles.grant(admin.username, 'admin');
  adminToken = (await call(`${server.api}/auth/login`, { body: { username: admin.username, password: admin.password } })).body.accessToken;
});

afterAll(async () => {
  await server?.stop();
});

const freshName = () => `probe${(names += 1)}`;
const query = (path: string, params: Record<string, string>, as = () => token) => call(`${server.api}${path}?${new URLSearchParams(params)}`, { token: as() });
/** A share link padded through its query string to exactly `n` characters, when it can be. */
const trackLink = (n: number) => {
  const link = `https://open.spotify.com/track/${TRACK}?si=`;
  return n >= link.length ? link + 'a'.repeat(n - link.length) : 'a'.repeat(n);
};

const cases: FieldCase[] = [
  {
    method: 'post',
    path: '/auth/register',
    in: 'body',
    name: 'username',
    sample: (n) => 'u'.repeat(n),
    probes: ['a.b-c_9', 'a b', 'ab!', '\u00e9t\u00e9', `${EMOJI}${EMOJI}${EMOJI}`],
    send: (username) => call(`${server.api}/auth/register`, { body: { username, password: 'a long enough password' } }),
  },
  {
    method: 'post',
    path: '/auth/register',
    in: 'body',
    name: 'password',
    sample: (n) => 'p'.repeat(n),
    // Lengths count characters (code points), as JSON Schema does, not UTF-16 units.
    probes: [EMOJI.repeat(5), EMOJI.repeat(9), EMOJI.repeat(10), EMOJI.repeat(100), 'tab\tand\nnewline ok'],
    send: (password) => call(`${server.api}/auth/register`, { body: { username: freshName(), password } }),
  },
  {
    method: 'post',
    path: '/auth/login',
    in: 'body',
    name: 'username',
    sample: (n) => 'n'.repeat(n),
    send: (username) => call(`${server.api}/auth/login`, { body: { username, password: 'not the password' } }),
  },
  {
    method: 'post',
    path: '/auth/login',
    in: 'body',
    name: 'password',
    sample: (n) => 'p'.repeat(n),
    send: (password) => call(`${server.api}/auth/login`, { body: { username: 'nobody', password } }),
  },
  {
    method: 'post',
    path: '/auth/refresh',
    in: 'body',
    name: 'refreshToken',
    sample: (n) => 't'.repeat(n),
    send: (refreshToken) => call(`${server.api}/auth/refresh`, { body: { refreshToken } }),
  },
  {
    method: 'get',
    path: '/tracks/search',
    in: 'query',
    name: 'q',
    sample: (n) => 'q'.repeat(n),
    probes: ['love', 'caf\u00e9', 'a\u0000b', 'ab\u0007c', 'a\u007fb', 'a\u0085b', 'a\u009bb', 'love\tsong', '   ', EMOJI.repeat(150), EMOJI.repeat(201)],
    send: (q) => query('/tracks/search', { q }),
  },
  { method: 'get', path: '/tracks/search', in: 'query', name: 'limit', send: (limit) => query('/tracks/search', { q: 'love', limit }) },
  { method: 'get', path: '/tracks/search', in: 'query', name: 'offset', send: (offset) => query('/tracks/search', { q: 'love', offset }) },
  {
    method: 'get',
    path: '/tracks/{trackId}',
    in: 'path',
    name: 'trackId',
    probes: [TRACK, '0123456789abcdefABCDEF', TRACK.slice(1), `${TRACK}x`, `${TRACK.slice(1)}-`, `${TRACK.slice(1)}\u00e9`],
    send: (trackId) => call(`${server.api}/tracks/${encodeURIComponent(trackId)}`, { token }),
  },
  {
    method: 'post',
    path: '/downloads',
    in: 'body',
    name: 'track',
    sample: trackLink,
    probes: [
      TRACK,
      `spotify:track:${TRACK}`,
      `https://open.spotify.com/track/${TRACK}`,
      `https://open.spotify.com/track/${TRACK}/`,
      `https://open.spotify.com/track/${TRACK}?si=a1b2&context=spotify%3Aalbum%3Ay`,
      `https://open.spotify.com/intl-de/track/${TRACK}?si=x`,
      `HTTPS://OPEN.SPOTIFY.COM/track/${TRACK}`,
      `spotify:album:${TRACK}`,
      `https://open.spotify.com/album/${TRACK}`,
      `http://open.spotify.com/track/${TRACK}`,
      `https://open.spotify.com/track/${TRACK}#top`,
      `https://open.spotify.com/track/${TRACK}?si=a b`,
      `${TRACK}?si=abc`,
      `${TRACK.slice(1)}`,
    ],
    send: (track) => call(`${server.api}/downloads`, { token, body: { track } }),
  },
  { method: 'get', path: '/downloads', in: 'query', name: 'limit', send: (limit) => query('/downloads', { limit }) },
  { method: 'get', path: '/downloads', in: 'query', name: 'offset', send: (offset) => query('/downloads', { offset }) },
  {
    method: 'get',
    path: '/downloads/{jobId}',
    in: 'path',
    name: 'jobId',
    probes: [
      '6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
      '6F1C2D3E-4A5B-4C6D-8E7F-9A0B1C2D3E4F',
      '6f1c2d3e-4a5b-1c6d-8e7f-9a0b1c2d3e4f',
      '6f1c2d3e-4a5b-4c6d-ce7f-9a0b1c2d3e4f',
      '6f1c2d3e4a5b4c6d8e7f9a0b1c2d3e4f',
      'not-a-job',
    ],
    send: (jobId) => call(`${server.api}/downloads/${encodeURIComponent(jobId)}`, { token }),
  },
  { method: 'get', path: '/library', in: 'query', name: 'limit', send: (limit) => query('/library', { limit }) },
  { method: 'get', path: '/library', in: 'query', name: 'offset', send: (offset) => query('/library', { offset }) },
  { method: 'get', path: '/admin/jobs', in: 'query', name: 'limit', send: (limit) => query('/admin/jobs', { limit }, () => adminToken) },
  { method: 'get', path: '/admin/jobs', in: 'query', name: 'offset', send: (offset) => query('/admin/jobs', { offset }, () => adminToken) },
];

function resolve(schema: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref !== 'string') return schema;
  const found = document.components.schemas[ref.replace('#/components/schemas/', '')];
  if (!found) throw new Error(`no schema ${ref}`);
  return found;
}

/** The document's schema for one request field. */
function schemaOf(field: FieldCase): Schema {
  const operation = document.paths[`/api/v1${field.path}`]?.[field.method];
  expect(operation, `${field.method} ${field.path} is documented`).toBeDefined();
  if (field.in === 'body') {
    const body = resolve(operation.requestBody.content['application/json'].schema);
    const property = (body.properties as Record<string, Schema>)[field.name];
    expect(property, `${field.name} is in the body's schema`).toBeDefined();
    return resolve(property!);
  }
  const parameter = (operation.parameters as Array<{ name: string; in: string; schema: Schema }>).find((p) => p.in === field.in && p.name === field.name);
  expect(parameter, `${field.in} parameter ${field.name} is documented`).toBeDefined();
  return resolve(parameter!.schema);
}

/** Values at and just past every edge the schema states, plus the case's own probes. */
function probesOf(field: FieldCase, schema: Schema): string[] {
  const values = [...(field.probes ?? [])];
  if (schema.type === 'integer') {
    for (const edge of [schema.minimum, schema.maximum]) {
      if (typeof edge === 'number') values.push(String(edge - 1), String(edge), String(edge + 1));
    }
    values.push('1.5', 'ten', '');
  }
  if (field.sample) {
    for (const edge of [schema.minLength, schema.maxLength]) {
      if (typeof edge === 'number') values.push(...[edge - 1, edge, edge + 1].filter((n) => n >= 0).map((n) => field.sample!(n)));
    }
  }
  return values;
}

describe('the server and its OpenAPI document agree on every validated field', () => {
  for (const field of cases) {
    it(`${field.method.toUpperCase()} ${field.path} ${field.in} ${field.name}`, async () => {
      const schema = schemaOf(field);
      if (field.in !== 'path' && schema.type === 'string') {
        expect(schema.maxLength, `${field.name} states a maximum length`).toBeTypeOf('number');
      }
      const disagreements: string[] = [];
      for (const value of probesOf(field, schema)) {
        const allowed = satisfies(schema, field.in === 'body' ? value : parameterValue(schema, value));
        const response = await field.send(value);
        const refused = response.status === 400 && (response.body?.errors ?? []).some((e: { path: string }) => e.path === field.name);
        if (allowed === !refused && (allowed || response.status === 400)) continue;
        const shown = value.length > 40 ? `${value.slice(0, 30)}…(${[...value].length} characters)` : value;
        disagreements.push(`${JSON.stringify(shown)}: the document ${allowed ? 'allows' : 'refuses'} it, the server answers ${response.status} ${response.text.slice(0, 160)}`);
      }
      expect(disagreements.join('\n')).toBe('');
    });
  }

  it('POST /auth/logout: the body and its refreshToken are optional exactly when the document says so', async () => {
    const operation = document.paths['/api/v1/auth/logout']?.post;
    const body = resolve(operation.requestBody.content['application/json'].schema);
    const tokenRequired = ((body.required as string[] | undefined) ?? []).includes('refreshToken');

    const noBody = await call(`${server.api}/auth/logout`, { method: 'POST', token: (await signUp(server)).accessToken });
    expect(noBody.status, noBody.text).toBe(operation.requestBody.required ? 400 : 204);
    const noToken = await call(`${server.api}/auth/logout`, { token: (await signUp(server)).accessToken, body: {} });
    expect(noToken.status, noToken.text).toBe(tokenRequired ? 400 : 204);
  });
});
