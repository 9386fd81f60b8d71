import Joi from 'joi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkText, DEFAULT_MIXTAPE_VALIDATORS, loginRules, ValidationError, type TextRule } from '@mixtape/core';
import { openApiDocument } from '@mixtape/server';
import { joiText } from '../src/http/joi-from-validators.js';
import { parse } from '../src/http/validate.js';
import { call, signUp, startTestServer, type TestServer } from './support/test-server.js';
import { errorPaths, expectProblem } from './support/http-expectations.js';

/**
 * JSON may carry lone surrogates (`"\ud800"`), and JSON.parse keeps them. Encoded as UTF-8, on
 * the way to scrypt, each became U+FFFD: a password of ten lone surrogates registered, and any
 * other ten (or ten U+FFFD) opened the account. Text that is not well-formed Unicode is refused.
 * Only a JSON body can carry it: a query string or a path decodes bad bytes to U+FFFD.
 */

const LONE_PASSWORD = '"\\ud800\\ud801\\ud802\\ud803\\ud804\\ud805\\ud806\\ud807\\ud808\\ud809"';

/** The field problems a check throws. */
function problems(check: () => unknown): unknown {
  try {
    check();
  } catch (error) {
    if (error instanceof ValidationError) return error.errors;
    throw error;
  }
  return 'accepted';
}

describe('text that is not well-formed Unicode', () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer({ MIXTAPE_WORKERS: '0' });
    token = (await signUp(server)).accessToken;
  });

  afterAll(async () => {
    await server?.stop();
  });

  const post = (path: string, json: string, auth?: string) => call(`${server.api}${path}`, { body: json, ...(auth && { token: auth }) });

  it("is refused by the route schema of every text rule, in core's words", () => {
    const rules: Array<[string, TextRule]> = [
      ...Object.entries(DEFAULT_MIXTAPE_VALIDATORS).filter((entry): entry is [string, TextRule] => 'kind' in entry[1]),
      ...Object.entries(loginRules(DEFAULT_MIXTAPE_VALIDATORS)).map(([name, rule]): [string, TextRule] => [`login ${name}`, rule]),
    ];
    expect(rules).toHaveLength(9);
    for (const [name, rule] of rules) {
      for (const value of ['\ud800', `abc\udfffdefghijklmnopqrstuvwxyz`, '\udc00\ud800'.repeat(rule.maxLength)]) {
        const fromCore = problems(() => checkText('field', rule, value));
        expect(fromCore, `${name} ${JSON.stringify(value)} in core`).toEqual([{ path: 'field', message: expect.stringMatching(/well-formed|must be/) }]);
        expect(problems(() => parse(Joi.object({ field: joiText(rule) }), { field: value }, 'body')), `${name} ${JSON.stringify(value)}`).toEqual(fromCore);
      }
    }
  });

  it('is a 400 naming the field in every JSON body that carries text', async () => {
    const cases: Array<[string, string, string, string?]> = [
      ['/auth/register', '{"username":"abc\\udc00","password":"a long enough password"}', 'username'],
      ['/auth/register', `{"username":"surrogate","password":${LONE_PASSWORD}}`, 'password'],
      ['/auth/login', '{"username":"\\ud800","password":"a long enough password"}', 'username'],
      ['/auth/login', `{"username":"surrogate","password":${LONE_PASSWORD}}`, 'password'],
      ['/auth/refresh', '{"refreshToken":"\\ud800abc"}', 'refreshToken'],
      ['/auth/logout', '{"refreshToken":"\\ud800abc"}', 'refreshToken', token],
      ['/downloads', '{"track":"4uLU6hMCjMI75M1A2tKUQC\\ud800"}', 'track', token],
    ];
    for (const [path, json, field, auth] of cases) {
      const body = expectProblem(await post(path, json, auth), 400, 'validation');
      expect(errorPaths(body), `${path} ${json}`).toEqual([field]);
      expect(body.errors[0].message, `${path} ${json}`).toMatch(/well-formed/);
    }
  });

  it('never makes a password of lone surrogates the same as one of U+FFFD', async () => {
    expectProblem(await post('/auth/register', `{"username":"surrogate","password":${LONE_PASSWORD}}`), 400, 'validation');
    const replacement = JSON.stringify('\ufffd'.repeat(10));
    expect((await post('/auth/register', `{"username":"replaced","password":${replacement}}`)).status).toBe(201);
    expectProblem(await post('/auth/login', `{"username":"replaced","password":${LONE_PASSWORD}}`), 400, 'validation');
    expect((await post('/auth/login', `{"username":"replaced","password":${replacement}}`)).status).toBe(200);
  });

  it('is stated in words by the OpenAPI document for every text field, as JSON Schema cannot', () => {
    const schemas = (openApiDocument.components.schemas as Record<string, { properties?: Record<string, { type?: string; description?: string }> }>);
    const fields = Object.entries(schemas).flatMap(([name, schema]) =>
      Object.entries(schema.properties ?? {}).map(([property, field]) => ({ name: `${name}.${property}`, field })),
    );
    const requests = fields.filter(({ name }) => /Request\./.test(name));
    expect(requests.length).toBeGreaterThanOrEqual(6);
    for (const { name, field } of requests) {
      if (field.type === 'string') expect(field.description, name).toMatch(/well-formed Unicode/);
    }
  });
});
