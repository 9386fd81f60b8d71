import { ConfigError } from '../errors.js';
import { TRACK_ID_LENGTH, TRACK_ID_SOURCE, TRACK_REF_SOURCE } from '../spotify/spotify-track-patterns.js';

/**
 * A text field, described as data so that core checks it, the server builds its Joi schema
 * from it and the OpenAPI document states it, all from this one description.
 */
export interface TextRule {
  readonly kind: 'string';
  /** Lengths count characters (code points), as JSON Schema counts them, not UTF-16 units. */
  readonly minLength: number;
  readonly maxLength: number;
  /** Surrounding whitespace is dropped first; every other check, and the service, see the rest. */
  readonly trim?: boolean;
  /**
   * A regular expression the value must match somewhere (anchor it to match it whole), written
   * as JSON Schema's `pattern` reads it: ECMA-262, no flags, the same with `u` or without.
   */
  readonly pattern?: string;
  /** What a value that misses `pattern` is told, e.g. `must not be blank`. */
  readonly patternMessage?: string;
  /**
   * What every refusal of a value that is there says, in place of the length, pattern and
   * character messages: for a value that is one thing, such as an id, whose parts mean nothing.
   */
  readonly message?: string;
  /** The inside of a character class the value may hold none of, e.g. `\\u0000-\\u001f`. */
  readonly forbiddenCharacters?: string;
  readonly forbiddenMessage?: string;
  /** A JSON Schema `format` naming what the value is; the document shows it, nothing checks it. */
  readonly format?: string;
}

export interface IntegerRule {
  readonly kind: 'integer';
  readonly minimum: number;
  readonly maximum: number;
  /** Taken when the value is absent. */
  readonly default: number;
}

export interface PageRules {
  readonly limit: IntegerRule;
  readonly offset: IntegerRule;
}

/** Every rule on what callers send. Pass some in `MixtapeSettings.validators`; the rest keep their defaults. */
export interface MixtapeValidators {
  readonly username: TextRule;
  readonly password: TextRule;
  readonly refreshToken: TextRule;
  /** A bare Spotify track id, as in paths. */
  readonly trackId: TextRule;
  /** A track given as an id, a `spotify:track:` URI or a share link, as `POST /downloads` takes it. */
  readonly trackRef: TextRule;
  /** A download job's id, as `newId` makes them. */
  readonly jobId: TextRule;
  readonly searchQuery: TextRule;
  readonly searchPage: PageRules;
  /** A user's own download jobs. */
  readonly downloadPage: PageRules;
  readonly libraryPage: PageRules;
  /** Everyone's download jobs, for admins. */
  readonly adminJobPage: PageRules;
}

/** C0 controls, DEL and C1 controls: exactly Unicode's `\p{Cc}`, spelled so that no flag is needed. */
const CONTROL_CHARACTERS = '\\u0000-\\u001f\\u007f-\\u009f';
const UUID_V4 = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$';
const OFFSET: IntegerRule = { kind: 'integer', minimum: 0, maximum: 1000, default: 0 };

function page(maximum: number, fallback: number): PageRules {
  return { limit: { kind: 'integer', minimum: 1, maximum, default: fallback }, offset: OFFSET };
}

/** The contract's rules (API.md). */
export const DEFAULT_MIXTAPE_VALIDATORS: MixtapeValidators = {
  username: {
    kind: 'string',
    minLength: 3,
    maxLength: 32,
    pattern: '^[A-Za-z0-9_.-]*$',
    patternMessage: 'must hold only letters, digits, dots, dashes or underscores',
  },
  password: { kind: 'string', minLength: 10, maxLength: 128 },
  // Ours are 43 characters; the bound only keeps a stranger's junk from being hashed at length.
  refreshToken: { kind: 'string', minLength: 1, maxLength: 512 },
  trackId: {
    kind: 'string',
    minLength: TRACK_ID_LENGTH,
    maxLength: TRACK_ID_LENGTH,
    pattern: TRACK_ID_SOURCE,
    message: `must be a Spotify track id: ${TRACK_ID_LENGTH} letters and digits`,
  },
  trackRef: {
    kind: 'string',
    minLength: 1,
    maxLength: 512,
    trim: true,
    pattern: TRACK_REF_SOURCE,
    patternMessage: `must be a Spotify track id (${TRACK_ID_LENGTH} letters and digits), a spotify:track:<id> URI or an https://open.spotify.com/track/<id> link`,
  },
  jobId: { kind: 'string', minLength: 36, maxLength: 36, pattern: UUID_V4, message: 'must be a job id', format: 'uuid' },
  searchQuery: {
    kind: 'string',
    minLength: 1,
    maxLength: 200,
    trim: true,
    // Trimming already refuses a blank query; the pattern says so to readers that cannot trim.
    pattern: '\\S',
    patternMessage: 'must not be blank',
    // No one types these into a search, and they reach the engine's query syntax: a NUL made
    // the embedded index fail, which served the fallback and flagged search as degraded.
    forbiddenCharacters: CONTROL_CHARACTERS,
    forbiddenMessage: 'must not contain control characters',
  },
  searchPage: page(50, 20),
  downloadPage: page(50, 20),
  libraryPage: page(100, 50),
  adminJobPage: page(200, 50),
};

/**
 * The defaults with `overrides` in place of whole rules, checked once so that a bad rule stops
 * the process at start rather than answering some request with a 500.
 * @throws ConfigError naming every rule that cannot hold
 */
export function mixtapeValidators(overrides: Partial<MixtapeValidators> = {}): MixtapeValidators {
  const validators = { ...DEFAULT_MIXTAPE_VALIDATORS, ...overrides };
  const problems = Object.entries(validators).flatMap(([name, rule]: [string, TextRule | PageRules]) =>
    'kind' in rule ? textRuleProblems(name, rule) : [...integerRuleProblems(`${name}.limit`, rule.limit), ...integerRuleProblems(`${name}.offset`, rule.offset)],
  );
  if (problems.length > 0) throw new ConfigError(problems);
  return validators;
}

/**
 * What a login body is held to: lengths only, up to the longest a registered value may be. A
 * malformed body is refused before it costs a hash, and every well-formed wrong pair gets the
 * same 401, whether or not such a user could exist.
 */
export function loginRules(validators: MixtapeValidators): { username: TextRule; password: TextRule } {
  return {
    username: { kind: 'string', minLength: 1, maxLength: validators.username.maxLength },
    password: { kind: 'string', minLength: 1, maxLength: validators.password.maxLength },
  };
}

function textRuleProblems(name: string, rule: TextRule): string[] {
  const problems: string[] = [];
  if (!(Number.isInteger(rule.minLength) && Number.isInteger(rule.maxLength) && rule.minLength >= 0 && rule.minLength <= rule.maxLength)) {
    problems.push(`validators.${name}: minLength and maxLength must be integers with 0 <= minLength <= maxLength`);
  }
  for (const source of [rule.pattern, rule.forbiddenCharacters && `[${rule.forbiddenCharacters}]`]) {
    if (source === undefined || source === '') continue;
    try {
      new RegExp(source, 'u');
    } catch {
      problems.push(`validators.${name}: ${JSON.stringify(source)} is not a regular expression`);
    }
  }
  return problems;
}

function integerRuleProblems(name: string, rule: IntegerRule): string[] {
  const { minimum, maximum, default: fallback } = rule;
  if ([minimum, maximum, fallback].every(Number.isSafeInteger) && minimum <= fallback && fallback <= maximum) return [];
  return [`validators.${name}: minimum, default and maximum must be integers in that order`];
}
