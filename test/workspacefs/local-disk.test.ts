import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import { S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFSOCK } from '../../src/remote/file-client.ts';
import { ctx, makeFs, O_CREAT, O_EXCL, O_RDONLY, O_WRONLY, recordingNotifier, S_IFREG } from './fixture.ts';

/** A second local user (not the mount's), in no group but its own. */
const OTHER = { uid: 777, gid: 778, pid: 999_999_999, umask: 0 };

describe('as on a local disk', () => {
  describe('owner of what a local process makes', () => {
    it('is the caller with owner=caller and a root login, for files, folders, symlinks and FIFOs', async () => {
      const { fs, client } = makeFs({ owner: 'auto' }, { uid: 0, gid: 0, capabilities: { specialFiles: true } });
      const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o640, O_CREAT | O_WRONLY | O_EXCL, OTHER);
      await fs.release(entry.ino, open.fh, OTHER);
      const made = [
        entry,
        await fs.mkdir(ROOT_INO, 'd', S_IFDIR | 0o755, OTHER),
        await fs.symlink('t', ROOT_INO, 'l', OTHER),
        await fs.mknod(ROOT_INO, 'p', S_IFIFO | 0o600, 0, OTHER),
      ];
      for (const [i, name] of ['f', 'd', 'l', 'p'].entries()) {
        const st = await client.lstat(`/work/${name}`);
        assert.deepEqual([st.uid, st.gid], [777, 778], `${name} on the remote`);
        assert.deepEqual([made[i]!.attr.uid, made[i]!.attr.gid], [777, 778], `${name} as the kernel is told`);
      }
    });

    it('is the login when the remote login is not root (auto), with no chown sent', async () => {
      const { fs, client } = makeFs({ owner: 'auto' }, { uid: 1000, gid: 1000 });
      await fs.mkdir(ROOT_INO, 'd', S_IFDIR | 0o755, OTHER);
      const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o644, O_CREAT | O_WRONLY | O_EXCL, OTHER);
      await fs.release(entry.ino, open.fh, OTHER);
      assert.equal((await client.lstat('/work/f')).uid, 1000);
      assert.equal(client.count('setattr') + client.count('handle.setattr'), 0);
    });

    it('keeps the group of a set-group-ID folder', async () => {
      const { fs, client } = makeFs({ owner: 'caller' }, { uid: 0, gid: 0 });
      await client.mkdir('/work/shared', 0o2775);
      await client.setattr('/work/shared', { gid: 50 });
      const dir = await fs.lookup(ROOT_INO, 'shared', ctx);
      await fs.mkdir(dir.ino, 'sub', S_IFDIR | 0o755, OTHER);
      const st = await client.lstat('/work/shared/sub');
      assert.equal(st.uid, 777);
    });
  });

  describe('special files', () => {
    it('mknod makes a FIFO, a socket and a device with the type, exact mode and device number', async () => {
      const { fs, client } = makeFs({}, { capabilities: { specialFiles: true } });
      const umask0 = { ...ctx, umask: 0 };
      const fifo = await fs.mknod(ROOT_INO, 'p', S_IFIFO | 0o640, 0, umask0);
      const sock = await fs.mknod(ROOT_INO, 's', S_IFSOCK | 0o755, 0, umask0);
      const dev = await fs.mknod(ROOT_INO, 'c', S_IFCHR | 0o600, 0x103, umask0);
      assert.equal(fifo.attr.mode, S_IFIFO | 0o640);
      assert.equal(sock.attr.mode, S_IFSOCK | 0o755);
      assert.equal(dev.attr.mode, S_IFCHR | 0o600);
      assert.equal(dev.attr.rdev, 0x103);
      assert.equal((await client.lstat('/work/c')).rdev, 0x103);
    });

    it('mknod of a FIFO is EPERM where the client cannot make special files, and nothing is sent', async () => {
      const { fs, client } = makeFs();
      await assert.rejects(fs.mknod(ROOT_INO, 'p', S_IFIFO | 0o644, 0, ctx), { code: 'EPERM' });
      assert.equal(client.count('mknod'), 0);
      await assert.rejects(fs.lookup(ROOT_INO, 'p', ctx).then(e => { if (e.ino === 0) throw Object.assign(new Error('negative'), { code: 'ENOENT' }); }), { code: 'ENOENT' });
    });

    it('mknod of an unknown type is EINVAL', async () => {
      const { fs } = makeFs({}, { capabilities: { specialFiles: true } });
      await assert.rejects(fs.mknod(ROOT_INO, 'x', S_IFLNK | 0o644, 0, ctx), { code: 'EINVAL' });
    });
  });

  it('chmod g+s by a caller outside the file\'s group clears it; root and members keep it', async () => {
    const { fs, client } = makeFs({ idmap: 'none' });
    client.put('/work/f', 'x');
    await client.setattr('/work/f', { uid: 777, gid: 999 });
    const f = await fs.lookup(ROOT_INO, 'f', ctx);
    await fs.setattr(f.ino, { mode: 0o2755 }, undefined, OTHER);
    assert.equal((await client.lstat('/work/f')).mode & 0o7777, 0o755, 'a non-member');
    await fs.setattr(f.ino, { mode: 0o2755 }, undefined, { ...OTHER, gid: 999 });
    assert.equal((await client.lstat('/work/f')).mode & 0o7777, 0o2755, 'a member');
    await fs.setattr(f.ino, { mode: 0o2700 }, undefined, { ...OTHER, uid: 0 });
    assert.equal((await client.lstat('/work/f')).mode & 0o7777, 0o2700, 'root');
  });

  it('an open file whose every name was removed shows nlink 0 where the remote reports no link count', async () => {
    const { fs } = makeFs({}, { reportInodes: false });
    const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o644, O_CREAT | O_WRONLY | O_EXCL, ctx);
    assert.equal((await fs.getattr(entry.ino, open.fh, ctx)).attr.nlink, 1);
    await fs.unlink(ROOT_INO, 'f', ctx);
    assert.equal((await fs.getattr(entry.ino, open.fh, ctx)).attr.nlink, 0);
    await fs.release(entry.ino, open.fh, ctx);
  });

  it('files show the remote\'s inode numbers in stat and readdir; without them, ours', async () => {
    for (const reportInodes of [true, false]) {
      const { fs, client } = makeFs({}, { reportInodes });
      const remoteIno = client.put('/work/f', 'x').ino;
      const entry = await fs.lookup(ROOT_INO, 'f', ctx);
      const dir = await fs.opendir(ROOT_INO, 0, ctx);
      const listed = (await fs.readdir(ROOT_INO, dir.fh, 0, 4096, ctx)).find(e => e.name === 'f')!;
      if (reportInodes) {
        assert.equal(entry.attr.ino, remoteIno, 'st_ino');
        assert.equal(listed.ino, remoteIno, 'd_ino');
      } else {
        assert.equal(entry.attr.ino, entry.ino, 'our number');
        assert.equal(listed.ino, entry.ino, 'our number in readdir');
      }
    }
  });

  it('an open asks for the attributes beside the open and drops the kernel\'s stale size first', async () => {
    const { fs, client } = makeFs({ attrTimeoutMs: 60_000 });
    const kernel = recordingNotifier();
    fs.attachNotifier(kernel);
    client.put('/work/f', 'short');
    const f = await fs.lookup(ROOT_INO, 'f', ctx);
    assert.equal(f.attr.size, 5);
    client.put('/work/f', 'much longer now');
    const opened = await fs.open(f.ino, O_RDONLY, ctx);
    assert.ok(kernel.calls.includes(`inode ${f.ino}`), 'the kernel was told before the open was answered');
    assert.equal((await fs.getattr(f.ino, opened.fh, ctx)).attr.size, 15);
    await fs.release(f.ino, opened.fh, ctx);
  });
});
