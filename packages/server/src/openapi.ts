/**
 * The OpenAPI 3.1 document served at `GET /api/v1/openapi.json`, written by hand from API.md;
 * the rules on request fields are read from core's validators, as the routes' Joi schemas are.
 * Paths are full paths (`/api/v1/...` and the ops endpoints at the root), so the document needs
 * no `servers` prefix and `documentedOperations()` can be compared with the Express routes.
 */

import { DEFAULT_MIXTAPE_VALIDATORS, type MixtapeValidators } from '@mixtape/core';
import { pageParameters, textSchema } from './openapi-from-validators.js';
import { componentSchemas, trackIdSchema } from './openapi-schemas.js';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;
type HttpMethod = (typeof HTTP_METHODS)[number];
type Json = Record<string, unknown>;
type PathItem = Partial<Record<HttpMethod, Json>>;

const ref = (schema: string): Json => ({ $ref: `#/components/schemas/${schema}` });
const json = (schema: Json): Json => ({ 'application/json': { schema } });
const header = (name: string): Json => ({ $ref: `#/components/headers/${name}` });
const problemRef = (status: number): Json => ({ $ref: `#/components/responses/Problem${status}` });

/** Every response carries `X-Request-Id`. */
function response(description: string, content?: Json, headers: Json = {}): Json {
  return { description, headers: { 'X-Request-Id': header('X-Request-Id'), ...headers }, ...(content && { content }) };
}

function problem(description: string, headers: Json = {}): Json {
  return response(description, { 'application/problem+json': { schema: ref('Problem') } }, headers);
}

const PROBLEM_RESPONSES: Record<number, Json> = {
  400: problem('Invalid input: a malformed or unknown field (`validation`), each listed in `errors`'),
  401: problem('Missing, invalid, expired or revoked credentials (`unauthorized`)'),
  403: problem('Not allowed (`forbidden`)'),
  404: problem('No such resource, or it belongs to someone else (`not-found`)'),
  409: problem('Conflicts with the current state (`conflict`)'),
  413: problem('The request body is over 16 KiB'),
  416: problem('The range cannot be satisfied', { 'Content-Range': header('Content-Range-Unsatisfied') }),
  429: problem('A rate limit was hit (`rate-limited`)', { 'Retry-After': header('Retry-After') }),
  500: problem('An unexpected fault (`internal`); no details are given'),
  503: problem('A dependency is down or overloaded (`unavailable`)', { 'Retry-After': header('Retry-After') }),
};

type Auth = 'none' | 'bearer' | 'admin';

interface OperationSpec {
  operationId: string;
  summary: string;
  tag: string;
  auth: Auth;
  description?: string;
  parameters?: Json[];
  body?: string;
  /** The body may be left out altogether. */
  bodyOptional?: boolean;
  responses: Record<string, Json>;
  /** Problem statuses beyond those the auth, parameters and body already imply. */
  problems?: number[];
}

/** Adds the problems every `/api/v1` route can answer with, by what the route takes. */
function operation(spec: OperationSpec): Json {
  const statuses = new Set([...(spec.problems ?? []), 429, 500, 503]);
  if (spec.auth !== 'none') statuses.add(401);
  if (spec.auth === 'admin') statuses.add(403);
  if (spec.body || spec.parameters?.length) statuses.add(400);
  if (spec.body) statuses.add(413);
  const problems: Record<string, Json> = {};
  for (const status of [...statuses].sort((a, b) => a - b)) {
    if (!(String(status) in spec.responses)) problems[String(status)] = problemRef(status);
  }
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.description && { description: spec.description }),
    tags: [spec.tag],
    security: spec.auth === 'none' ? [] : [{ bearerAuth: [] }],
    ...(spec.parameters && { parameters: spec.parameters }),
    ...(spec.body && { requestBody: { required: !spec.bodyOptional, content: json(ref(spec.body)) } }),
    responses: { ...spec.responses, ...problems },
  };
}

const statusParam = { name: 'status', in: 'query', schema: ref('JobStatus') };
const noContent = response('Done; no body');

const API = '/api/v1';

function apiPaths(rules: MixtapeValidators): Record<string, PathItem> {
  const trackIdParam = { name: 'trackId', in: 'path', required: true, schema: trackIdSchema(rules) };
  const jobIdParam = { name: 'jobId', in: 'path', required: true, schema: textSchema(rules.jobId) };
  return {
    [`${API}/openapi.json`]: {
      get: operation({
        operationId: 'getOpenApiDocument',
        summary: 'This document',
        tag: 'meta',
        auth: 'none',
        responses: { 200: response('The OpenAPI 3.1 document', json({ type: 'object' })) },
      }),
    },
    [`${API}/auth/register`]: {
      post: operation({
        operationId: 'register',
        summary: 'Create an account',
        description: 'Refused with 403 (`forbidden`) while registration is closed. Rate-limited per IP (policy `register`).',
        tag: 'auth',
        auth: 'none',
        body: 'RegisterRequest',
        responses: { 201: response('The account was created', json(ref('RegisteredUser'))) },
        problems: [403, 409],
      }),
    },
    [`${API}/auth/login`]: {
      post: operation({
        operationId: 'login',
        summary: 'Trade a username and password for a token pair',
        description:
          'An unknown user, a username registration would refuse and a wrong password get the same 401. Failed attempts are rate-limited per IP and per username (policy `login`) and per IP (policy `login-ip`).',
        tag: 'auth',
        auth: 'none',
        body: 'LoginRequest',
        responses: { 200: response('A new token pair', json(ref('TokenPair'))) },
        problems: [401],
      }),
    },
    [`${API}/auth/refresh`]: {
      post: operation({
        operationId: 'refresh',
        summary: 'Trade a refresh token for a new pair',
        description: 'Refresh tokens rotate. Presenting a spent one revokes its whole family (401).',
        tag: 'auth',
        auth: 'none',
        body: 'RefreshRequest',
        responses: { 200: response('A new token pair', json(ref('TokenPair'))) },
        problems: [401],
      }),
    },
    [`${API}/auth/logout`]: {
      post: operation({
        operationId: 'logout',
        summary: 'Revoke the token family; the access token stops working too',
        tag: 'auth',
        auth: 'bearer',
        body: 'LogoutRequest',
        bodyOptional: true,
        responses: { 204: noContent },
      }),
    },
    [`${API}/me`]: {
      get: operation({
        operationId: 'getMe',
        summary: 'The signed-in user, roles and storage quota',
        tag: 'users',
        auth: 'bearer',
        responses: { 200: response('The signed-in user', json(ref('Me'))) },
      }),
    },
    [`${API}/tracks/search`]: {
      get: operation({
        operationId: 'searchTracks',
        summary: 'Search the catalog',
        description: '`degraded` is true when the fallback answered because the search engine is down. Rate-limited per user (policy `search`).',
        tag: 'tracks',
        auth: 'bearer',
        parameters: [
          { name: 'q', in: 'query', required: true, schema: textSchema(rules.searchQuery) },
          ...pageParameters(rules.searchPage),
        ],
        responses: { 200: response('Matching tracks', json(ref('SearchResult'))) },
      }),
    },
    [`${API}/tracks/{trackId}`]: {
      get: operation({
        operationId: 'getTrack',
        summary: 'One track',
        description:
          'From the catalog, or asked of Spotify. Look-ups that ask Spotify, and ids no one knows (404), are rate-limited per user (policy `lookup`).',
        tag: 'tracks',
        auth: 'bearer',
        parameters: [trackIdParam],
        responses: { 200: response('The track', json(ref('Track'))) },
        problems: [404],
      }),
    },
    [`${API}/downloads`]: {
      post: operation({
        operationId: 'requestDownload',
        summary: 'Queue the download of a track into your library',
        description: 'Rate-limited per user (policy `download`).',
        tag: 'downloads',
        auth: 'bearer',
        body: 'DownloadRequest',
        responses: {
          202: response('The job was accepted', json(ref('Job')), {
            Location: { description: 'The job: `/api/v1/downloads/{jobId}`', schema: { type: 'string' } },
          }),
          403: problem("The track's known size does not fit in the quota left (`quota-exceeded`)"),
        },
        problems: [404],
      }),
      get: operation({
        operationId: 'listDownloads',
        summary: 'Your download jobs, newest first',
        tag: 'downloads',
        auth: 'bearer',
        parameters: [statusParam, ...pageParameters(rules.downloadPage)],
        responses: { 200: response('A page of your jobs', json(ref('JobPage'))) },
      }),
    },
    [`${API}/downloads/{jobId}`]: {
      get: operation({
        operationId: 'getDownload',
        summary: 'One of your jobs',
        tag: 'downloads',
        auth: 'bearer',
        parameters: [jobIdParam],
        responses: { 200: response('The job', json(ref('Job'))) },
        problems: [404],
      }),
      delete: operation({
        operationId: 'cancelDownload',
        summary: 'Cancel a queued job',
        tag: 'downloads',
        auth: 'bearer',
        parameters: [jobIdParam],
        responses: { 204: noContent, 409: problem('The job is running or finished (`conflict`)') },
        problems: [404],
      }),
    },
    [`${API}/downloads/{jobId}/events`]: {
      get: operation({
        operationId: 'followDownload',
        summary: "Server-sent events of a job's progress",
        description:
          'Event `progress` (data: `JobProgress` JSON) as bytes arrive, at most a few a second; event `status` (data: `Job` JSON) on every change. The stream ends after a final status. Every event has an `id` derived from the job\'s state, growing with it; reconnecting with `Last-Event-ID` (to any instance) sends nothing at connect when that id is the current state, else the current `status` at once.',
        tag: 'downloads',
        auth: 'bearer',
        parameters: [
          jobIdParam,
          { name: 'Last-Event-ID', in: 'header', description: 'The id of the last event received, when reconnecting', schema: { type: 'string' } },
        ],
        responses: {
          200: response('The event stream', { 'text/event-stream': { schema: { type: 'string' } } }),
          204: response('The `Last-Event-ID` is the job\'s final state: nothing more will come (an EventSource stops reconnecting)'),
        },
        problems: [404],
      }),
    },
    [`${API}/library`]: {
      get: operation({
        operationId: 'listLibrary',
        summary: 'The tracks in your library',
        tag: 'library',
        auth: 'bearer',
        parameters: pageParameters(rules.libraryPage),
        responses: { 200: response('Your library', json(ref('LibraryPage'))) },
      }),
    },
    [`${API}/library/{trackId}/file`]: {
      get: operation({
        operationId: 'downloadFile',
        summary: "A library track's audio, streamed",
        tag: 'library',
        auth: 'bearer',
        parameters: [
          trackIdParam,
          { name: 'Range', in: 'header', description: 'A single range: `bytes=start-end`, `bytes=start-` or `bytes=-suffix`', schema: { type: 'string' } },
          { name: 'If-None-Match', in: 'header', schema: { type: 'string' } },
        ],
        responses: {
          200: response('The whole file', audio(), fileHeaders()),
          206: response('The requested range', audio(), { ...fileHeaders(), 'Content-Range': { schema: { type: 'string' }, description: '`bytes start-end/size`' } }),
          304: response('Unchanged since the ETag given in `If-None-Match`', undefined, { ETag: header('ETag') }),
        },
        problems: [404, 416],
      }),
    },
    [`${API}/library/{trackId}`]: {
      delete: operation({
        operationId: 'removeFromLibrary',
        summary: 'Remove a track from your library and free its quota',
        tag: 'library',
        auth: 'bearer',
        parameters: [trackIdParam],
        responses: { 204: noContent },
        problems: [404],
      }),
    },
    [`${API}/admin/jobs`]: {
      get: operation({
        operationId: 'adminListJobs',
        summary: "Everyone's download jobs",
        tag: 'admin',
        auth: 'admin',
        parameters: [statusParam, ...pageParameters(rules.adminJobPage)],
        responses: { 200: response('The jobs', json(ref('JobPage'))) },
      }),
    },
    [`${API}/admin/jobs/{jobId}/retry`]: {
      post: operation({
        operationId: 'adminRetryJob',
        summary: 'Put a failed job back in the queue with its attempts reset',
        tag: 'admin',
        auth: 'admin',
        parameters: [jobIdParam],
        responses: { 202: response('The job, queued again', json(ref('Job'))), 409: problem('The job has not failed (`conflict`)') },
        problems: [404],
      }),
    },
    [`${API}/admin/reconcile`]: {
      post: operation({
        operationId: 'adminReconcile',
        summary: 'One reconciler pass over files, rows and search documents',
        tag: 'admin',
        auth: 'admin',
        parameters: [{ name: 'dryRun', in: 'query', description: 'Report only; repair nothing', schema: { type: 'boolean', default: false } }],
        responses: { 200: response('What the pass found and repaired', json(ref('ReconcileReport'))) },
        problems: [409],
      }),
    },
  };
}

/** Binary bodies carry no schema in OpenAPI 3.1; the media type says it all. */
function audio(): Json {
  return { 'audio/*': {} };
}

function fileHeaders(): Json {
  return {
    ETag: header('ETag'),
    'Accept-Ranges': { schema: { type: 'string', const: 'bytes' } },
    'Content-Length': { schema: { type: 'integer', minimum: 0 } },
    'Content-Disposition': { description: '`attachment` with a safe file name', schema: { type: 'string' } },
  };
}

function opsOperation(operationId: string, summary: string, responses: Record<string, Json>, security: Json[] = []): Json {
  return { operationId, summary, tags: ['operations'], security, responses };
}

const opsPaths: Record<string, PathItem> = {
  '/livez': {
    get: opsOperation('livez', 'Liveness: the process can serve; no dependency is checked', { 200: response('Alive') }),
  },
  '/readyz': {
    get: opsOperation('readyz', 'Readiness: the database answers in time; Redis or the search engine being down does not count (limits fall back, search degrades)', {
      200: response('Ready'),
      503: response('Not ready'),
    }),
  },
  '/health': {
    get: opsOperation('health', 'Health of each component', {
      200: response('`pass` or `warn`', { 'application/health+json': { schema: ref('Health') } }),
      503: response('`fail`', { 'application/health+json': { schema: ref('Health') } }),
    }),
  },
  '/metrics': {
    get: opsOperation(
      'metrics',
      'Prometheus metrics; open on loopback only unless `MIXTAPE_METRICS_TOKEN` is set, then that bearer token is required',
      {
        200: response('Prometheus text format', { 'text/plain; version=0.0.4; charset=utf-8': { schema: { type: 'string' } } }),
        401: response('The metrics token is missing or wrong'),
        403: response('No metrics token is configured and the caller is not on loopback'),
      },
      [{}, { metricsToken: [] }],
    ),
  },
};

/** The document for a set of rules: the server serves the one for its own. */
export function openApiDocumentFor(rules: MixtapeValidators) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Mixtape',
      version: '1.0.0',
      description:
        'Search a music catalog and download tracks into a personal library. Every error is `application/problem+json` (RFC 9457); every response carries `X-Request-Id`; unknown JSON fields are rejected (400) and bodies over 16 KiB are refused (413).',
    },
    tags: ['meta', 'auth', 'users', 'tracks', 'downloads', 'library', 'admin', 'operations'].map((name) => ({ name })),
    paths: { ...apiPaths(rules), ...opsPaths },
    components: {
      schemas: componentSchemas(rules),
      responses: Object.fromEntries(Object.entries(PROBLEM_RESPONSES).map(([status, value]) => [`Problem${status}`, value])),
      headers: {
        'X-Request-Id': { description: "The request's id, echoed when the request sent a sane one", schema: { type: 'string' } },
        'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 0 } },
        ETag: { description: 'Strong, from the content hash', schema: { type: 'string' } },
        'Content-Range-Unsatisfied': { description: '`bytes */size`', schema: { type: 'string' } },
      },
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The access token from `/api/v1/auth/login`' },
        metricsToken: { type: 'http', scheme: 'bearer', description: '`MIXTAPE_METRICS_TOKEN`' },
      },
    },
  } satisfies Json;
}

/** The document for the contract's rules (`DEFAULT_MIXTAPE_VALIDATORS`). */
export const openApiDocument = openApiDocumentFor(DEFAULT_MIXTAPE_VALIDATORS);

/** Every (method, path) of the document, methods upper-case and paths in `{param}` form. */
export function documentedOperations(): Array<{ method: string; path: string }> {
  const paths: Record<string, PathItem> = openApiDocument.paths;
  return Object.entries(paths).flatMap(([path, item]) =>
    HTTP_METHODS.filter((method) => item[method] !== undefined).map((method) => ({ method: method.toUpperCase(), path })),
  );
}
