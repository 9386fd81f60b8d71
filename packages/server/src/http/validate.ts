import Joi from 'joi';
import { TRACK_ID_PATTERN, ValidationError } from '@mixtape/core';

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
  if (result.error) {
    const errors = result.error.details.map((d) => ({
      path: d.path.join('.') || part,
      message: d.message.replace(/^\S+ /, ''),
    }));
    throw new ValidationError(errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
  }
  return result.value;
}

export const schemas = {
  trackId: Joi.string().pattern(TRACK_ID_PATTERN).required().messages({
    'string.pattern.base': '{{#label}} must be a Spotify track id: 22 letters and digits',
  }),
  jobId: Joi.string().guid({ version: 'uuidv4' }).required().messages({ 'string.guid': '{{#label}} must be a job id' }),
  limit: (max: number, fallback: number) => Joi.number().integer().min(1).max(max).default(fallback),
  offset: Joi.number().integer().min(0).max(1000).default(0),
} as const;
