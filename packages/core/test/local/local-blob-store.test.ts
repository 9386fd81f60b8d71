import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../src/storage/local-blob-store.js';
import { describeBlobStore } from '../contracts/blob-store.contract.js';

describeBlobStore('local', async () => {
  const root = mkdtempSync(join(tmpdir(), 'mixtape-blobs-'));
  const subject = new LocalBlobStore({ root });
  await subject.start();
  return { subject, close: async () => rmSync(root, { recursive: true, force: true }) };
});

describe('LocalBlobStore', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'mixtape-blobs-'));
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('does no I/O until start, which creates its directories', async () => {
    const store = new LocalBlobStore({ root: join(root, 'data') });
    expect(readdirSync(root)).toEqual([]);
    expect(await store.start()).toBe(0);
    expect(readdirSync(join(root, 'data')).sort()).toEqual(['blobs', 'tmp']);
    expect(await store.start()).toBe(0);
  });

  it('sweeps stale temp files left by a crash on start, keeping fresh ones', async () => {
    const store = new LocalBlobStore({ root, staleTempMs: 60_000 });
    await store.start();
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const name of ['a.part', 'b.part', 'c.part']) {
      writeFileSync(join(root, 'tmp', name), 'partial');
      utimesSync(join(root, 'tmp', name), hourAgo, hourAgo);
    }
    // Another process's draft, still being written. A second old, so that "older than 0 ms"
    // below does not hang on the file system's clock running a hair ahead of Date.now().
    writeFileSync(join(root, 'tmp', 'live.part'), 'partial');
    const secondAgo = new Date(Date.now() - 1000);
    utimesSync(join(root, 'tmp', 'live.part'), secondAgo, secondAgo);

    expect(await store.start()).toBe(3);
    expect(readdirSync(join(root, 'tmp'))).toEqual(['live.part']);
    expect(await store.sweepTemp(0)).toBe(1);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
  });

  it('names an attempt\'s temp file after its job and lease, and its next attempt removes what it left at once', async () => {
    const store = new LocalBlobStore({ root });
    await store.start();
    // A killed attempt's leftover, and others that are not this job's.
    writeFileSync(join(root, 'tmp', 'job-1.lease-a.part'), 'partial');
    writeFileSync(join(root, 'tmp', 'job-10.lease-a.part'), 'another job');
    const anonymous = await store.begin();
    await anonymous.write(Buffer.from('no owner'));

    const draft = await store.begin({ owner: { jobId: 'job-1', token: 'lease-b' } });
    const names = readdirSync(join(root, 'tmp')).sort();
    expect(names.filter((name) => name.startsWith('job-'))).toEqual(['job-1.lease-b.part', 'job-10.lease-a.part']);
    expect(names).toHaveLength(3);
    await draft.abort();
    await anonymous.abort();
  });

  it('refuses owners whose parts cannot be a plain file name', async () => {
    const store = new LocalBlobStore({ root });
    await store.start();
    for (const owner of [{ jobId: '../x', token: 't' }, { jobId: 'a.b', token: 't' }, { jobId: 'j', token: 'x/y' }, { jobId: '', token: 't' }]) {
      await expect(store.begin({ owner })).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    }
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
  });

  it('sweeps the temp files of attempts that are over at any age, when told which are', async () => {
    const store = new LocalBlobStore({ root, staleTempMs: 60_000 });
    await store.start();
    for (const name of ['dead.lease-a.part', 'live.lease-b.part', 'anonymous.part']) writeFileSync(join(root, 'tmp', name), 'partial');
    const asked: string[] = [];
    const removed = await store.sweepTemp(60_000, async (owner) => {
      asked.push(`${owner.jobId}.${owner.token}`);
      return owner.jobId === 'live';
    });
    expect(removed).toBe(1);
    expect(asked.sort()).toEqual(['dead.lease-a', 'live.lease-b']);
    expect(readdirSync(join(root, 'tmp')).sort()).toEqual(['anonymous.part', 'live.lease-b.part']);
  });

  it('writes under tmp and moves the file into the sharded tree on commit', async () => {
    const store = new LocalBlobStore({ root });
    await store.start();
    const draft = await store.begin();
    await draft.write(Buffer.from('hello'));
    expect(readdirSync(join(root, 'tmp'))).toHaveLength(1);

    const { key } = await draft.commit();
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    expect(readdirSync(join(root, 'blobs', key.slice(0, 2), key.slice(2, 4)))).toEqual([key]);
    await draft.abort();
    expect(await store.stat(key)).not.toBeNull();
  });

  it('leaves no temp file after abort, nor after committing a duplicate', async () => {
    const store = new LocalBlobStore({ root });
    await store.start();
    const aborted = await store.begin();
    await aborted.write(Buffer.from('gone'));
    await aborted.abort();
    for (let i = 0; i < 2; i += 1) {
      const draft = await store.begin();
      await draft.write(Buffer.from('same'));
      await draft.commit();
    }
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
  });

  it('rejects keys that are not SHA-256 hex, so no path can escape the root', async () => {
    const store = new LocalBlobStore({ root });
    await store.start();
    for (const key of ['../x', '../../etc/passwd', 'A'.repeat(64), 'a'.repeat(63), `${'a'.repeat(62)}/x`]) {
      await expect(store.open(key)).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
      await expect(store.stat(key)).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
      await expect(store.delete(key)).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    }
  });

  it('rejects malformed and unsatisfiable ranges, and clamps an end past the last byte', async () => {
    const store = new LocalBlobStore({ root });
    await store.start();
    const draft = await store.begin();
    await draft.write(Buffer.from('0123456789'));
    const { key } = await draft.commit();

    await expect(store.open(key, { start: 5, end: 4 })).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    await expect(store.open(key, { start: -1, end: 4 })).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    await expect(store.open(key, { start: 10, end: 20 })).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    const chunks: Buffer[] = [];
    for await (const chunk of await store.open(key, { start: 7, end: 1000 })) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('789');
  });

  it('ignores stray files in the blob tree when listing', async () => {
    const store = new LocalBlobStore({ root });
    await store.start();
    const draft = await store.begin();
    await draft.write(Buffer.from('real'));
    const { key } = await draft.commit();
    writeFileSync(join(root, 'blobs', 'README'), 'not a shard');
    writeFileSync(join(root, 'blobs', key.slice(0, 2), key.slice(2, 4), 'notes.txt'), 'not a blob');

    const keys: string[] = [];
    for await (const blob of store.list()) keys.push(blob.key);
    expect(keys).toEqual([key]);
  });
});
