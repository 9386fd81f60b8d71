import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { namedStatements, prepareOnFirstUse, requireStatements } from '../../src/db/named-statements.js';
import { MixtapeError } from '../../src/errors.js';

const FILE = `-- example: a header, ignored.
-- It may mention \`-- name:\` lines without starting one.

-- name: insertNote
-- Why this statement is written so.
INSERT INTO notes (id, body) VALUES (@id, @body);

-- name: noteById
SELECT body
  -- a comment line inside a statement is kept
FROM notes WHERE id = @id;
`;

function malformed(run: () => unknown): MixtapeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(MixtapeError);
    expect((error as MixtapeError).code).toBe('ERR_INTERNAL');
    return error as MixtapeError;
  }
  throw new Error('expected a malformed-file error');
}

describe('namedStatements', () => {
  it('reads each statement under its name, without the header, keeping comment lines', () => {
    expect(namedStatements(FILE)).toEqual({
      insertNote: '-- Why this statement is written so.\nINSERT INTO notes (id, body) VALUES (@id, @body);',
      noteById: 'SELECT body\n  -- a comment line inside a statement is kept\nFROM notes WHERE id = @id;',
    });
  });

  it('gives statements that SQLite runs as written, comments and all', () => {
    const db = new Database(':memory:');
    try {
      db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
      const sql = namedStatements(FILE);
      db.prepare(sql.insertNote ?? '').run({ id: 1, body: 'hello' });
      expect(db.prepare(sql.noteById ?? '').get({ id: 1 })).toEqual({ body: 'hello' });
    } finally {
      db.close();
    }
  });

  it('reads CRLF files, and a file with no names has no statements', () => {
    expect(namedStatements('-- header\r\n-- name: one\r\nSELECT 1;\r\n')).toEqual({ one: 'SELECT 1;' });
    expect(namedStatements('-- only a header\nSELECT 1;\n')).toEqual({});
  });

  it('throws on a name used twice', () => {
    const error = malformed(() => namedStatements('-- name: one\nSELECT 1;\n-- name: one\nSELECT 2;\n'));
    expect(error.message).toMatch(/one \(line 3\) is named twice/);
  });

  it('throws on a statement with nothing but comments, blanks or semicolons', () => {
    expect(malformed(() => namedStatements('-- name: one\n-- soon\n\n;\n-- name: two\nSELECT 2;')).message).toMatch(
      /one \(line 1\) is empty/,
    );
    expect(malformed(() => namedStatements('-- name: last\n')).message).toMatch(/last \(line 1\) is empty/);
  });

  it('throws on a name that is not camelCase', () => {
    for (const name of ['', 'get-user', 'GetUser', 'get user', 'get_user']) {
      expect(malformed(() => namedStatements(`-- name: ${name}\nSELECT 1;`)).message).toMatch(/not a camelCase statement name/);
    }
  });
});

describe('requireStatements', () => {
  it('returns exactly the statements asked for', () => {
    const sql = requireStatements(FILE, ['insertNote', 'noteById']);
    expect(Object.keys(sql).sort()).toEqual(['insertNote', 'noteById']);
    expect(sql.noteById).toMatch(/^SELECT body/);
  });

  it('throws on a name the file does not have, naming it', () => {
    expect(malformed(() => requireStatements(FILE, ['insertNote', 'noteById', 'notById'])).message).toMatch(
      /no statement named notById/,
    );
    // Names are own keys only: nothing is found on the object's prototype.
    expect(malformed(() => requireStatements(FILE, ['insertNote', 'noteById', 'constructor'])).message).toMatch(
      /no statement named constructor/,
    );
  });

  it('throws on a statement of the file that the code does not ask for', () => {
    expect(malformed(() => requireStatements(FILE, ['insertNote'])).message).toMatch(/noteById are not used/);
  });
});

describe('prepareOnFirstUse', () => {
  it('prepares nothing until a statement is used, then prepares it once', () => {
    const db = new Database(':memory:');
    try {
      // The table does not exist yet: preparing now would throw.
      const statements = prepareOnFirstUse(db, requireStatements(FILE, ['insertNote', 'noteById']));
      db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
      statements.insertNote.run({ id: 7, body: 'kept' });
      expect(statements.insertNote).toBe(statements.insertNote);
      expect(statements.noteById.pluck().get({ id: 7 })).toBe('kept');
    } finally {
      db.close();
    }
  });

  it('reports a statement SQLite rejects when it is first used', () => {
    const db = new Database(':memory:');
    try {
      const statements = prepareOnFirstUse(db, { broken: 'SELECT * FROM no_such_table' });
      expect(() => statements.broken).toThrow(/no_such_table/);
    } finally {
      db.close();
    }
  });
});
