import type { IntegerRule, PageRules, TextRule } from '@mixtape/core';

/**
 * JSON Schemas for the OpenAPI document, read from core's `MixtapeValidators`: the same rules
 * the services check and the routes' Joi schemas are built from, so the document cannot drift
 * from what the server answers.
 */

type Json = Record<string, unknown>;

const TRIMMED = 'Surrounding whitespace is ignored: these rules hold for what is left.';
// No JSON Schema keyword can say it, and a validator outside JavaScript may never see the lone surrogate.
const WELL_FORMED = 'Must be well-formed Unicode: a lone surrogate (a JSON `\\ud800` escape without its pair) is refused.';

/** `description` and `examples` are added to what the rule says; they never restate a bound. */
export function textSchema(rule: TextRule, annotations: { description?: string; examples?: string[] } = {}): Json {
  const description = [annotations.description, rule.trim ? TRIMMED : undefined, WELL_FORMED].filter(Boolean).join(' ');
  return {
    type: 'string',
    minLength: rule.minLength,
    maxLength: rule.maxLength,
    ...(rule.pattern !== undefined && { pattern: rule.pattern }),
    // A character class matched anywhere is exactly "holds one of these"; `not` refuses that.
    ...(rule.forbiddenCharacters && { not: { pattern: `[${rule.forbiddenCharacters}]` } }),
    ...(rule.format && { format: rule.format }),
    ...(description && { description }),
    ...(annotations.examples && { examples: annotations.examples }),
  };
}

export function integerSchema(rule: IntegerRule): Json {
  return { type: 'integer', minimum: rule.minimum, maximum: rule.maximum, default: rule.default };
}

/** The `limit` and `offset` query parameters of a listing. */
export function pageParameters(rules: PageRules): Json[] {
  return [
    { name: 'limit', in: 'query', schema: integerSchema(rules.limit) },
    { name: 'offset', in: 'query', schema: integerSchema(rules.offset) },
  ];
}
