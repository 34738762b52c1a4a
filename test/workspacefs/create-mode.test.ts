import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import { ctx, makeFs, O_CREAT, O_EXCL, O_WRONLY, S_IFREG } from './fixture.ts';

// The kernel has already applied the caller's umask to the mode it sends; a remote that applies
// its own (an SFTP server's process umask) would clear bits a second time.
const UMASK0 = { ...ctx, umask: 0 };
const S_IFDIR = 0o040000;

describe('WorkspaceFilesystem create modes are exact', () => {
  for (const mode of [0o777, 0o620, 0o4755, 0o2775]) {
    it(`create with mode ${mode.toString(8)} under a remote umask 022 comes out exactly ${mode.toString(8)}`, async () => {
      const { client, fs } = makeFs({}, { umask: 0o022 });
      const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | mode, O_CREAT | O_WRONLY, UMASK0);
      await fs.release(entry.ino, open.fh, ctx);
      assert.equal(entry.attr.mode & 0o7777, mode);
      assert.equal((await client.lstat('/work/f')).mode & 0o7777, mode);
    });
  }

  it('mkdir with mode 0777 and 02775 under a remote umask 022 comes out exactly so', async () => {
    const { client, fs } = makeFs({}, { umask: 0o022 });
    for (const [name, mode] of [['a', 0o777], ['b', 0o2775]] as const) {
      const entry = await fs.mkdir(ROOT_INO, name, S_IFDIR | mode, UMASK0);
      assert.equal(entry.attr.mode & 0o7777, mode);
      assert.equal((await client.lstat(`/work/${name}`)).mode & 0o7777, mode);
    }
  });

  it('a remote that keeps the mode costs no extra call', async () => {
    const { client, fs } = makeFs();
    const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o644, O_CREAT | O_WRONLY | O_EXCL, ctx);
    await fs.release(entry.ino, open.fh, ctx);
    await fs.mkdir(ROOT_INO, 'd', S_IFDIR | 0o755, ctx);
    assert.equal(client.count('handle.setattr') + client.count('setattr'), 0);
  });

  it('create of a name that exists after all opens it and leaves its mode alone', async () => {
    const { client, fs } = makeFs({}, { umask: 0o022 });
    client.put('/work/f', 'keep');
    await client.setattr('/work/f', { mode: 0o600 });
    const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o777, O_CREAT | O_WRONLY, UMASK0);
    await fs.release(entry.ino, open.fh, ctx);
    assert.equal((await client.lstat('/work/f')).mode & 0o7777, 0o600);
    assert.equal(client.content('/work/f').toString(), 'keep');
  });

  it('an exclusive create of an existing name fails with EEXIST', async () => {
    const { client, fs } = makeFs();
    client.put('/work/f', 'keep');
    await assert.rejects(fs.create(ROOT_INO, 'f', S_IFREG | 0o644, O_CREAT | O_EXCL | O_WRONLY, ctx), { code: 'EEXIST' });
  });
});
