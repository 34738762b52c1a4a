import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import { ctx, makeFs, O_CREAT, O_WRONLY, recordingNotifier, S_IFREG } from './fixture.ts';

describe('WorkspaceFilesystem lookup, forget and getattr', () => {
  it('lookup of an existing file returns a stable entry and counts references', async () => {
    const { client, fs } = makeFs();
    client.put('/work/a.txt', 'hello');
    const first = await fs.lookup(ROOT_INO, 'a.txt', ctx);
    const second = await fs.lookup(ROOT_INO, 'a.txt', ctx);
    assert.equal(first.ino, second.ino);
    assert.notEqual(first.ino, ROOT_INO);
    assert.equal(first.attr.size, 5);
    assert.equal(first.attr.ino, client.inodeAt('/work/a.txt').ino, 'stat shows the remote\'s number');
    assert.equal(fs.stats().inodes, 2);
    fs.forget(first.ino, 1);
    assert.equal(fs.stats().inodes, 2, 'one reference left');
    fs.forget(first.ino, 1);
    assert.equal(fs.stats().inodes, 1, 'node dropped at zero');
  });

  it('forget of the root is ignored', async () => {
    const { fs } = makeFs({}, { reportInodes: false });
    fs.forget(ROOT_INO, 10);
    const reply = await fs.getattr(ROOT_INO, undefined, ctx);
    assert.equal(reply.attr.ino, ROOT_INO);
    assert.equal(fs.stats().inodes, 1);
  });

  it('a path keeps its inode number after the kernel forgets it', async () => {
    const { client, fs } = makeFs({}, { reportInodes: false });
    client.put('/work/a.txt', 'x');
    const first = await fs.lookup(ROOT_INO, 'a.txt', ctx);
    fs.forget(first.ino, 1);
    const again = await fs.lookup(ROOT_INO, 'a.txt', ctx);
    assert.equal(again.ino, first.ino);
  });

  it('lookup of a missing name gives a negative entry, cached', async () => {
    const { client, fs } = makeFs();
    const miss = await fs.lookup(ROOT_INO, 'nope', ctx);
    assert.equal(miss.ino, 0);
    assert.ok(miss.entryTimeout > 0);
    client.resetCounts();
    await fs.lookup(ROOT_INO, 'nope', ctx);
    assert.equal(client.count('lstat'), 0);
  });

  it('lookup of a missing name answers ENOENT when negative caching is off', async () => {
    const { fs } = makeFs({ negativeTimeoutMs: 0 });
    await assert.rejects(fs.lookup(ROOT_INO, 'nope', ctx), { code: 'ENOENT' });
  });

  it('create after a negative lookup makes the name visible at once', async () => {
    const { fs } = makeFs();
    assert.equal((await fs.lookup(ROOT_INO, 'new.txt', ctx)).ino, 0);
    const created = await fs.create(ROOT_INO, 'new.txt', S_IFREG | 0o644, O_CREAT | O_WRONLY, ctx);
    await fs.release(created.entry.ino, created.open.fh, ctx);
    const found = await fs.lookup(ROOT_INO, 'new.txt', ctx);
    assert.equal(found.ino, created.entry.ino);
  });

  it('a name created on the server shows up once the negative entry expires', async () => {
    const { client, fs, clock } = makeFs({ negativeTimeoutMs: 1000 });
    assert.equal((await fs.lookup(ROOT_INO, 'late', ctx)).ino, 0);
    client.put('/work/late', 'x');
    assert.equal((await fs.lookup(ROOT_INO, 'late', ctx)).ino, 0);
    clock.advance(1001);
    assert.notEqual((await fs.lookup(ROOT_INO, 'late', ctx)).ino, 0);
  });

  it('getattr answers from the cache until the attribute timeout', async () => {
    const { client, fs, clock } = makeFs({ attrTimeoutMs: 1000 });
    client.put('/work/a', 'abc');
    const { ino } = await fs.lookup(ROOT_INO, 'a', ctx);
    client.resetCounts();
    await fs.getattr(ino, undefined, ctx);
    assert.equal(client.count('lstat'), 0);
    clock.advance(1001);
    await fs.getattr(ino, undefined, ctx);
    // Revalidated from one listing of its folder (which answers its siblings too), not an lstat.
    assert.equal(client.count('lstat'), 0);
    assert.equal(client.count('readdir'), 1);
    assert.ok(fs.stats().cache.attr.hits >= 1);
  });

  it('getattr of a file deleted on the server fails ENOENT after the timeout and tells the kernel', async () => {
    const { client, fs, clock } = makeFs({ attrTimeoutMs: 500 });
    const notifier = recordingNotifier();
    fs.attachNotifier(notifier);
    client.put('/work/gone', 'x');
    const { ino } = await fs.lookup(ROOT_INO, 'gone', ctx);
    client.removeBehind('/work/gone');
    clock.advance(501);
    await assert.rejects(fs.getattr(ino, undefined, ctx), { code: 'ENOENT' });
    await new Promise(resolve => setImmediate(resolve));
    assert.ok(notifier.calls.includes(`entry ${ROOT_INO} gone`));
  });

  it('a file changed on the server drops the kernel page cache when noticed', async () => {
    const { client, fs, clock } = makeFs({ attrTimeoutMs: 500 });
    const notifier = recordingNotifier();
    fs.attachNotifier(notifier);
    client.put('/work/f', 'one');
    const { ino } = await fs.lookup(ROOT_INO, 'f', ctx);
    client.put('/work/f', 'two two');
    clock.advance(501);
    const reply = await fs.getattr(ino, undefined, ctx);
    assert.equal(reply.attr.size, 7);
    await new Promise(resolve => setImmediate(resolve));
    assert.deepEqual(notifier.calls, [`inode ${ino}`]);
  });

  it('names longer than 255 bytes get ENAMETOOLONG without a remote call', async () => {
    const { client, fs } = makeFs();
    client.resetCounts();
    const long = 'x'.repeat(256);
    await assert.rejects(fs.lookup(ROOT_INO, long, ctx), { code: 'ENAMETOOLONG' });
    await assert.rejects(fs.mkdir(ROOT_INO, long, 0o755, ctx), { code: 'ENAMETOOLONG' });
    await assert.rejects(fs.create(ROOT_INO, long, S_IFREG | 0o644, O_CREAT | O_WRONLY, ctx), { code: 'ENAMETOOLONG' });
    await assert.rejects(fs.rename(ROOT_INO, 'a', ROOT_INO, long, 0, ctx), { code: 'ENAMETOOLONG' });
    await assert.rejects(fs.symlink('t', ROOT_INO, 'é'.repeat(128), ctx), { code: 'ENAMETOOLONG' });
    assert.equal(client.calls.size, 1, 'only the root owner lstat');
  });

  it('lookup in a file answers ENOTDIR', async () => {
    const { client, fs } = makeFs();
    client.put('/work/f', 'x');
    const { ino } = await fs.lookup(ROOT_INO, 'f', ctx);
    await assert.rejects(fs.lookup(ino, 'x', ctx), { code: 'ENOTDIR' });
  });

  it('hard links share one inode number', async () => {
    const { client, fs } = makeFs();
    client.put('/work/a', 'data');
    const a = await fs.lookup(ROOT_INO, 'a', ctx);
    const linked = await fs.link(a.ino, ROOT_INO, 'b', ctx);
    assert.equal(linked.ino, a.ino);
    assert.equal(linked.attr.nlink, 2);
    const b = await fs.lookup(ROOT_INO, 'b', ctx);
    assert.equal(b.ino, a.ino);
  });

  it('hard links made on the server share one inode number when the remote reports ino', async () => {
    const { client, fs } = makeFs();
    client.put('/work/a', 'data');
    await client.link('/work/a', '/work/b');
    const a = await fs.lookup(ROOT_INO, 'a', ctx);
    const b = await fs.lookup(ROOT_INO, 'b', ctx);
    assert.equal(a.ino, b.ino);
    assert.equal(a.attr.nlink, 2);
  });

  it('without remote inode numbers nlink is 1 for files and 2 for directories', async () => {
    const { client, fs } = makeFs({}, { reportInodes: false });
    client.put('/work/f', 'x');
    client.putDir('/work/d');
    assert.equal((await fs.lookup(ROOT_INO, 'f', ctx)).attr.nlink, 1);
    assert.equal((await fs.lookup(ROOT_INO, 'd', ctx)).attr.nlink, 2);
  });
});

describe('WorkspaceFilesystem ids and modes', () => {
  it('idmap user shows the root owner as the local uid/gid and keeps other owners', async () => {
    const { client, fs } = makeFs();
    client.put('/work/mine', 'x');
    const other = client.put('/work/theirs', 'x');
    other.uid = 33;
    other.gid = 33;
    const mine = await fs.lookup(ROOT_INO, 'mine', ctx);
    const theirs = await fs.lookup(ROOT_INO, 'theirs', ctx);
    assert.deepEqual([mine.attr.uid, mine.attr.gid], [501, 20]);
    assert.deepEqual([theirs.attr.uid, theirs.attr.gid], [33, 33]);
  });

  it('idmap none shows remote ids', async () => {
    const { client, fs } = makeFs({ idmap: 'none' });
    client.put('/work/mine', 'x');
    assert.equal((await fs.lookup(ROOT_INO, 'mine', ctx)).attr.uid, 1000);
  });

  it('uid=/gid= overrides show every file as one owner, umask= clears bits', async () => {
    const { client, fs } = makeFs({ uid: 7, gid: 8, umask: 0o027 });
    const other = client.put('/work/f', 'x', 0o666);
    other.uid = 33;
    const entry = await fs.lookup(ROOT_INO, 'f', ctx);
    assert.deepEqual([entry.attr.uid, entry.attr.gid], [7, 8]);
    assert.equal(entry.attr.mode & 0o777, 0o640);
  });

  it('chown to the local uid maps back to the remote owner', async () => {
    const { client, fs } = makeFs();
    const f = client.put('/work/f', 'x');
    f.uid = 33;
    const { ino } = await fs.lookup(ROOT_INO, 'f', ctx);
    const reply = await fs.setattr(ino, { uid: 501 }, undefined, ctx);
    assert.equal(client.inodeAt('/work/f').uid, 1000);
    assert.equal(reply.attr.uid, 501);
  });

  it('access checks the mapped owner bits and always grants root', async () => {
    const { client, fs } = makeFs();
    client.put('/work/ro', 'x', 0o444);
    const { ino } = await fs.lookup(ROOT_INO, 'ro', ctx);
    await fs.access(ino, 4, ctx);
    await assert.rejects(fs.access(ino, 2, ctx), { code: 'EACCES' });
    await fs.access(ino, 2, { ...ctx, uid: 0 });
  });
});
