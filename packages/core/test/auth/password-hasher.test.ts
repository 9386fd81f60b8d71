import { describe, expect, it } from 'vitest';
import { DEFAULT_SCRYPT_COST, HashGate, PasswordHasher, UnavailableError } from '../../src/index.js';

const PASSWORD = 'correct horse battery staple';

describe('PasswordHasher', () => {
  it("hashes at OWASP's cost by default (N=2^17, r=8, p=1), and verifies", async () => {
    expect(DEFAULT_SCRYPT_COST).toEqual({ N: 131072, r: 8, p: 1 });
    const hasher = new PasswordHasher();
    const stored = await hasher.hash(PASSWORD);
    expect(stored).toMatch(/^scrypt\$131072\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(stored).not.toContain(PASSWORD);
    expect(await hasher.verify(PASSWORD, stored)).toBe(true);
    expect(await hasher.verify(`${PASSWORD}!`, stored)).toBe(false);
    expect(hasher.needsRehash(stored)).toBe(false);
  });

  it('verifies a hash made at an older cost, and says it needs redoing', async () => {
    const old = await new PasswordHasher({ N: 2 ** 15, r: 8, p: 1 }).hash(PASSWORD);
    expect(old).toMatch(/^scrypt\$32768\$8\$1\$/);
    const current = new PasswordHasher();
    expect(await current.verify(PASSWORD, old)).toBe(true);
    expect(current.needsRehash(old)).toBe(true);
    // Every parameter counts, and a higher cost is left alone.
    const cheap = new PasswordHasher({ N: 1024, r: 8, p: 1 });
    expect(cheap.needsRehash('scrypt$1024$4$1$c2FsdA$a2V5')).toBe(true);
    expect(cheap.needsRehash('scrypt$1024$8$1$c2FsdA$a2V5')).toBe(false);
    expect(cheap.needsRehash('scrypt$2048$8$1$c2FsdA$a2V5')).toBe(false);
  });

  it('answers false, without hashing, for a stored value it did not write', async () => {
    const hasher = new PasswordHasher({ N: 1024, r: 8, p: 1 });
    for (const stored of ['', 'plain text', 'bcrypt$10$abc', 'scrypt$1000$8$1$c2FsdA$a2V5', 'scrypt$1024$8$1$c2FsdA', 'scrypt$1024$8$x$c2FsdA$a2V5']) {
      expect(await hasher.verify(PASSWORD, stored), stored).toBe(false);
      expect(hasher.needsRehash(stored), stored).toBe(false);
    }
  });

  it('spends a verification on the decoy and answers false', async () => {
    expect(await new PasswordHasher({ N: 1024, r: 8, p: 1 }).verifyDecoy(PASSWORD)).toBe(false);
  });

  it('passes hash, verify and the decoy through its gate', async () => {
    const gate = new HashGate({ concurrency: 1, maxWaiting: 0 });
    const hasher = new PasswordHasher({ N: 1024, r: 8, p: 1 }, gate);
    const stored = await hasher.hash(PASSWORD);
    for (const second of [() => hasher.hash(PASSWORD), () => hasher.verify(PASSWORD, stored), () => hasher.verifyDecoy(PASSWORD)]) {
      const first = hasher.hash(PASSWORD);
      await expect(second()).rejects.toBeInstanceOf(UnavailableError);
      await first;
    }
    expect(gate.running).toBe(0);
  });
});
