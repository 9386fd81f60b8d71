import Joi from 'joi';
import {
  characterCount,
  forbiddenMessage,
  forbiddenRegExp,
  integerMessage,
  isWellFormed,
  lengthMessage,
  NOT_TEXT_MESSAGE,
  patternMessage,
  REQUIRED_MESSAGE,
  ruleRegExp,
  type IntegerRule,
  type PageRules,
  type TextRule,
  wellFormedMessage,
} from '@mixtape/core';

/**
 * Joi schemas read from core's `MixtapeValidators`, so that a rule is written once: core checks
 * it in the services, this turns it into the route's schema, and the OpenAPI document states it.
 * The messages are core's own words, so a caller hears the same refusal from either.
 */

/** A message template that shows `text` as written: Joi reads `{` as the start of a reference. */
const said = (text: string): string => `{{#label}} ${text.replace(/\{/g, '\\{')}`;

export interface TextOptions {
  /**
   * Leave the pattern to the service. For a track reference, whose service can say why a link
   * is not a track (an album, a playlist), which a pattern cannot.
   */
  patternCheckedByService?: boolean;
}

export function joiText(rule: TextRule, options: TextOptions = {}): Joi.StringSchema {
  let schema = Joi.string();
  if (rule.trim) schema = schema.trim();
  if (rule.minLength === 0) schema = schema.allow('');
  // Well-formed first, as core checks: a lone surrogate would reach a hash as U+FFFD. Then
  // counted in characters, as core and JSON Schema count, where Joi's min and max count UTF-16 units.
  schema = schema.custom((value: string, helpers) => {
    if (!isWellFormed(value)) return helpers.error('string.wellFormed');
    const length = characterCount(value);
    return length < rule.minLength || length > rule.maxLength ? helpers.error('string.length') : value;
  });
  const forbidden = forbiddenRegExp(rule);
  if (forbidden) schema = schema.pattern(forbidden, { invert: true });
  if (rule.pattern !== undefined && !options.patternCheckedByService) schema = schema.pattern(ruleRegExp(rule.pattern));
  // One complaint per field, the first core would make, rather than every rule it breaks.
  return schema.prefs({ abortEarly: true }).messages({
    'any.required': said(REQUIRED_MESSAGE),
    'string.empty': said(REQUIRED_MESSAGE),
    'string.base': said(NOT_TEXT_MESSAGE),
    'string.wellFormed': said(wellFormedMessage(rule)),
    'string.length': said(lengthMessage(rule)),
    'string.pattern.base': said(patternMessage(rule)),
    'string.pattern.invert.base': said(forbiddenMessage(rule)),
  });
}

/** Absent, the rule's default; present, a whole number within its bounds. */
export function joiInteger(rule: IntegerRule): Joi.NumberSchema {
  const refusal = said(integerMessage(rule));
  return Joi.number()
    .integer()
    .min(rule.minimum)
    .max(rule.maximum)
    .default(rule.default)
    .messages({ 'number.base': refusal, 'number.integer': refusal, 'number.min': refusal, 'number.max': refusal, 'number.infinity': refusal, 'number.unsafe': refusal });
}

export function joiPage(rules: PageRules): { limit: Joi.NumberSchema; offset: Joi.NumberSchema } {
  return { limit: joiInteger(rules.limit), offset: joiInteger(rules.offset) };
}
