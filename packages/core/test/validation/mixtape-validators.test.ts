import { describe, expect, it } from 'vitest';
import { ConfigError, ValidationError } from '../../src/errors.js';
import { checkInteger, checkPage, checkText } from '../../src/validation/field-checks.js';
import { DEFAULT_MIXTAPE_VALIDATORS as rules, loginRules, mixtapeValidators, type TextRule } from '../../src/validation/mixtape-validators.js';

const NOTE = '\u{1F3B5}';

/** The field-problem list a check throws, or `accepted` with the value it returns. */
function outcome(check: () => unknown): unknown {
  try {
    return { accepted: check() };
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return error.errors;
  }
}

const refused = (field: string) => [{ path: field, message: expect.any(String) }];

describe('the default validators hold the contract (API.md)', () => {
  it('username: ^[A-Za-z0-9_.-]{3,32}$', () => {
    const contract = /^[A-Za-z0-9_.-]{3,32}$/;
    const samples = ['abc', 'ab', 'a'.repeat(32), 'a'.repeat(33), 'A.b-c_9', 'a b', 'ab!', '\u00e9t\u00e9', 'abc\n', '', `${NOTE}${NOTE}${NOTE}`];
    for (const sample of samples) {
      const expected = contract.test(sample) ? { accepted: sample } : refused('username');
      expect(outcome(() => checkText('username', rules.username, sample)), JSON.stringify(sample)).toEqual(expected);
    }
  });

  it('password: 10 to 128 characters, each emoji counting as one', () => {
    for (const [password, ok] of [
      ['p'.repeat(9), false],
      ['p'.repeat(10), true],
      ['p'.repeat(128), true],
      ['p'.repeat(129), false],
      [NOTE.repeat(9), false],
      [NOTE.repeat(10), true],
      [NOTE.repeat(128), true],
      [NOTE.repeat(129), false],
    ] as const) {
      expect(outcome(() => checkText('password', rules.password, password)), `${[...password].length} characters`).toEqual(ok ? { accepted: password } : refused('password'));
    }
  });

  it('q: 1 to 200 characters once trimmed, not blank, no control characters', () => {
    expect(outcome(() => checkText('q', rules.searchQuery, '  love\n'))).toEqual({ accepted: 'love' });
    expect(outcome(() => checkText('q', rules.searchQuery, 'q'.repeat(200)))).toEqual({ accepted: 'q'.repeat(200) });
    expect(outcome(() => checkText('q', rules.searchQuery, NOTE.repeat(200)))).toEqual({ accepted: NOTE.repeat(200) });
    expect(outcome(() => checkText('q', rules.searchQuery, 'q'.repeat(201)))).toEqual([{ path: 'q', message: 'must be 1 to 200 characters' }]);
    expect(outcome(() => checkText('q', rules.searchQuery, ' \t '))).toEqual([{ path: 'q', message: 'is required' }]);
    for (const control of ['\u0000', '\u0007', '\t', '\u007f', '\u0085', '\u009f']) {
      expect(outcome(() => checkText('q', rules.searchQuery, `a${control}b`)), JSON.stringify(control)).toEqual([
        { path: 'q', message: 'must not contain control characters' },
      ]);
    }
    expect(outcome(() => checkText('q', rules.searchQuery, 'a\u00a0b'))).toEqual({ accepted: 'a\u00a0b' });
  });

  it('paging: search limit 1 to 50 (default 20), offset 0 to 1000 (default 0)', () => {
    expect(checkPage(rules.searchPage)).toEqual({ limit: 20, offset: 0 });
    expect(checkPage(rules.searchPage, { limit: 1, offset: 1000 })).toEqual({ limit: 1, offset: 1000 });
    expect(checkPage(rules.searchPage, { limit: 50 })).toEqual({ limit: 50, offset: 0 });
    expect(outcome(() => checkPage(rules.searchPage, { limit: 51, offset: -1 }))).toEqual([
      { path: 'limit', message: 'must be an integer from 1 to 50' },
      { path: 'offset', message: 'must be an integer from 0 to 1000' },
    ]);
    expect(outcome(() => checkPage(rules.searchPage, { limit: 0 }))).toEqual(refused('limit'));
    expect(outcome(() => checkPage(rules.searchPage, { offset: 1001 }))).toEqual(refused('offset'));
    expect(outcome(() => checkInteger('limit', rules.searchPage.limit, 2.5))).toEqual(refused('limit'));
    expect(outcome(() => checkInteger('limit', rules.searchPage.limit, Number.NaN))).toEqual(refused('limit'));
  });

  it('a track id is 22 characters of base62, told as one message', () => {
    expect(outcome(() => checkText('trackId', rules.trackId, '4uLU6hMCjMI75M1A2tKUQC'))).toEqual({ accepted: '4uLU6hMCjMI75M1A2tKUQC' });
    for (const bad of ['abc', '4uLU6hMCjMI75M1A2tKUQ-', '4uLU6hMCjMI75M1A2tKUQCx']) {
      expect(outcome(() => checkText('trackId', rules.trackId, bad))).toEqual([{ path: 'trackId', message: 'must be a Spotify track id: 22 letters and digits' }]);
    }
  });

  it('a value that is not text is refused, and a missing one is required', () => {
    expect(outcome(() => checkText('username', rules.username, 12345))).toEqual([{ path: 'username', message: 'must be a string' }]);
    expect(outcome(() => checkText('username', rules.username, undefined))).toEqual([{ path: 'username', message: 'is required' }]);
  });
});

describe('text that is not well-formed Unicode', () => {
  // JSON may carry lone surrogates ("\ud800"), and JSON.parse keeps them; encoded as UTF-8 each
  // becomes U+FFFD, so such passwords were all one password.
  const LONE = ['\ud800', '\udfff', '\udc00\ud800', `${NOTE.slice(0, 1)}x`, `x${NOTE.slice(1)}`];
  const textRules = Object.entries(rules).filter((entry): entry is [string, TextRule] => 'kind' in entry[1]);

  it('is refused for every text field, naming it, before its length is judged', () => {
    expect(textRules.map(([name]) => name).sort()).toEqual(['jobId', 'password', 'refreshToken', 'searchQuery', 'trackId', 'trackRef', 'username']);
    for (const [name, rule] of textRules) {
      for (const lone of LONE) {
        const message = rule.message ?? 'must be well-formed Unicode text: no unpaired surrogate';
        expect(outcome(() => checkText(name, rule, lone)), `${name} ${JSON.stringify(lone)}`).toEqual([{ path: name, message }]);
        expect(outcome(() => checkText(name, rule, lone.repeat(rule.maxLength))), `${name} long`).toEqual([{ path: name, message }]);
      }
    }
  });

  it('is refused for a login too, which checks lengths only', () => {
    const login = loginRules(rules);
    for (const lone of LONE) {
      expect(outcome(() => checkText('password', login.password, lone.repeat(10))), JSON.stringify(lone)).toEqual(refused('password'));
      expect(outcome(() => checkText('username', login.username, lone)), JSON.stringify(lone)).toEqual(refused('username'));
    }
  });

  it('leaves surrogate pairs, U+FFFD and noncharacters alone: they are well-formed', () => {
    for (const password of [NOTE.repeat(10), '\ufffd'.repeat(10), '\uffff'.repeat(10), `${'\ud83c\udfb5'}abcdefghi`]) {
      expect(outcome(() => checkText('password', rules.password, password)), JSON.stringify(password)).toEqual({ accepted: password });
    }
  });
});

describe('login rules', () => {
  it('check lengths only, up to the longest username and password a registration allows', () => {
    const login = loginRules(rules);
    expect(login.username).toEqual({ kind: 'string', minLength: 1, maxLength: rules.username.maxLength });
    expect(login.password).toEqual({ kind: 'string', minLength: 1, maxLength: rules.password.maxLength });
    // Too short or odd for a registration, still a well-formed login: it gets the same 401 as any wrong pair.
    expect(outcome(() => checkText('username', login.username, 'a b'))).toEqual({ accepted: 'a b' });
    expect(outcome(() => checkText('password', login.password, 'x'))).toEqual({ accepted: 'x' });
  });

  it('follow the registration rules they are derived from', () => {
    const longer = mixtapeValidators({ username: { ...rules.username, maxLength: 64 } });
    expect(loginRules(longer).username.maxLength).toBe(64);
  });
});

describe('mixtapeValidators', () => {
  it('replaces whole rules and keeps the others', () => {
    const strict: TextRule = { kind: 'string', minLength: 12, maxLength: 64 };
    const validators = mixtapeValidators({ password: strict });
    expect(validators.password).toBe(strict);
    expect(validators.username).toBe(rules.username);
    expect(mixtapeValidators()).toEqual(rules);
  });

  it('refuses rules that cannot hold, naming each', () => {
    let thrown: unknown;
    try {
      mixtapeValidators({
        username: { ...rules.username, minLength: 40 },
        searchQuery: { ...rules.searchQuery, pattern: '(' },
        searchPage: { ...rules.searchPage, limit: { kind: 'integer', minimum: 1, maximum: 50, default: 80 } },
      });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).problems).toEqual([
      expect.stringMatching(/^validators\.username: /),
      expect.stringMatching(/^validators\.searchQuery: /),
      expect.stringMatching(/^validators\.searchPage\.limit: /),
    ]);
  });
});
