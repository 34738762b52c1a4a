import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_INO, direntPlusSize, direntSize, type DirentPlusOut } from '../../src/fuse/operations.ts';
import { ctx, makeFs } from './fixture.ts';

describe('WorkspaceFilesystem readdir and readdirplus', () => {
  it('readdirplus of 2,000 entries costs one remote readdir and no stat per entry', async () => {
    const { client, fs } = makeFs({ prefetchConcurrency: 0 });
    for (let i = 0; i < 2000; i++) client.put(`/work/big/f${i}`, `${i}`);
    const dir = await fs.lookup(ROOT_INO, 'big', ctx);
    client.resetCounts();
    const { fh } = await fs.opendir(dir.ino, 0, ctx);
    const all: DirentPlusOut[] = [];
    let offset = 0;
    for (;;) {
      const batch = await fs.readdirplus(dir.ino, fh, offset, 4096, ctx);
      if (batch.length === 0) break;
      all.push(...batch);
      offset = batch[batch.length - 1]!.offset;
    }
    await fs.releasedir(dir.ino, fh, ctx);
    assert.equal(all.length, 2002);
    assert.deepEqual(all.slice(0, 2).map(e => e.name), ['.', '..']);
    assert.equal(client.count('readdir'), 1);
    assert.equal(client.count('lstat'), 0);
    assert.equal(client.count('stat'), 0);
    const f7 = all.find(e => e.name === 'f7')!;
    assert.equal(f7.entry.attr.size, 1);
    // Every entry but . and .. is a kernel reference: a lookup now hits the same node.
    client.resetCounts();
    const again = await fs.lookup(dir.ino, 'f7', ctx);
    assert.equal(again.ino, f7.entry.ino);
    assert.equal(client.count('lstat'), 0);
  });

  it('readdirplus returns only entries that fit in size', async () => {
    const { client, fs } = makeFs();
    for (let i = 0; i < 50; i++) client.put(`/work/d/name-${i}`, '');
    const dir = await fs.lookup(ROOT_INO, 'd', ctx);
    const { fh } = await fs.opendir(dir.ino, 0, ctx);
    const size = 1000;
    const batch = await fs.readdirplus(dir.ino, fh, 0, size, ctx);
    const used = batch.reduce((n, e) => n + direntPlusSize(e.name), 0);
    assert.ok(used <= size);
    assert.ok(used + direntPlusSize('name-99') > size, 'filled as far as it fits');
    assert.equal(fs.stats().inodes, 2 + batch.length - 2, 'only returned entries became nodes');
  });

  it('readdirplus entries are lookup references that forget releases', async () => {
    const { client, fs } = makeFs();
    client.put('/work/d/a', 'x');
    const dir = await fs.lookup(ROOT_INO, 'd', ctx);
    const { fh } = await fs.opendir(dir.ino, 0, ctx);
    const [, , a] = await fs.readdirplus(dir.ino, fh, 0, 65536, ctx);
    await fs.releasedir(dir.ino, fh, ctx);
    await fs.lookup(dir.ino, 'a', ctx);
    const before = fs.stats().inodes;
    fs.forget(a!.entry.ino, 1);
    assert.equal(fs.stats().inodes, before);
    fs.forget(a!.entry.ino, 1);
    assert.equal(fs.stats().inodes, before - 1);
  });

  it('readdir offsets resume where the previous answer stopped', async () => {
    const { client, fs } = makeFs();
    const names = Array.from({ length: 300 }, (_, i) => `entry-${i}`);
    for (const n of names) client.put(`/work/d/${n}`, '');
    const dir = await fs.lookup(ROOT_INO, 'd', ctx);
    const { fh } = await fs.opendir(dir.ino, 0, ctx);
    const seen: string[] = [];
    let offset = 0;
    for (;;) {
      const batch = await fs.readdir(dir.ino, fh, offset, 512, ctx);
      if (batch.length === 0) break;
      const used = batch.reduce((n, e) => n + direntSize(e.name), 0);
      assert.ok(used <= 512);
      seen.push(...batch.map(e => e.name));
      offset = batch[batch.length - 1]!.offset;
      // A change on the server between calls does not disturb the open handle's snapshot.
      if (seen.length === 20) client.put('/work/d/zzz-late', '');
    }
    assert.deepEqual(seen, ['.', '..', ...names]);
  });

  it('readdir inode numbers match what lookup returns later', async () => {
    const { client, fs } = makeFs({}, { reportInodes: false });
    client.put('/work/d/a', 'x');
    const dir = await fs.lookup(ROOT_INO, 'd', ctx);
    const { fh } = await fs.opendir(dir.ino, 0, ctx);
    const listed = await fs.readdir(dir.ino, fh, 0, 4096, ctx);
    const a = listed.find(e => e.name === 'a')!;
    assert.equal((await fs.lookup(dir.ino, 'a', ctx)).ino, a.ino);
    assert.equal(listed[0]!.ino, dir.ino);
    assert.equal(listed[1]!.ino, ROOT_INO);
  });

  it('rewinddir (offset 0 after reading) sees new entries', async () => {
    const { client, fs, clock } = makeFs({ dirTimeoutMs: 100 });
    client.putDir('/work/d');
    const dir = await fs.lookup(ROOT_INO, 'd', ctx);
    const { fh } = await fs.opendir(dir.ino, 0, ctx);
    assert.equal((await fs.readdir(dir.ino, fh, 0, 4096, ctx)).length, 2);
    client.put('/work/d/new', '');
    clock.advance(101);
    assert.equal((await fs.readdir(dir.ino, fh, 0, 4096, ctx)).length, 3);
  });

  it('a fresh listing answers lookups of listed names without a round trip, and checks a miss once', async () => {
    const { client, fs } = makeFs();
    client.put('/work/d/a', 'x');
    const dir = await fs.lookup(ROOT_INO, 'd', ctx);
    const { fh } = await fs.opendir(dir.ino, 0, ctx);
    await fs.releasedir(dir.ino, fh, ctx);
    client.resetCounts();
    assert.notEqual((await fs.lookup(dir.ino, 'a', ctx)).ino, 0);
    assert.equal(client.count('lstat'), 0);
    assert.equal((await fs.lookup(dir.ino, 'missing', ctx)).ino, 0);
    assert.equal((await fs.lookup(dir.ino, 'missing', ctx)).ino, 0);
    assert.equal(client.count('lstat'), 1);
  });

  it('opendir of a file answers ENOTDIR', async () => {
    const { client, fs } = makeFs();
    client.put('/work/f', 'x');
    const { ino } = await fs.lookup(ROOT_INO, 'f', ctx);
    await assert.rejects(fs.opendir(ino, 0, ctx), { code: 'ENOTDIR' });
  });
});
