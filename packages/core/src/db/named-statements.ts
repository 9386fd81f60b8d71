import type Database from 'better-sqlite3';
import { MixtapeError } from '../errors.js';
import type { SqliteDatabase } from './sqlite-database.js';

export type SqliteStatement = Database.Statement;

/** An adapter's statements, each prepared on first use and then reused. */
export type PreparedStatements<Name extends string> = { readonly [K in Name]: SqliteStatement };

const NAME_LINE = /^\s*--\s*name:(.*)$/;
const CAMEL_CASE = /^[a-z][A-Za-z0-9]*$/;
const COMMENT_LINE = /^\s*--/;

/**
 * Reads a file of statements, each introduced by a line `-- name: <camelCaseName>`. The text
 * before the first name is the file's header and is ignored. Comment lines inside a statement
 * are kept, since SQLite ignores them; keep them on lines of their own, because SQLite names an
 * unaliased result column after its source text, a trailing comment included.
 * Throws on a malformed name, a duplicate name, or a statement with no SQL in it.
 */
export function namedStatements(text: string): Record<string, string> {
  const sections: { name: string; line: number; body: string[] }[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const named = NAME_LINE.exec(line);
    if (named) sections.push({ name: (named[1] ?? '').trim(), line: index + 1, body: [] });
    else sections.at(-1)?.body.push(line);
  });
  const statements = new Map<string, string>();
  for (const { name, line, body } of sections) {
    if (!CAMEL_CASE.test(name)) throw malformed(`"${name}" (line ${line}) is not a camelCase statement name`);
    if (statements.has(name)) throw malformed(`the statement ${name} (line ${line}) is named twice`);
    const code = body.filter((bodyLine) => !COMMENT_LINE.test(bodyLine)).join('\n').replaceAll(';', '').trim();
    if (code === '') throw malformed(`the statement ${name} (line ${line}) is empty`);
    statements.set(name, body.join('\n').trim());
  }
  return Object.fromEntries(statements);
}

/**
 * The statements of `text`, which must be exactly `names`: called at module load, so a name
 * misspelt in the code or in the file, or a statement left unused, fails on import.
 */
export function requireStatements<const Name extends string>(text: string, names: readonly Name[]): Readonly<Record<Name, string>> {
  const statements = namedStatements(text);
  const missing = names.filter((name) => !Object.hasOwn(statements, name));
  if (missing.length > 0) throw malformed(`no statement named ${missing.join(', ')}`);
  const wanted = new Set<string>(names);
  const unused = Object.keys(statements).filter((name) => !wanted.has(name));
  if (unused.length > 0) throw malformed(`the statements ${unused.join(', ')} are not used`);
  return statements as Record<Name, string>;
}

/**
 * Prepares each statement the first time it is used, then reuses it. Nothing is prepared
 * here, so an adapter's constructor touches no database.
 * A statement keeps its mode (`pluck()`), so use each one always plucked or never.
 */
export function prepareOnFirstUse<Name extends string>(
  db: SqliteDatabase,
  sql: Readonly<Record<Name, string>>,
): PreparedStatements<Name> {
  const statements = {} as Record<Name, SqliteStatement>;
  for (const name of Object.keys(sql) as Name[]) {
    let prepared: SqliteStatement | undefined;
    Object.defineProperty(statements, name, { enumerable: true, get: () => (prepared ??= db.prepare(sql[name])) });
  }
  return statements;
}

function malformed(problem: string): MixtapeError {
  return new MixtapeError('ERR_INTERNAL', `Malformed SQL statements file: ${problem}`);
}
