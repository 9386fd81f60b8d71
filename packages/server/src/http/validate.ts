import Joi from 'joi';
import { ValidationError, type FieldProblem } from '@mixtape/core';

/**
 * Checks one part of a request against its schema and returns the converted value. JSON bodies
 * must not carry unknown fields; unknown query parameters are ignored.
 * @throws ValidationError naming every bad field
 */
export function parse<T>(schema: Joi.Schema<T>, value: unknown, part: 'body' | 'query' | 'params'): T {
  if (part === 'body' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw new ValidationError('The request body must be a JSON object', [{ path: 'body', message: 'must be a JSON object' }]);
  }
  const result = schema.validate(value, {
    abortEarly: false,
    convert: true,
    stripUnknown: part === 'query',
    errors: { wrap: { label: false } },
  });
  const errors: FieldProblem[] = (result.error?.details ?? []).map((d) => ({
    path: d.path.join('.') || part,
    message: d.message.replace(/^\S+ /, ''),
  }));
  if (part === 'body') errors.push(...prototypeKeys(value));
  if (errors.length > 0) throw new ValidationError(errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
  return result.value;
}

/**
 * Every `__proto__` key in a parsed JSON value. JSON.parse keeps it as an own property, but
 * Joi never reports it as unknown, so it would pass where any other unknown field is refused;
 * and code that copies such an object can end up changing its prototype.
 */
function prototypeKeys(value: unknown): FieldProblem[] {
  const found: FieldProblem[] = [];
  // A stack rather than recursion: a 16 KiB body can nest thousands of levels deep.
  const pending: Array<{ value: unknown; path: string[] }> = [{ value, path: [] }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    if (typeof next.value !== 'object' || next.value === null) continue;
    for (const [key, child] of Object.entries(next.value)) {
      const path = [...next.path, key];
      if (key === '__proto__') found.push({ path: path.join('.'), message: 'is not allowed' });
      pending.push({ value: child, path });
    }
  }
  return found;
}
