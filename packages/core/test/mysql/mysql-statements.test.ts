import { describe, expect, it } from 'vitest';
import { MixtapeError } from '../../src/errors.js';
import { bindMysqlParameters, compileMysqlStatement, mysqlStatements, splitMysqlScript } from '../../src/mysql/mysql-statements.js';

const FILE = `-- example: a header, ignored; it may say @notAParameter.

-- name: insertNote
-- Why this statement is written so.
INSERT INTO notes (id, body, note_owner) VALUES (@id, @body, @owner);

-- name: notesOf
SELECT body -- a trailing comment
  # a hash comment, with @ignored in it
FROM notes /* and @this */ WHERE note_owner = @owner AND body <> '@notEither; nor ?' AND id IN (@ids)
  AND tag = "it's" AND \`odd@name\` = @owner;
`;

function malformed(run: () => unknown): MixtapeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(MixtapeError);
    expect((error as MixtapeError).code).toBe('ERR_INTERNAL');
    return error as MixtapeError;
  }
  throw new Error('expected a malformed-statement error');
}

describe('MySQL named statements', () => {
  it('reads the -- name: convention of the SQLite files and compiles @camelCase parameters to ?', () => {
    const sql = mysqlStatements(FILE, ['insertNote', 'notesOf']);
    expect(sql.insertNote).toEqual({
      name: 'insertNote',
      sql: 'INSERT INTO notes (id, body, note_owner) VALUES (?, ?, ?)',
      parameters: ['id', 'body', 'owner'],
    });
    // Comments go, quoted text stays as written, and a name used twice binds twice.
    expect(sql.notesOf.parameters).toEqual(['owner', 'ids', 'owner']);
    expect(sql.notesOf.sql).not.toMatch(/comment|@this|@ignored/);
    expect(sql.notesOf.sql).toContain("'@notEither; nor ?'");
    expect(sql.notesOf.sql).toContain('"it\'s"');
    expect(sql.notesOf.sql).toContain('`odd@name` = ?');
  });

  it('binds values by name, in the order of the placeholders', () => {
    const { notesOf } = mysqlStatements(FILE, ['insertNote', 'notesOf']);
    expect(bindMysqlParameters(notesOf, { owner: 'u1', ids: [1, 2], unused: true })).toEqual(['u1', [1, 2], 'u1']);
    expect(bindMysqlParameters(compileMysqlStatement('SELECT @a AS a'), { a: null })).toEqual([null]);
  });

  it('refuses a missing parameter rather than binding NULL', () => {
    const { insertNote } = mysqlStatements(FILE, ['insertNote', 'notesOf']);
    expect(malformed(() => bindMysqlParameters(insertNote, { id: 1, body: 'x' })).message).toMatch(/insertNote has no value for @owner/);
  });

  it('keeps system variables, executable comments and hints as code', () => {
    const statement = compileMysqlStatement('SELECT @@session.time_zone, /*! 1 + */ /*M! 2 + */ @x /*+ hint */');
    expect(statement.sql).toBe('SELECT @@session.time_zone, /*! 1 + */ /*M! 2 + */ ? /*+ hint */');
    expect(statement.parameters).toEqual(['x']);
  });

  it('refuses two statements, a bare ?, and a statement with nothing to run', () => {
    expect(malformed(() => compileMysqlStatement('SELECT 1; SELECT 2', 'two')).message).toMatch(/two holds more than one statement/);
    expect(compileMysqlStatement('SELECT 1;  -- done\n').sql).toBe('SELECT 1');
    expect(malformed(() => compileMysqlStatement('SELECT ?', 'bare')).message).toMatch(/bare has a bare "\?"/);
    expect(malformed(() => compileMysqlStatement('-- nothing\n;', 'empty')).message).toMatch(/empty is empty/);
    expect(malformed(() => compileMysqlStatement("SELECT 'open")).message).toMatch(/unterminated ' quote/);
  });

  it('fails on import for a name missing from the file or a statement left unused', () => {
    expect(malformed(() => mysqlStatements(FILE, ['insertNote'])).message).toMatch(/notesOf are not used/);
    expect(malformed(() => mysqlStatements(FILE, ['insertNote', 'notesOf', 'other'])).message).toMatch(/no statement named other/);
  });

  it('splits a script at the semicolons outside quotes and comments', () => {
    const script = `-- header; with a semicolon
SET SESSION x = 'a;b';
CREATE TABLE t (
  id INT, -- a comment; here
  note TEXT /* ; */
);

/* a closing comment */
`;
    expect(splitMysqlScript(script)).toEqual(["SET SESSION x = 'a;b'", expect.stringMatching(/^CREATE TABLE t \(\s+id INT,\s+note TEXT\s+\)$/)]);
  });
});
