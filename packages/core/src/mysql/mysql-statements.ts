import { requireStatements } from '../db/named-statements.js';
import { MixtapeError } from '../errors.js';

/**
 * One SQL statement ready for mysql2: the `@camelCase` parameters of its source replaced by
 * `?` in order, and comments dropped. Compiled once, when its module loads.
 */
export interface MysqlStatement {
  /** The statement's name in its `.sql` file, shown in errors. */
  readonly name: string;
  /** The SQL sent to the server, with a `?` for each parameter. */
  readonly sql: string;
  /** The parameter names, one per `?`, in order (a name used twice appears twice). */
  readonly parameters: readonly string[];
}

/** Named parameters, bound by name: `{ userId: 'u1' }` for `@userId`. `null` is SQL NULL. */
export type MysqlParams = Readonly<Record<string, unknown>>;

/**
 * The statements of a `.sql` file of named statements (the `-- name:` convention of
 * db/named-statements.ts), which must be exactly `names`, each compiled for mysql2. Called at
 * module load, so a misspelt name, a statement left unused or a malformed statement fails on
 * import. In MySQL `@name` would be a user variable; here it is always a parameter.
 */
export function mysqlStatements<const Name extends string>(text: string, names: readonly Name[]): Readonly<Record<Name, MysqlStatement>> {
  const sources = requireStatements(text, names);
  const compiled = {} as Record<Name, MysqlStatement>;
  for (const name of names) compiled[name] = compileMysqlStatement(sources[name], name);
  return compiled;
}

/** Compiles one statement; throws on a second statement, a bare `?`, or nothing to run. */
export function compileMysqlStatement(source: string, name = 'sql'): MysqlStatement {
  const parts: string[] = [];
  const parameters: string[] = [];
  let ended = false;
  for (const token of scanSql(source)) {
    // A comment between two words still separates them.
    if (token.kind === 'comment' || token.kind === 'space') {
      parts.push(' ');
      continue;
    }
    if (ended) throw malformed(name, 'holds more than one statement');
    if (token.kind === 'end') ended = true;
    else if (token.kind === 'parameter') {
      parameters.push(token.text.slice(1));
      parts.push('?');
    } else if (token.kind === 'code' && token.text.includes('?')) {
      throw malformed(name, 'has a bare "?": parameters are named, as @camelCase');
    } else parts.push(token.text);
  }
  const sql = parts.join('').trim();
  if (sql === '') throw malformed(name, 'is empty');
  return { name, sql, parameters };
}

/** The values of a statement's parameters, in the order of its `?`s; a missing one throws. */
export function bindMysqlParameters(statement: MysqlStatement, params: MysqlParams = {}): unknown[] {
  return statement.parameters.map((parameter) => {
    const value = Object.hasOwn(params, parameter) ? params[parameter] : undefined;
    // An absent parameter is a typo in the code or the file; binding it as NULL would hide it.
    if (value === undefined) throw malformed(statement.name, `has no value for @${parameter}`);
    return value;
  });
}

/**
 * Splits a script (a migration file) into its statements at each `;` outside strings and
 * comments, dropping comments. No DELIMITER: a script holds no routine bodies.
 */
export function splitMysqlScript(script: string): string[] {
  const statements: string[] = [];
  let current = '';
  for (const token of scanSql(script)) {
    if (token.kind === 'comment') current += ' ';
    else if (token.kind === 'end') {
      if (current.trim() !== '') statements.push(current.trim());
      current = '';
    } else current += token.text;
  }
  if (current.trim() !== '') statements.push(current.trim());
  return statements;
}

type TokenKind = 'code' | 'space' | 'quoted' | 'comment' | 'parameter' | 'end';

interface Token {
  kind: TokenKind;
  text: string;
}

const PARAMETER = /@[a-z][A-Za-z0-9]*/y;
const SPACE = /\s+/y;
const LINE_COMMENT = /--(\s|$)/y;
/** `/*! … *\/` and MariaDB's `/*M! … *\/` run as code; `/*+ … *\/` holds optimizer hints. */
const EXECUTABLE_COMMENT = /\/\*(M?!|\+)/y;

/** The match of a sticky pattern at `index`, or null. */
function matchAt(pattern: RegExp, text: string, index: number): string | null {
  pattern.lastIndex = index;
  return pattern.exec(text)?.[0] ?? null;
}

/**
 * MySQL's lexical structure, as far as finding parameters and statement ends needs: quoted
 * strings and identifiers ('…', "…", `…`, with doubled quotes and backslash escapes), comments
 * (`-- ` with its space, `#`, `/* … *\/`, but not executable comments and hints, which are
 * code), `@name` parameters (never `@@system` variables), and `;`.
 */
function* scanSql(text: string): Generator<Token> {
  let index = 0;
  let code = '';
  const flush = function* (): Generator<Token> {
    if (code !== '') yield { kind: 'code', text: code };
    code = '';
  };
  while (index < text.length) {
    const char = text[index] ?? '';
    let token: Token | null = null;
    if (char === "'" || char === '"' || char === '`') token = { kind: 'quoted', text: quoted(text, index, char) };
    else if (matchAt(LINE_COMMENT, text, index) !== null || char === '#') token = { kind: 'comment', text: untilLineEnd(text, index) };
    else if (text.startsWith('/*', index) && matchAt(EXECUTABLE_COMMENT, text, index) === null) token = { kind: 'comment', text: blockComment(text, index) };
    else if (char === ';') token = { kind: 'end', text: ';' };
    else if (char === '@' && text[index - 1] !== '@' && text[index + 1] !== '@') {
      const parameter = matchAt(PARAMETER, text, index);
      if (parameter !== null) token = { kind: 'parameter', text: parameter };
    } else if (/\s/.test(char)) token = { kind: 'space', text: matchAt(SPACE, text, index) ?? char };
    if (token === null) {
      code += char;
      index += 1;
      continue;
    }
    yield* flush();
    yield token;
    index += token.text.length;
  }
  yield* flush();
}

function quoted(text: string, start: number, quote: string): string {
  let index = start + 1;
  while (index < text.length) {
    const char = text[index];
    if (char === '\\' && quote !== '`') index += 2;
    else if (char === quote && text[index + 1] === quote) index += 2;
    else if (char === quote) return text.slice(start, index + 1);
    else index += 1;
  }
  throw malformed('sql', `has an unterminated ${quote} quote`);
}

function untilLineEnd(text: string, start: number): string {
  const end = text.indexOf('\n', start);
  return text.slice(start, end === -1 ? text.length : end);
}

function blockComment(text: string, start: number): string {
  const end = text.indexOf('*/', start + 2);
  if (end === -1) throw malformed('sql', 'has an unterminated /* comment');
  return text.slice(start, end + 2);
}

function malformed(name: string, problem: string): MixtapeError {
  return new MixtapeError('ERR_INTERNAL', `The SQL statement ${name} ${problem}`);
}
