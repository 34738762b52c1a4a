import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, ROOT_INO } from '../../src/fuse/operations.ts';
import { FsError } from '../../src/remote/fs-error.ts';
import { ctx, makeFs, O_CREAT, O_RDONLY, O_WRONLY, S_IFREG } from './fixture.ts';

describe('WorkspaceFilesystem mutations keep the caches true', () => {
  it('stat after a write through the VFS shows the new size without waiting for a timeout', async () => {
    const { client, fs } = makeFs({ attrTimeoutMs: 60_000 });
    client.put('/work/f', 'abc');
    const { ino } = await fs.lookup(ROOT_INO, 'f', ctx);
    const { fh } = await fs.open(ino, O_WRONLY, ctx);
    await fs.write(ino, fh, Buffer.from('abcdef'), 0, ctx);
    await fs.release(ino, fh, ctx);
    assert.equal((await fs.getattr(ino, undefined, ctx)).attr.size, 6);
  });

  it('setattr truncate and chmod show at once', async () => {
    const { client, fs } = makeFs({ attrTimeoutMs: 60_000 });
    client.put('/work/f', 'abcdef');
    const { ino } = await fs.lookup(ROOT_INO, 'f', ctx);
    const reply = await fs.setattr(ino, { size: 2, mode: 0o600 }, undefined, ctx);
    assert.equal(reply.attr.size, 2);
    assert.equal(reply.attr.mode & 0o777, 0o600);
    assert.equal((await fs.getattr(ino, undefined, ctx)).attr.size, 2);
    assert.equal(client.content('/work/f').toString(), 'ab');
  });

  it('setattr sends only the fields that change (UTIME_OMIT stays out)', async () => {
    const { client, fs } = makeFs();
    client.put('/work/f', 'x');
    const { ino } = await fs.lookup(ROOT_INO, 'f', ctx);
    const mtime = { sec: 1_600_000_000, nsec: 123_456_789 };
    await fs.setattr(ino, { mtime }, undefined, ctx);
    const call = client.log.find(c => c.method === 'setattr')!;
    assert.deepEqual(call.args[1], { mtime });
    assert.deepEqual((await fs.getattr(ino, undefined, ctx)).attr.mtime, mtime);
  });

  it('setattr on a symlink passes noFollow and leaves the target alone', async () => {
    const { client, fs } = makeFs();
    client.put('/work/target', 'x');
    await client.symlink('target', '/work/link');
    const { ino } = await fs.lookup(ROOT_INO, 'link', ctx);
    const before = client.inodeAt('/work/target').mtime;
    await fs.setattr(ino, { mtime: { sec: 5, nsec: 0 } }, undefined, ctx);
    const call = client.log.find(c => c.method === 'setattr')!;
    assert.equal((call.args[2] as { noFollow?: boolean }).noFollow, true);
    assert.deepEqual(client.inodeAt('/work/target').mtime, before);
    assert.equal(client.inodeAt('/work/link').mtime.sec, 5);
  });

  it('setattr on a symlink without lsetstat answers ENOTSUP and touches nothing', async () => {
    const { client, fs } = makeFs({}, { capabilities: { noFollowSetattr: false } });
    client.put('/work/target', 'x');
    await client.symlink('target', '/work/link');
    const { ino } = await fs.lookup(ROOT_INO, 'link', ctx);
    await assert.rejects(fs.setattr(ino, { uid: 1 }, undefined, ctx), { code: 'ENOTSUP' });
    assert.equal(client.count('setattr'), 0);
  });

  it('unlink removes the name from lookups and listings at once', async () => {
    const { client, fs } = makeFs({ attrTimeoutMs: 60_000, dirTimeoutMs: 60_000 });
    client.put('/work/f', 'x');
    const root = await fs.opendir(ROOT_INO, 0, ctx);
    await fs.releasedir(ROOT_INO, root.fh, ctx);
    await fs.lookup(ROOT_INO, 'f', ctx);
    await fs.unlink(ROOT_INO, 'f', ctx);
    assert.equal((await fs.lookup(ROOT_INO, 'f', ctx)).ino, 0);
    const again = await fs.opendir(ROOT_INO, 0, ctx);
    assert.deepEqual((await fs.readdir(ROOT_INO, again.fh, 0, 4096, ctx)).map(e => e.name), ['.', '..']);
  });

  it('rename over an existing file replaces it and both names show the truth', async () => {
    const { client, fs } = makeFs({ attrTimeoutMs: 60_000 });
    client.put('/work/a', 'AAAA');
    client.put('/work/b', 'B');
    const a = await fs.lookup(ROOT_INO, 'a', ctx);
    await fs.lookup(ROOT_INO, 'b', ctx);
    await fs.rename(ROOT_INO, 'a', ROOT_INO, 'b', 0, ctx);
    const b = await fs.lookup(ROOT_INO, 'b', ctx);
    assert.equal(b.ino, a.ino);
    assert.equal(b.attr.size, 4);
    assert.equal((await fs.lookup(ROOT_INO, 'a', ctx)).ino, 0);
    assert.equal(client.content('/work/b').toString(), 'AAAA');
  });

  it('rename of a directory moves the paths of its children', async () => {
    const { client, fs } = makeFs();
    client.put('/work/src/deep/file.txt', 'content');
    const src = await fs.lookup(ROOT_INO, 'src', ctx);
    const deep = await fs.lookup(src.ino, 'deep', ctx);
    const file = await fs.lookup(deep.ino, 'file.txt', ctx);
    await fs.rename(ROOT_INO, 'src', ROOT_INO, 'dst', 0, ctx);
    const { fh } = await fs.open(file.ino, O_RDONLY, ctx);
    assert.equal(Buffer.from(await fs.read(file.ino, fh, 0, 100, ctx)).toString(), 'content');
    await fs.release(file.ino, fh, ctx);
    assert.equal(client.log.find(c => c.method === 'open')!.args[0], '/work/dst/deep/file.txt');
    const moved = await fs.lookup(ROOT_INO, 'dst', ctx);
    assert.equal(moved.ino, src.ino);
  });

  it('rename with RENAME_NOREPLACE onto an existing name fails EEXIST', async () => {
    const { client, fs } = makeFs();
    client.put('/work/a', '1');
    client.put('/work/b', '2');
    await assert.rejects(fs.rename(ROOT_INO, 'a', ROOT_INO, 'b', RENAME_NOREPLACE, ctx), { code: 'EEXIST' });
    assert.equal((client.log.find(c => c.method === 'rename')!.args[2] as { noReplace?: boolean }).noReplace, true);
    assert.equal(client.content('/work/b').toString(), '2');
  });

  it('rename with RENAME_EXCHANGE fails EINVAL without a remote call', async () => {
    const { client, fs } = makeFs();
    client.put('/work/a', '1');
    client.put('/work/b', '2');
    await assert.rejects(fs.rename(ROOT_INO, 'a', ROOT_INO, 'b', RENAME_EXCHANGE, ctx), { code: 'EINVAL' });
    assert.equal(client.count('rename'), 0);
  });

  it('rename of a folder onto a non-empty folder fails ENOTEMPTY', async () => {
    const { client, fs } = makeFs();
    client.putDir('/work/a');
    client.put('/work/b/keep', 'x');
    await assert.rejects(fs.rename(ROOT_INO, 'a', ROOT_INO, 'b', 0, ctx), { code: 'ENOTEMPTY' });
  });

  it('rename and rmdir errors are the FileClient\'s own: no second probe of the target', async () => {
    const { client, fs } = makeFs();
    client.putDir('/work/a');
    client.put('/work/b/keep', 'x');
    client.put('/work/d/x', '1');
    await assert.rejects(fs.rmdir(ROOT_INO, 'd', ctx), { code: 'ENOTEMPTY' });
    client.hook = method => {
      if (method === 'rename' || method === 'rmdir') throw new FsError('EIO', method);
    };
    client.resetCounts();
    await assert.rejects(fs.rename(ROOT_INO, 'a', ROOT_INO, 'b', 0, ctx), { code: 'EIO' });
    await assert.rejects(fs.rmdir(ROOT_INO, 'd', ctx), { code: 'EIO' });
    assert.equal(client.count('readdir'), 0);
    assert.equal(client.count('lstat'), 0);
  });

  it('mkdir, symlink, readlink and rmdir round-trip', async () => {
    const { client, fs } = makeFs();
    const dir = await fs.mkdir(ROOT_INO, 'd', 0o777, ctx);
    assert.equal(dir.attr.mode & 0o777, 0o755);
    assert.equal((await fs.lookup(ROOT_INO, 'd', ctx)).ino, dir.ino);
    const link = await fs.symlink('../elsewhere', dir.ino, 'l', ctx);
    assert.equal(await fs.readlink(link.ino, ctx), '../elsewhere');
    client.resetCounts();
    assert.equal(await fs.readlink(link.ino, ctx), '../elsewhere');
    assert.equal(client.count('readlink'), 0, 'cached');
    await fs.unlink(dir.ino, 'l', ctx);
    await fs.rmdir(ROOT_INO, 'd', ctx);
    assert.equal(client.exists('/work/d'), false);
    assert.equal((await fs.lookup(ROOT_INO, 'd', ctx)).ino, 0);
  });

  it('mknod makes regular files and refuses other types with EPERM', async () => {
    const { client, fs } = makeFs();
    const entry = await fs.mknod(ROOT_INO, 'f', S_IFREG | 0o644, 0, ctx);
    assert.equal(entry.attr.size, 0);
    assert.ok(client.exists('/work/f'));
    await assert.rejects(fs.mknod(ROOT_INO, 'fifo', 0o010000 | 0o644, 0, ctx), { code: 'EPERM' });
  });

  it('errors from the client pass through by name', async () => {
    const { client, fs } = makeFs();
    client.put('/work/f', 'x');
    client.putDir('/work/d');
    await assert.rejects(fs.mkdir(ROOT_INO, 'f', 0o755, ctx), { code: 'EEXIST' });
    await assert.rejects(fs.unlink(ROOT_INO, 'missing', ctx), { code: 'ENOENT' });
    await assert.rejects(fs.rmdir(ROOT_INO, 'f', ctx), { code: 'ENOTDIR' });
    await assert.rejects(fs.unlink(ROOT_INO, 'd', ctx), { code: 'EISDIR' });
    client.hook = method => {
      if (method === 'mkdir') throw new FsError('EACCES', 'mkdir');
    };
    await assert.rejects(fs.mkdir(ROOT_INO, 'x', 0o755, ctx), { code: 'EACCES' });
  });

  it('statfs reports the remote numbers with namemax capped at 255', async () => {
    const { fs } = makeFs();
    const stat = await fs.statfs(ROOT_INO, ctx);
    assert.equal(stat.namemax, 255);
    assert.equal(stat.bsize, 4096);
  });

  it('stats count ops by name', async () => {
    const { client, fs } = makeFs();
    client.put('/work/f', 'x');
    await fs.lookup(ROOT_INO, 'f', ctx);
    await fs.lookup(ROOT_INO, 'f', ctx);
    const stats = fs.stats();
    assert.equal(stats.ops.lookup, 2);
    assert.equal(stats.cache.entry.hits, 1);
    assert.equal(stats.remoteCalls.lstat, 1, 'root owner');
    assert.equal(stats.remoteCalls.readdir, 1, 'f from the listing of its folder');
  });
});

describe('WorkspaceFilesystem read-only', () => {
  it('every mutation fails EROFS', async () => {
    const { client, fs } = makeFs({ readOnly: true });
    client.put('/work/f', 'x');
    const { ino } = await fs.lookup(ROOT_INO, 'f', ctx);
    const rofs = { code: 'EROFS' };
    await assert.rejects(fs.create(ROOT_INO, 'n', S_IFREG | 0o644, O_CREAT | O_WRONLY, ctx), rofs);
    await assert.rejects(fs.open(ino, O_WRONLY, ctx), rofs);
    await assert.rejects(fs.mkdir(ROOT_INO, 'd', 0o755, ctx), rofs);
    await assert.rejects(fs.mknod(ROOT_INO, 'm', S_IFREG, 0, ctx), rofs);
    await assert.rejects(fs.unlink(ROOT_INO, 'f', ctx), rofs);
    await assert.rejects(fs.rmdir(ROOT_INO, 'f', ctx), rofs);
    await assert.rejects(fs.symlink('t', ROOT_INO, 's', ctx), rofs);
    await assert.rejects(fs.link(ino, ROOT_INO, 'h', ctx), rofs);
    await assert.rejects(fs.rename(ROOT_INO, 'f', ROOT_INO, 'g', 0, ctx), rofs);
    await assert.rejects(fs.setattr(ino, { mode: 0o600 }, undefined, ctx), rofs);
    await assert.rejects(fs.access(ino, 2, ctx), rofs);
    const { fh } = await fs.open(ino, O_RDONLY, ctx);
    await assert.rejects(fs.write(ino, fh, Buffer.from('x'), 0, ctx), rofs);
    await fs.release(ino, fh, ctx);
    assert.equal(client.content('/work/f').toString(), 'x');
    assert.equal((await fs.statfs(ROOT_INO, ctx)).flag & 1, 1);
  });
});
