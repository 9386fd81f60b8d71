import { ValidationError, type FieldProblem } from '../errors.js';
import type { PageRequest } from '../model.js';
import type { IntegerRule, PageRules, TextRule } from './mixtape-validators.js';

/*
 * Core's reading of the validators. The server's Joi schemas read the same rules and say the
 * same words (the messages below), so a caller hears the same thing from either.
 */

export const REQUIRED_MESSAGE = 'is required';
export const NOT_TEXT_MESSAGE = 'must be a string';
const NOT_MATCHING_MESSAGE = 'is not in the expected form';

export function lengthMessage(rule: TextRule): string {
  if (rule.message !== undefined) return rule.message;
  return rule.minLength === rule.maxLength
    ? `must be ${rule.minLength} characters`
    : `must be ${rule.minLength} to ${rule.maxLength} characters`;
}

/**
 * Text must be well-formed Unicode. JSON can carry lone surrogates (`"\ud800"`), which UTF-8
 * cannot encode: each becomes U+FFFD on the way to a hash, an index or a log, so two different
 * passwords of them would be one. No JSON Schema keyword says this; the document says it in words.
 */
export const WELL_FORMED_MESSAGE = 'must be well-formed Unicode text: no unpaired surrogate';

export function wellFormedMessage(rule: TextRule): string {
  return rule.message ?? WELL_FORMED_MESSAGE;
}

/** A surrogate that `u` reads as a code point of its own is one that has no pair. */
const LONE_SURROGATE = /\p{Cs}/u;

/** `String.prototype.isWellFormed`, which the ES2023 library this builds against lacks. */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

export function patternMessage(rule: TextRule): string {
  return rule.message ?? rule.patternMessage ?? NOT_MATCHING_MESSAGE;
}

export function forbiddenMessage(rule: TextRule): string {
  return rule.message ?? rule.forbiddenMessage ?? 'holds characters that are not allowed';
}

export function integerMessage(rule: IntegerRule): string {
  return `must be an integer from ${rule.minimum} to ${rule.maximum}`;
}

/** Characters as JSON Schema counts them: code points, so an emoji is one, not two. */
export function characterCount(text: string): number {
  return [...text].length;
}

const compiled = new Map<string, RegExp>();

/** Compiled with `u`, as JSON Schema validators compile `pattern`. */
export function ruleRegExp(source: string): RegExp {
  let regExp = compiled.get(source);
  if (!regExp) {
    regExp = new RegExp(source, 'u');
    compiled.set(source, regExp);
  }
  return regExp;
}

export function forbiddenRegExp(rule: TextRule): RegExp | undefined {
  return rule.forbiddenCharacters ? ruleRegExp(`[${rule.forbiddenCharacters}]`) : undefined;
}

/**
 * The value as the rule accepts it (trimmed when the rule trims).
 * @param explainMismatch says more than the rule's `patternMessage` can, for a value that misses the pattern
 * @throws ValidationError naming `field`
 */
export function checkText(field: string, rule: TextRule, value: unknown, explainMismatch?: (text: string) => string | undefined): string {
  if (typeof value !== 'string') throw ValidationError.field(field, value === undefined ? REQUIRED_MESSAGE : NOT_TEXT_MESSAGE);
  const text = rule.trim ? value.trim() : value;
  if (!isWellFormed(text)) throw ValidationError.field(field, wellFormedMessage(rule));
  const length = characterCount(text);
  if (length === 0 && rule.minLength > 0) throw ValidationError.field(field, REQUIRED_MESSAGE);
  if (length < rule.minLength || length > rule.maxLength) throw ValidationError.field(field, lengthMessage(rule));
  if (forbiddenRegExp(rule)?.test(text)) throw ValidationError.field(field, forbiddenMessage(rule));
  if (rule.pattern !== undefined && !ruleRegExp(rule.pattern).test(text)) {
    throw ValidationError.field(field, explainMismatch?.(text) ?? patternMessage(rule));
  }
  return text;
}

function isWithin(rule: IntegerRule, value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= rule.minimum && value <= rule.maximum;
}

/**
 * The value, or the rule's default when it is absent.
 * @throws ValidationError naming `field`
 */
export function checkInteger(field: string, rule: IntegerRule, value: unknown): number {
  if (value === undefined) return rule.default;
  if (!isWithin(rule, value)) throw ValidationError.field(field, integerMessage(rule));
  return value;
}

/**
 * A page request with both bounds checked and the defaults filled in.
 * @throws ValidationError naming every bad field
 */
export function checkPage(rules: PageRules, page: Partial<PageRequest> = {}): PageRequest {
  const limit = page.limit ?? rules.limit.default;
  const offset = page.offset ?? rules.offset.default;
  const problems: FieldProblem[] = [];
  if (!isWithin(rules.limit, limit)) problems.push({ path: 'limit', message: integerMessage(rules.limit) });
  if (!isWithin(rules.offset, offset)) problems.push({ path: 'offset', message: integerMessage(rules.offset) });
  if (problems.length > 0) throw new ValidationError(problems.map((p) => `${p.path}: ${p.message}`).join('; '), problems);
  return { limit, offset };
}
