import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import {
  isDirMode,
  isFileMode,
  isSymlinkMode,
  type FileClient,
  type FileHandle,
} from '../../src/remote/file-client.ts';

/** What a contract run gets for each test: a client and a fresh, empty remote folder. */
export interface ContractSubject {
  client: FileClient;
  /** Absolute remote path of an empty folder the test may fill. */
  root: string;
}

/** Options of `fileClientContract`. */
export interface ContractOptions {
  /** A reason to skip the whole suite, or false. */
  skip?: string | false;
  /** Run the 64 MiB round trip (default true). */
  bigFile?: boolean;
}

const enc = new TextEncoder();

async function writeFile(client: FileClient, path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === 'string' ? enc.encode(data) : data;
  const h = await client.open(path, { read: false, write: true, create: true, truncate: true });
  try {
    await h.write(bytes, 0, bytes.length, 0);
  } finally {
    await h.close();
  }
}

async function readAll(h: FileHandle, chunk = 1 << 20): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let pos = 0; ; ) {
    const buf = Buffer.alloc(chunk);
    const n = await h.read(buf, 0, chunk, pos);
    if (n === 0) break;
    parts.push(buf.subarray(0, n));
    pos += n;
  }
  return Buffer.concat(parts);
}

async function readFile(client: FileClient, path: string): Promise<Buffer> {
  const h = await client.open(path, { read: true, write: false });
  try {
    return await readAll(h);
  } finally {
    await h.close();
  }
}

async function readText(client: FileClient, path: string): Promise<string> {
  return (await readFile(client, path)).toString('utf8');
}

async function exists(client: FileClient, path: string): Promise<boolean> {
  try {
    await client.lstat(path);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * The FileClient contract: one POSIX behaviour per test, run against every implementation (the
 * local client, SFTP over OpenSSH's sftp-server, SFTP over sshd, the agent, Docker). `make` gives
 * each test a client and an empty folder and registers their cleanup with `t.after`.
 */
export function fileClientContract(
  name: string,
  make: (t: TestContext) => Promise<ContractSubject>,
  opts: ContractOptions = {},
): void {
  describe(`FileClient contract: ${name}`, { skip: opts.skip ?? false }, () => {
    describe('files', () => {
      it('write then read at an offset returns the written bytes', async t => {
        const { client, root } = await make(t);
        const h = await client.open(`${root}/f`, { read: true, write: true, create: true });
        await h.write(enc.encode('hello world'), 0, 11, 0);
        await h.write(enc.encode('WORLD'), 0, 5, 6);
        const buf = Buffer.alloc(5);
        assert.equal(await h.read(buf, 0, 5, 6), 5);
        assert.equal(buf.toString(), 'WORLD');
        await h.close();
        assert.equal(await readText(client, `${root}/f`), 'hello WORLD');
      });

      it('write at an offset past the end leaves a zero-filled hole', async t => {
        const { client, root } = await make(t);
        const h = await client.open(`${root}/f`, { read: true, write: true, create: true });
        await h.write(enc.encode('x'), 0, 1, 4);
        await h.close();
        assert.deepEqual([...(await readFile(client, `${root}/f`))], [0, 0, 0, 0, 0x78]);
      });

      it('write from a buffer offset writes only that slice', async t => {
        const { client, root } = await make(t);
        const h = await client.open(`${root}/f`, { read: false, write: true, create: true });
        await h.write(enc.encode('abcdef'), 2, 3, 0);
        await h.close();
        assert.equal(await readText(client, `${root}/f`), 'cde');
      });

      it('read into a buffer offset fills only that slice', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'abc');
        const h = await client.open(`${root}/f`, { read: true, write: false });
        const buf = Buffer.from('......');
        assert.equal(await h.read(buf, 2, 3, 0), 3);
        await h.close();
        assert.equal(buf.toString(), '..abc.');
      });

      it('open append writes at the end whatever the position', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'abc');
        const h = await client.open(`${root}/f`, { read: false, write: true, append: true });
        await h.write(enc.encode('def'), 0, 3, 0);
        await h.close();
        assert.equal(await readText(client, `${root}/f`), 'abcdef');
      });

      it('open truncate empties an existing file', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'abcdef');
        const h = await client.open(`${root}/f`, { read: false, write: true, truncate: true });
        await h.close();
        assert.equal((await client.stat(`${root}/f`)).size, 0);
      });

      it('open create makes a missing file with the given mode', async t => {
        const { client, root } = await make(t);
        const h = await client.open(`${root}/f`, { read: false, write: true, create: true }, 0o600);
        await h.close();
        const st = await client.stat(`${root}/f`);
        assert.ok(isFileMode(st.mode));
        assert.equal(st.mode & 0o777, 0o600);
      });

      it('open exclusive on an existing file throws EEXIST', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await assert.rejects(client.open(`${root}/f`, { read: false, write: true, create: true, exclusive: true }), {
          name: 'FsError',
          code: 'EEXIST',
        });
      });

      it('open of a missing file without create throws ENOENT', async t => {
        const { client, root } = await make(t);
        await assert.rejects(client.open(`${root}/nope`, { read: true, write: false }), { name: 'FsError', code: 'ENOENT' });
      });

      it('open of a directory for writing throws EISDIR', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await assert.rejects(client.open(`${root}/d`, { read: false, write: true }), { name: 'FsError', code: 'EISDIR' });
      });

      it('read of a directory opened for reading throws EISDIR', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        let h: FileHandle;
        try {
          h = await client.open(`${root}/d`, { read: true, write: false });
        } catch (error) {
          // Refusing the open itself is as good.
          assert.equal((error as { code?: string }).code, 'EISDIR');
          return;
        }
        try {
          await assert.rejects(h.read(Buffer.alloc(10), 0, 10, 0), { name: 'FsError', code: 'EISDIR' });
        } finally {
          await h.close();
        }
      });

      it('read at end of file returns 0', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'abc');
        const h = await client.open(`${root}/f`, { read: true, write: false });
        assert.equal(await h.read(Buffer.alloc(10), 0, 10, 3), 0);
        await h.close();
      });

      it('read across end of file returns the remainder', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'abcdef');
        const h = await client.open(`${root}/f`, { read: true, write: false });
        const buf = Buffer.alloc(10);
        assert.equal(await h.read(buf, 0, 10, 2), 4);
        assert.equal(buf.subarray(0, 4).toString(), 'cdef');
        await h.close();
      });

      it('setattr size truncates a file by path', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'abcdef');
        await client.setattr(`${root}/f`, { size: 2 });
        assert.equal(await readText(client, `${root}/f`), 'ab');
      });

      it('setattr size extends a file with zeros', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'ab');
        await client.setattr(`${root}/f`, { size: 4 });
        assert.deepEqual([...(await readFile(client, `${root}/f`))], [0x61, 0x62, 0, 0]);
      });

      it('handle setattr size truncates an open file', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'abcdef');
        const h = await client.open(`${root}/f`, { read: true, write: true });
        await h.setattr({ size: 3 });
        assert.equal((await h.stat()).size, 3);
        await h.close();
        assert.equal(await readText(client, `${root}/f`), 'abc');
      });

      it('handle stat reports the size after writes', async t => {
        const { client, root } = await make(t);
        const h = await client.open(`${root}/f`, { read: true, write: true, create: true });
        await h.write(Buffer.alloc(1000, 1), 0, 1000, 0);
        const st = await h.stat();
        await h.close();
        assert.equal(st.size, 1000);
        assert.ok(isFileMode(st.mode));
      });

      it('sync of an open file resolves', async t => {
        const { client, root } = await make(t);
        const h = await client.open(`${root}/f`, { read: false, write: true, create: true });
        await h.write(enc.encode('x'), 0, 1, 0);
        await assert.doesNotReject(h.sync());
        await h.close();
        assert.equal(await readText(client, `${root}/f`), 'x');
      });

      it('read after close throws EBADF', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'abc');
        const h = await client.open(`${root}/f`, { read: true, write: false });
        await h.close();
        await assert.rejects(h.read(Buffer.alloc(3), 0, 3, 0), { name: 'FsError', code: 'EBADF' });
      });

      it('write after close throws EBADF', async t => {
        const { client, root } = await make(t);
        const h = await client.open(`${root}/f`, { read: false, write: true, create: true });
        await h.close();
        await assert.rejects(h.write(Buffer.alloc(3), 0, 3, 0), { name: 'FsError', code: 'EBADF' });
      });

      it('close of a closed handle resolves', async t => {
        const { client, root } = await make(t);
        const h = await client.open(`${root}/f`, { read: false, write: true, create: true });
        await h.close();
        await assert.doesNotReject(h.close());
      });

      it('concurrent writes to distinct ranges all land', async t => {
        const { client, root } = await make(t);
        const piece = 300_001;
        const data = randomBytes(piece * 16);
        const h = await client.open(`${root}/f`, { read: true, write: true, create: true });
        await Promise.all(Array.from({ length: 16 }, (_, i) => h.write(data, i * piece, piece, i * piece)));
        await h.close();
        assert.ok((await readFile(client, `${root}/f`)).equals(data));
      });

      it('concurrent reads return their own ranges', async t => {
        const { client, root } = await make(t);
        const piece = 300_001;
        const data = randomBytes(piece * 16);
        await writeFile(client, `${root}/f`, data);
        const h = await client.open(`${root}/f`, { read: true, write: false });
        const bufs = Array.from({ length: 16 }, () => Buffer.alloc(piece));
        const counts = await Promise.all(bufs.map((b, i) => h.read(b, 0, piece, i * piece)));
        await h.close();
        assert.deepEqual(counts, Array(16).fill(piece));
        assert.ok(Buffer.concat(bufs).equals(data));
      });

      it('a 64 MiB file round-trips with the same SHA-256', { skip: opts.bigFile === false ? 'bigFile disabled for this client' : false }, async t => {
        const { client, root } = await make(t);
        const size = 64 * 1024 * 1024;
        const chunk = 4 * 1024 * 1024;
        const data = randomBytes(size);
        const h = await client.open(`${root}/big`, { read: false, write: true, create: true });
        for (let pos = 0; pos < size; pos += chunk) await h.write(data, pos, chunk, pos);
        await h.close();
        assert.equal((await client.stat(`${root}/big`)).size, size);
        const r = await client.open(`${root}/big`, { read: true, write: false });
        const hash = createHash('sha256');
        const buf = Buffer.alloc(chunk);
        for (let pos = 0; ; ) {
          const n = await r.read(buf, 0, chunk, pos);
          if (n === 0) break;
          hash.update(buf.subarray(0, n));
          pos += n;
        }
        await r.close();
        assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
      });
    });

    describe('names', () => {
      it('stat of a file reports a regular file and its size', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'abcd');
        const st = await client.stat(`${root}/f`);
        assert.ok(isFileMode(st.mode));
        assert.equal(st.size, 4);
      });

      it('lstat of a missing path throws ENOENT', async t => {
        const { client, root } = await make(t);
        await assert.rejects(client.lstat(`${root}/nope`), { name: 'FsError', code: 'ENOENT' });
      });

      it('stat of a missing path throws ENOENT', async t => {
        const { client, root } = await make(t);
        await assert.rejects(client.stat(`${root}/nope`), { name: 'FsError', code: 'ENOENT' });
      });

      it('rename over an existing file replaces it', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/a`, 'new');
        await writeFile(client, `${root}/b`, 'old');
        await client.rename(`${root}/a`, `${root}/b`);
        assert.equal(await readText(client, `${root}/b`), 'new');
        assert.equal(await exists(client, `${root}/a`), false);
      });

      it('rename to a new name moves the file', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/a`, 'x');
        await client.rename(`${root}/a`, `${root}/b`);
        assert.equal(await readText(client, `${root}/b`), 'x');
        assert.equal(await exists(client, `${root}/a`), false);
      });

      it('rename noReplace onto an existing file throws EEXIST', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/a`, 'a');
        await writeFile(client, `${root}/b`, 'b');
        await assert.rejects(client.rename(`${root}/a`, `${root}/b`, { noReplace: true }), { name: 'FsError', code: 'EEXIST' });
        assert.equal(await readText(client, `${root}/b`), 'b');
      });

      it('rename noReplace to a free name moves the file', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/a`, 'a');
        await client.rename(`${root}/a`, `${root}/b`, { noReplace: true });
        assert.equal(await readText(client, `${root}/b`), 'a');
      });

      it('rename of a missing file throws ENOENT', async t => {
        const { client, root } = await make(t);
        await assert.rejects(client.rename(`${root}/nope`, `${root}/b`), { name: 'FsError', code: 'ENOENT' });
      });

      it('rename of a directory over a non-empty directory throws ENOTEMPTY', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/a`);
        await client.mkdir(`${root}/b`);
        await writeFile(client, `${root}/b/f`, 'x');
        await assert.rejects(client.rename(`${root}/a`, `${root}/b`), { name: 'FsError', code: 'ENOTEMPTY' });
      });

      it('rename of a directory over an empty directory replaces it', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/a`);
        await writeFile(client, `${root}/a/f`, 'x');
        await client.mkdir(`${root}/b`);
        await client.rename(`${root}/a`, `${root}/b`);
        assert.equal(await readText(client, `${root}/b/f`), 'x');
        assert.equal(await exists(client, `${root}/a`), false);
      });

      it('rename of a file over a directory throws EISDIR', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await client.mkdir(`${root}/d`);
        await assert.rejects(client.rename(`${root}/f`, `${root}/d`), { name: 'FsError', code: 'EISDIR' });
      });

      it('unlink removes a file', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await client.unlink(`${root}/f`);
        assert.equal(await exists(client, `${root}/f`), false);
      });

      it('unlink of a missing file throws ENOENT', async t => {
        const { client, root } = await make(t);
        await assert.rejects(client.unlink(`${root}/nope`), { name: 'FsError', code: 'ENOENT' });
      });

      it('unlink of a directory throws EISDIR or EPERM', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await assert.rejects(client.unlink(`${root}/d`), (error: { name?: string; code?: string }) =>
          error.name === 'FsError' && (error.code === 'EISDIR' || error.code === 'EPERM'));
      });

      it('mkdir creates a directory', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        assert.ok(isDirMode((await client.stat(`${root}/d`)).mode));
      });

      it('mkdir applies the given mode', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`, 0o700);
        assert.equal((await client.stat(`${root}/d`)).mode & 0o777, 0o700);
      });

      it('mkdir of an existing path throws EEXIST', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await assert.rejects(client.mkdir(`${root}/d`), { name: 'FsError', code: 'EEXIST' });
      });

      it('mkdir with a missing parent throws ENOENT', async t => {
        const { client, root } = await make(t);
        await assert.rejects(client.mkdir(`${root}/no/d`), { name: 'FsError', code: 'ENOENT' });
      });

      it('rmdir removes an empty directory', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await client.rmdir(`${root}/d`);
        assert.equal(await exists(client, `${root}/d`), false);
      });

      it('rmdir of a non-empty directory throws ENOTEMPTY', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await writeFile(client, `${root}/d/f`, 'x');
        await assert.rejects(client.rmdir(`${root}/d`), { name: 'FsError', code: 'ENOTEMPTY' });
      });

      it('rmdir of a file throws ENOTDIR', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await assert.rejects(client.rmdir(`${root}/f`), { name: 'FsError', code: 'ENOTDIR' });
      });

      it('rmdir of a missing directory throws ENOENT', async t => {
        const { client, root } = await make(t);
        await assert.rejects(client.rmdir(`${root}/nope`), { name: 'FsError', code: 'ENOENT' });
      });

      it('realpath of a path with dot segments returns the canonical path', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        assert.equal(await client.realpath(`${root}/d/../d/.`), await client.realpath(`${root}/d`));
      });

      it('realpath of ~ returns an absolute path', async t => {
        const { client } = await make(t);
        assert.match(await client.realpath('~'), /^\//);
      });
    });

    describe('links', () => {
      it('readlink of a symlink returns the target as stored', async t => {
        const { client, root } = await make(t);
        await client.symlink('some/where', `${root}/l`);
        assert.equal(await client.readlink(`${root}/l`), 'some/where');
      });

      it('lstat of a symlink reports a symlink', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await client.symlink(`${root}/f`, `${root}/l`);
        assert.ok(isSymlinkMode((await client.lstat(`${root}/l`)).mode));
      });

      it('stat of a symlink describes its target', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'abc');
        await client.symlink('f', `${root}/l`);
        const st = await client.stat(`${root}/l`);
        assert.ok(isFileMode(st.mode));
        assert.equal(st.size, 3);
      });

      it('symlink onto an existing path throws EEXIST', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await assert.rejects(client.symlink('anything', `${root}/f`), { name: 'FsError', code: 'EEXIST' });
      });

      it('readlink of a regular file throws EINVAL', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await assert.rejects(client.readlink(`${root}/f`), { name: 'FsError', code: 'EINVAL' });
      });

      it('setattr noFollow on a symlink leaves the target untouched', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await client.setattr(`${root}/f`, { atime: { sec: 1_000_000_000, nsec: 0 }, mtime: { sec: 1_000_000_000, nsec: 0 } });
        await client.symlink('f', `${root}/l`);
        const mtime = { sec: 1_500_000_000, nsec: 0 };
        try {
          await client.setattr(`${root}/l`, { atime: mtime, mtime }, { noFollow: true });
        } catch (error) {
          assert.equal((error as { code?: string }).code, 'ENOTSUP');
        }
        assert.equal((await client.stat(`${root}/f`)).mtime.sec, 1_000_000_000);
      });

      it('setattr noFollow on a symlink sets the link\'s own times', async t => {
        const { client, root } = await make(t);
        if (!client.capabilities.noFollowSetattr) return t.skip('client cannot change a symlink itself');
        await writeFile(client, `${root}/f`, 'x');
        await client.symlink('f', `${root}/l`);
        const mtime = { sec: 1_500_000_000, nsec: 0 };
        await client.setattr(`${root}/l`, { atime: mtime, mtime }, { noFollow: true });
        assert.equal((await client.lstat(`${root}/l`)).mtime.sec, 1_500_000_000);
      });

      it('link creates a second name for the same file', async t => {
        const { client, root } = await make(t);
        if (!client.capabilities.hardlink) return t.skip('client has no hard links');
        await writeFile(client, `${root}/f`, 'x');
        await client.link(`${root}/f`, `${root}/g`);
        await writeFile(client, `${root}/f`, 'changed');
        assert.equal(await readText(client, `${root}/g`), 'changed');
      });

      it('link onto an existing path throws EEXIST', async t => {
        const { client, root } = await make(t);
        if (!client.capabilities.hardlink) return t.skip('client has no hard links');
        await writeFile(client, `${root}/f`, 'x');
        await writeFile(client, `${root}/g`, 'y');
        await assert.rejects(client.link(`${root}/f`, `${root}/g`), { name: 'FsError', code: 'EEXIST' });
      });

      it('link without hard-link support throws ENOSYS', async t => {
        const { client, root } = await make(t);
        if (client.capabilities.hardlink) return t.skip('client has hard links');
        await writeFile(client, `${root}/f`, 'x');
        await assert.rejects(client.link(`${root}/f`, `${root}/g`), { name: 'FsError', code: 'ENOSYS' });
      });
    });

    describe('attributes', () => {
      it('setattr mode changes the permission bits', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await client.setattr(`${root}/f`, { mode: 0o640 });
        const st = await client.stat(`${root}/f`);
        assert.equal(st.mode & 0o7777, 0o640);
        assert.ok(isFileMode(st.mode));
      });

      it('setattr uid and gid to the current owner succeeds', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        const st = await client.stat(`${root}/f`);
        await client.setattr(`${root}/f`, { uid: st.uid, gid: st.gid });
        const after = await client.stat(`${root}/f`);
        assert.deepEqual([after.uid, after.gid], [st.uid, st.gid]);
      });

      it('setattr atime and mtime sets both', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await client.setattr(`${root}/f`, { atime: { sec: 1_100_000_000, nsec: 0 }, mtime: { sec: 1_200_000_000, nsec: 0 } });
        const st = await client.stat(`${root}/f`);
        assert.deepEqual([st.atime.sec, st.mtime.sec], [1_100_000_000, 1_200_000_000]);
      });

      it('setattr mtime alone keeps atime', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await client.setattr(`${root}/f`, { atime: { sec: 1_100_000_000, nsec: 0 }, mtime: { sec: 1_100_000_000, nsec: 0 } });
        await client.setattr(`${root}/f`, { mtime: { sec: 1_300_000_000, nsec: 0 } });
        const st = await client.stat(`${root}/f`);
        assert.deepEqual([st.atime.sec, st.mtime.sec], [1_100_000_000, 1_300_000_000]);
      });

      it('setattr atime alone keeps mtime', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await client.setattr(`${root}/f`, { atime: { sec: 1_100_000_000, nsec: 0 }, mtime: { sec: 1_100_000_000, nsec: 0 } });
        await client.setattr(`${root}/f`, { atime: { sec: 1_300_000_000, nsec: 0 } });
        const st = await client.stat(`${root}/f`);
        assert.deepEqual([st.atime.sec, st.mtime.sec], [1_300_000_000, 1_100_000_000]);
      });

      it('setattr mtime now sets the current time', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await client.setattr(`${root}/f`, { atime: { sec: 1_000_000_000, nsec: 0 }, mtime: { sec: 1_000_000_000, nsec: 0 } });
        const before = Math.floor(Date.now() / 1000);
        await client.setattr(`${root}/f`, { mtime: 'now' });
        const st = await client.stat(`${root}/f`);
        assert.ok(Math.abs(st.mtime.sec - before) <= 5, `mtime ${st.mtime.sec} is not near ${before}`);
        assert.equal(st.atime.sec, 1_000_000_000);
      });

      it('setattr of a missing path throws ENOENT', async t => {
        const { client, root } = await make(t);
        await assert.rejects(client.setattr(`${root}/nope`, { mode: 0o600 }), { name: 'FsError', code: 'ENOENT' });
      });

      it('statfs reports a sane file system', async t => {
        const { client, root } = await make(t);
        const s = await client.statfs(root);
        assert.ok(s.bsize > 0 && s.frsize > 0);
        assert.ok(s.blocks > 0 && s.bfree <= s.blocks && s.bavail <= s.blocks);
        assert.ok(s.namemax > 0);
      });
    });

    describe('directories', () => {
      it('readdir of 2,000 entries lists each with its attributes', async t => {
        const { client, root } = await make(t);
        const names = Array.from({ length: 2000 }, (_, i) => `entry-${String(i).padStart(4, '0')}`);
        for (let i = 0; i < names.length; i += 200) {
          await Promise.all(names.slice(i, i + 200).map(async (n, j) => {
            if ((i + j) % 10 === 0) return client.mkdir(`${root}/${n}`);
            return writeFile(client, `${root}/${n}`, 'x'.repeat((i + j) % 7));
          }));
        }
        const entries = await client.readdir(root);
        assert.deepEqual(entries.map(e => e.name).sort(), names);
        for (const e of entries) {
          const i = Number(e.name.slice(6));
          if (i % 10 === 0) assert.ok(isDirMode(e.stat.mode), `${e.name} is a directory`);
          else {
            assert.ok(isFileMode(e.stat.mode), `${e.name} is a file`);
            assert.equal(e.stat.size, i % 7);
          }
        }
      });

      it('readdir of an empty directory returns no entries', async t => {
        const { client, root } = await make(t);
        assert.deepEqual(await client.readdir(root), []);
      });

      it('readdir reports a symlink as a symlink', async t => {
        const { client, root } = await make(t);
        await client.mkdir(`${root}/d`);
        await client.symlink('d', `${root}/l`);
        const entries = await client.readdir(root);
        const l = entries.find(e => e.name === 'l');
        assert.ok(l !== undefined && isSymlinkMode(l.stat.mode));
      });

      it('readdir of a missing directory throws ENOENT', async t => {
        const { client, root } = await make(t);
        await assert.rejects(client.readdir(`${root}/nope`), { name: 'FsError', code: 'ENOENT' });
      });

      it('readdir of a file throws ENOTDIR', async t => {
        const { client, root } = await make(t);
        await writeFile(client, `${root}/f`, 'x');
        await assert.rejects(client.readdir(`${root}/f`), { name: 'FsError', code: 'ENOTDIR' });
      });

      it('names with spaces, newlines and UTF-8 round-trip', async t => {
        const { client, root } = await make(t);
        const names = ['with space', 'new\nline', 'ünïcødé-日本語-🙂', ' lead and trail '];
        for (const n of names) await writeFile(client, `${root}/${n}`, n);
        assert.deepEqual((await client.readdir(root)).map(e => e.name).sort(), [...names].sort());
        for (const n of names) assert.equal(await readText(client, `${root}/${n}`), n);
      });
    });

    describe('lifecycle', () => {
      it('client close makes later calls throw ENOTCONN', async t => {
        const { client, root } = await make(t);
        await client.close();
        await assert.rejects(client.lstat(root), { name: 'FsError', code: 'ENOTCONN' });
      });
    });
  });
}
