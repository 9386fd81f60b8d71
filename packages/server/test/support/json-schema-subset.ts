/**
 * Whether a value satisfies a JSON Schema, for the few keywords the OpenAPI document puts on
 * request fields, read as JSON Schema 2020-12 reads them: lengths in code points, patterns as
 * Unicode regular expressions that may match anywhere. A keyword it does not know throws rather
 * than passing: a constraint that cannot be read must not be taken as satisfied.
 */

export type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(['description', 'examples', 'default', 'title', '$comment']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function satisfies(schema: Schema, value: unknown): boolean {
  return Object.entries(schema).every(([keyword, expected]) => holds(keyword, expected, value));
}

function holds(keyword: string, expected: unknown, value: unknown): boolean {
  if (ANNOTATIONS.has(keyword)) return true;
  const text = typeof value === 'string' ? value : undefined;
  const number = typeof value === 'number' ? value : undefined;
  switch (keyword) {
    case 'type':
      return hasType(String(expected), value);
    case 'minLength':
      return text === undefined || [...text].length >= Number(expected);
    case 'maxLength':
      return text === undefined || [...text].length <= Number(expected);
    case 'pattern':
      return text === undefined || new RegExp(String(expected), 'u').test(text);
    case 'format':
      if (expected !== 'uuid') throw new Error(`format ${String(expected)} is not known here`);
      return text === undefined || UUID.test(text);
    case 'minimum':
      return number === undefined || number >= Number(expected);
    case 'maximum':
      return number === undefined || number <= Number(expected);
    case 'enum':
      return (expected as unknown[]).includes(value);
    case 'not':
      return !satisfies(expected as Schema, value);
    case 'allOf':
      return (expected as Schema[]).every((part) => satisfies(part, value));
    default:
      throw new Error(`keyword ${keyword} is not known here`);
  }
}

function hasType(type: string, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    default:
      throw new Error(`type ${type} is not known here`);
  }
}

/** A query or path parameter as its schema reads the text of the URL. */
export function parameterValue(schema: Schema, raw: string): unknown {
  if (schema.type === 'integer') return /^-?\d+$/.test(raw) ? Number(raw) : raw;
  if (schema.type === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  return raw;
}
