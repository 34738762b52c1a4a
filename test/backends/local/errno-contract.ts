import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { FileClient, FileHandle } from '../../../src/remote/file-client.ts';
import type { ContractOptions, ContractSubject } from '../../remote/file-client-contract.ts';

async function writeFile(client: FileClient, path: string, text: string): Promise<void> {
  const h = await client.open(path, { read: false, write: true, create: true, truncate: true });
  try {
    await h.write(Buffer.from(text), 0, text.length, 0);
  } finally {
    await h.close();
  }
}

/** `{ code, syscall }` the FsError must carry: the FileClient method's name is its syscall. */
function fsError(code: string, syscall: string): { name: string; code: string; syscall: string } {
  return { name: 'FsError', code, syscall };
}

/**
 * Exact errno names where POSIX leaves no choice, without help from the VFS: the answers the
 * local client gives and every other client must match. Run beside `fileClientContract` against
 * the local client, SFTP over OpenSSH's sftp-server and the Docker copy/exec client. The local
 * client is the reference, which is why the suite lives beside it.
 */
export function errnoContract(name: string, make: (t: TestContext) => Promise<ContractSubject>, opts: ContractOptions = {}): void {
  describe(`FileClient errno contract: ${name}`, { skip: opts.skip ?? false }, () => {
    describe('ENOTEMPTY', () => {
      it('rmdir of a folder holding only a folder throws ENOTEMPTY', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await client.mkdir(`${root}/d/sub`);
        await assert.rejects(client.rmdir(`${root}/d`), fsError('ENOTEMPTY', 'rmdir'));
      });

      it('rmdir of a folder holding only a hidden file throws ENOTEMPTY', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await writeFile(client, `${root}/d/.hidden`, 'x');
        await assert.rejects(client.rmdir(`${root}/d`), fsError('ENOTEMPTY', 'rmdir'));
      });

      it('rename of a folder onto a folder holding a folder throws ENOTEMPTY', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/a`);
        await client.mkdir(`${root}/b`);
        await client.mkdir(`${root}/b/sub`);
        await assert.rejects(client.rename(`${root}/a`, `${root}/b`), fsError('ENOTEMPTY', 'rename'));
        await client.lstat(`${root}/a`);
        await client.lstat(`${root}/b/sub`);
      });
    });

    describe('EEXIST', () => {
      it('mkdir onto an existing file throws EEXIST', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await assert.rejects(client.mkdir(`${root}/f`), fsError('EEXIST', 'mkdir'));
      });

      it('mkdir onto a dangling symlink throws EEXIST', async t => {
        const { client, root } = await make(t);
        await client.symlink('nowhere', `${root}/l`);
        await assert.rejects(client.mkdir(`${root}/l`), fsError('EEXIST', 'mkdir'));
      });

      it('link onto an existing folder throws EEXIST', async t => {
        const { client, root } = await make(t);
        if (!client.capabilities.hardlink) return t.skip('client has no hard links');
        await writeFile(client, `${root}/f`, 'x');
        await client.mkdir(`${root}/d`);
        await assert.rejects(client.link(`${root}/f`, `${root}/d`), fsError('EEXIST', 'link'));
      });

      it('link onto a dangling symlink throws EEXIST', async t => {
        const { client, root } = await make(t);
        if (!client.capabilities.hardlink) return t.skip('client has no hard links');
        await writeFile(client, `${root}/f`, 'x');
        await client.symlink('nowhere', `${root}/l`);
        await assert.rejects(client.link(`${root}/f`, `${root}/l`), fsError('EEXIST', 'link'));
      });

      it('exclusive create onto an existing folder throws EEXIST', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await assert.rejects(client.open(`${root}/d`, { read: false, write: true, create: true, exclusive: true }), fsError('EEXIST', 'open'));
      });

      it('exclusive create onto a dangling symlink throws EEXIST and creates nothing', async t => {
        const { client, root } = await make(t);
        await client.symlink('target', `${root}/l`);
        await assert.rejects(client.open(`${root}/l`, { read: false, write: true, create: true, exclusive: true }), fsError('EEXIST', 'open'));
        await assert.rejects(client.lstat(`${root}/target`), fsError('ENOENT', 'lstat'));
      });

      it('symlink onto an existing folder throws EEXIST', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await assert.rejects(client.symlink('anything', `${root}/d`), fsError('EEXIST', 'symlink'));
      });

      it('rename noReplace onto an existing folder throws EEXIST', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/a`);
        await client.mkdir(`${root}/b`);
        await assert.rejects(client.rename(`${root}/a`, `${root}/b`, { noReplace: true }), fsError('EEXIST', 'rename'));
      });
    });

    describe('ENOTDIR', () => {
      it('rename of a folder onto a file throws ENOTDIR', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await writeFile(client, `${root}/f`, 'x');
        await assert.rejects(client.rename(`${root}/d`, `${root}/f`), fsError('ENOTDIR', 'rename'));
      });

      it('mkdir below a file throws ENOTDIR', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await assert.rejects(client.mkdir(`${root}/f/d`), fsError('ENOTDIR', 'mkdir'));
      });

      it('open create below a file throws ENOTDIR', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await assert.rejects(client.open(`${root}/f/g`, { read: false, write: true, create: true }), fsError('ENOTDIR', 'open'));
      });

      it('rename to a name below a file throws ENOTDIR', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await writeFile(client, `${root}/g`, 'y');
        await assert.rejects(client.rename(`${root}/g`, `${root}/f/g`), fsError('ENOTDIR', 'rename'));
      });

      it('rmdir of a symlink to a folder throws ENOTDIR', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await client.symlink('d', `${root}/l`);
        await assert.rejects(client.rmdir(`${root}/l`), fsError('ENOTDIR', 'rmdir'));
      });
    });

    describe('EISDIR', () => {
      it('unlink of a folder throws EISDIR', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await assert.rejects(client.unlink(`${root}/d`), fsError('EISDIR', 'unlink'));
      });

      it('open create of an existing folder for writing throws EISDIR', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await assert.rejects(client.open(`${root}/d`, { read: false, write: true, create: true }), fsError('EISDIR', 'open'));
      });

      it('setattr size of a folder throws EISDIR', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await assert.rejects(client.setattr(`${root}/d`, { size: 0 }), fsError('EISDIR', 'setattr'));
      });
    });

    describe('handle syscalls', () => {
      it('every call on a closed handle throws EBADF named after the method', async t => {
        const { client, root } = await make(t);
        const h: FileHandle = await client.open(`${root}/f`, { read: true, write: true, create: true });
        await h.close();
        await assert.rejects(h.read(Buffer.alloc(1), 0, 1, 0), fsError('EBADF', 'read'));
        await assert.rejects(h.write(Buffer.alloc(1), 0, 1, 0), fsError('EBADF', 'write'));
        await assert.rejects(h.stat(), fsError('EBADF', 'stat'));
        await assert.rejects(h.setattr({ size: 0 }), fsError('EBADF', 'setattr'));
        await assert.rejects(h.sync(), fsError('EBADF', 'sync'));
        if (h.flush !== undefined) await assert.rejects(h.flush(), fsError('EBADF', 'flush'));
      });
    });
  });
}
