import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nameTooLong } from '../../src/remote/file-client.ts';
import { tempDir } from '../helpers/tmp.ts';
import { sftpServerSkipReason, startSftpClient } from './sftp-server.ts';

describe('nameTooLong', () => {
  const table: Array<[what: string, path: string, tooLong: boolean]> = [
    ['a short path', '/home/u/file', false],
    ['4095 bytes', `/${'a/'.repeat(2047)}`, false],
    ['4096 bytes', `/${'a/'.repeat(2047)}b`, true],
    ['a 255-byte component', `/tmp/${'n'.repeat(255)}`, false],
    ['a 256-byte component', `/tmp/${'n'.repeat(256)}`, true],
    ['a component of 128 two-byte characters', `/tmp/${'é'.repeat(128)}`, true],
  ];
  for (const [what, path, tooLong] of table) {
    it(`says ${tooLong} for ${what}`, () => assert.equal(nameTooLong(path), tooLong));
  }
});

// OpenSSH's sftp-server answers ENAMETOOLONG with BAD_MESSAGE, as it does EINVAL.
describe('SftpFileClient over OpenSSH sftp-server: paths the kernel refuses', { skip: sftpServerSkipReason() }, () => {
  /** A path of about 4,200 bytes below `dir`, of 200-byte components. */
  const longPath = (dir: string) => `${dir}/${Array.from({ length: 21 }, (_, i) => `${i}`.padEnd(200, 'c')).join('/')}`;

  it('open with create of a 4,200-byte path fails ENAMETOOLONG', async t => {
    const client = await startSftpClient(t);
    const path = longPath(await tempDir(t, 'rmount-sftp-'));
    await assert.rejects(client.open(path, { read: false, write: true, create: true }), { name: 'FsError', code: 'ENAMETOOLONG', syscall: 'open' });
  });

  it('stat and lstat of a 4,200-byte path fail ENAMETOOLONG', async t => {
    const client = await startSftpClient(t);
    const path = longPath(await tempDir(t, 'rmount-sftp-'));
    await assert.rejects(client.stat(path), { name: 'FsError', code: 'ENAMETOOLONG', syscall: 'stat' });
    await assert.rejects(client.lstat(path), { name: 'FsError', code: 'ENAMETOOLONG', syscall: 'lstat' });
  });

  it('mkdir of a 256-byte name fails ENAMETOOLONG', async t => {
    const client = await startSftpClient(t);
    const dir = await tempDir(t, 'rmount-sftp-');
    await assert.rejects(client.mkdir(`${dir}/${'n'.repeat(256)}`), { name: 'FsError', code: 'ENAMETOOLONG', syscall: 'mkdir' });
  });

  it('rename and link to a 4,200-byte path fail ENAMETOOLONG', async t => {
    const client = await startSftpClient(t);
    const dir = await tempDir(t, 'rmount-sftp-');
    const h = await client.open(`${dir}/f`, { read: false, write: true, create: true });
    await h.close();
    await assert.rejects(client.rename(`${dir}/f`, longPath(dir)), { name: 'FsError', code: 'ENAMETOOLONG', syscall: 'rename' });
    await assert.rejects(client.rename(`${dir}/f`, longPath(dir), { noReplace: true }), { name: 'FsError', code: 'ENAMETOOLONG' });
    await assert.rejects(client.link(`${dir}/f`, longPath(dir)), { name: 'FsError', code: 'ENAMETOOLONG', syscall: 'link' });
  });

  it('says specialFiles false, and mknod fails EPERM', async t => {
    const client = await startSftpClient(t);
    const dir = await tempDir(t, 'rmount-sftp-');
    assert.equal(client.capabilities.specialFiles, false);
    await assert.rejects(client.mknod(`${dir}/fifo`, 0o010644, 0), { name: 'FsError', code: 'EPERM', syscall: 'mknod' });
  });
});
