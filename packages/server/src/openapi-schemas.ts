/** The component schemas of the OpenAPI document: the shapes of API.md, the rules of core's validators. */

import { JOB_STATUSES, loginRules, type MixtapeValidators } from '@mixtape/core';
import { textSchema } from './openapi-from-validators.js';

type Json = Record<string, unknown>;

export function trackIdSchema(rules: MixtapeValidators): Json {
  return textSchema(rules.trackId, { description: 'A Spotify track id, in base62' });
}

const ref = (schema: string): Json => ({ $ref: `#/components/schemas/${schema}` });

/** A closed object: every property listed, `required` those not marked optional. */
function object(properties: Record<string, Json>, optional: string[] = [], closed = false): Json {
  return {
    type: 'object',
    required: Object.keys(properties).filter((name) => !optional.includes(name)),
    properties,
    ...(closed && { additionalProperties: false }),
  };
}

const integer = (minimum = 0): Json => ({ type: 'integer', minimum });
const text: Json = { type: 'string' };
const dateTime: Json = { type: 'string', format: 'date-time' };
const reconcileCounts = object({ orphanFiles: integer(), missingFiles: integer(), missingDocuments: integer(), staleDocuments: integer(), stuckJobs: integer() });
const healthCheck = object(
  {
    status: { enum: ['pass', 'warn', 'fail'] },
    observedValue: {},
    observedUnit: text,
    time: dateTime,
    output: text,
  },
  ['observedValue', 'observedUnit', 'output'],
);

// Response schemas stay open (no `additionalProperties: false`) so the server may add fields;
// request bodies are closed, as the server rejects unknown fields.
export function componentSchemas(rules: MixtapeValidators): Record<string, Json> {
  const trackId = trackIdSchema(rules);
  const login = loginRules(rules);
  return {
    Track: object(
      {
        id: trackId,
        title: text,
        artists: { type: 'array', items: text },
        album: text,
        durationMs: integer(),
        isrc: text,
        available: { type: 'boolean', description: 'Whether the audio is stored and can be added to a library at once' },
        sizeBytes: integer(),
      },
      ['isrc', 'sizeBytes'],
    ),
    JobStatus: { type: 'string', enum: [...JOB_STATUSES], description: '`completed`, `failed` and `cancelled` are final' },
    JobProgress: object({ bytes: integer(), totalBytes: integer() }, ['totalBytes']),
    Job: object(
      {
        id: text,
        trackId,
        status: ref('JobStatus'),
        attempts: integer(),
        maxAttempts: integer(1),
        nextAttemptAt: dateTime,
        progress: ref('JobProgress'),
        error: object({ code: text, message: text }),
        createdAt: dateTime,
        updatedAt: dateTime,
      },
      ['nextAttemptAt', 'progress', 'error'],
    ),
    JobPage: object({ items: { type: 'array', items: ref('Job') }, total: integer() }),
    LibraryEntry: object({ track: ref('Track'), addedAt: dateTime, sizeBytes: integer() }),
    LibraryPage: object({ items: { type: 'array', items: ref('LibraryEntry') }, total: integer() }),
    SearchResult: object({ items: { type: 'array', items: ref('Track') }, total: integer(), degraded: { type: 'boolean' } }),
    ReconcileReport: object({
      startedAt: dateTime,
      finishedAt: dateTime,
      dryRun: { type: 'boolean' },
      checked: object({ files: integer(), rows: integer(), documents: integer() }),
      found: reconcileCounts,
      repaired: reconcileCounts,
    }),
    TokenPair: object({
      accessToken: text,
      refreshToken: text,
      tokenType: { const: 'Bearer' },
      expiresIn: { type: 'integer', minimum: 1, description: 'Seconds until the access token expires' },
    }),
    RegisteredUser: object({ id: text, username: text }),
    Me: object({
      id: text,
      username: text,
      roles: { type: 'array', items: text, description: '`user`, and `admin` while granted by `mixtape admin grant` (read from the database on each request)' },
      quota: object({ usedBytes: integer(), limitBytes: integer() }),
    }),
    RegisterRequest: object({ username: textSchema(rules.username), password: textSchema(rules.password) }, [], true),
    // Login does not restate the registration rules, only their longest lengths: any wrong pair is the same 401.
    LoginRequest: object({ username: textSchema(login.username), password: textSchema(login.password) }, [], true),
    RefreshRequest: object({ refreshToken: textSchema(rules.refreshToken) }, [], true),
    LogoutRequest: object(
      { refreshToken: textSchema(rules.refreshToken, { description: 'Ends the session this token belongs to as well, when it is yours' }) },
      ['refreshToken'],
      true,
    ),
    DownloadRequest: object(
      {
        track: textSchema(rules.trackRef, {
          description: 'A Spotify track id, `spotify:track:ID`, or `https://open.spotify.com/track/ID` (query string allowed).',
          examples: ['4uLU6hMCjMI75M1A2tKUQC', 'spotify:track:4uLU6hMCjMI75M1A2tKUQC', 'https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC?si=x'],
        }),
      },
      [],
      true,
    ),
    FieldProblem: object({ path: text, message: text }),
    Problem: object(
      {
        type: {
          type: 'string',
          format: 'uri-reference',
          description:
            'Ends in one of `validation`, `unauthorized`, `forbidden`, `not-found`, `conflict`, `rate-limited`, `quota-exceeded`, `unavailable`, `internal`',
        },
        title: text,
        status: { type: 'integer', minimum: 400, maximum: 599 },
        detail: text,
        errors: { type: 'array', items: ref('FieldProblem') },
      },
      ['errors'],
    ),
    Health: object({
      status: { enum: ['pass', 'warn', 'fail'] },
      checks: { type: 'object', description: 'Keyed by `<component>:<measurement>`', additionalProperties: { type: 'array', items: healthCheck } },
    }),
  };
}

