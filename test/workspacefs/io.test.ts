import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import { FsError } from '../../src/remote/fs-error.ts';
import { ctx, makeFs, O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, S_IFREG } from './fixture.ts';

describe('WorkspaceFilesystem reads and writes', () => {
  it('many 4 KiB writes are gathered into a few large remote writes', async () => {
    const { client, fs } = makeFs();
    const { entry, open } = await fs.create(ROOT_INO, 'out.bin', S_IFREG | 0o644, O_CREAT | O_WRONLY, ctx);
    const data = randomBytes(4 << 20);
    for (let off = 0; off < data.length; off += 4096) {
      assert.equal(await fs.write(entry.ino, open.fh, data.subarray(off, off + 4096), off, ctx), 4096);
    }
    await fs.flush(entry.ino, open.fh, ctx);
    await fs.release(entry.ino, open.fh, ctx);
    assert.ok(client.count('handle.write') <= 8, `${client.count('handle.write')} remote writes for 1024 writes`);
    assert.ok(client.content('/work/out.bin').equals(data));
    assert.equal(fs.stats().bytesWritten, data.length);
  });

  it('getattr during buffered writes shows the written size', async () => {
    const { fs } = makeFs();
    const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o644, O_CREAT | O_RDWR, ctx);
    await fs.write(entry.ino, open.fh, Buffer.alloc(10_000, 1), 0, ctx);
    assert.equal((await fs.getattr(entry.ino, open.fh, ctx)).attr.size, 10_000);
    await fs.write(entry.ino, open.fh, Buffer.alloc(100, 2), 10_000, ctx);
    assert.equal((await fs.lookup(ROOT_INO, 'f', ctx)).attr.size, 10_100);
    await fs.release(entry.ino, open.fh, ctx);
  });

  it('a failed background write makes flush fail with its errno', async () => {
    const { client, fs } = makeFs();
    const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o644, O_CREAT | O_WRONLY, ctx);
    client.hook = method => {
      if (method === 'handle.write') throw new FsError('ENOSPC', 'write');
    };
    await fs.write(entry.ino, open.fh, Buffer.alloc(4096), 0, ctx);
    await assert.rejects(fs.flush(entry.ino, open.fh, ctx), { code: 'ENOSPC' });
    client.hook = undefined;
    await fs.release(entry.ino, open.fh, ctx);
  });

  it('a failed background write fails the next write and release when never flushed', async () => {
    const { client, fs } = makeFs({ writeGatherBytes: 4096 });
    const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o644, O_CREAT | O_WRONLY, ctx);
    client.hook = method => {
      if (method === 'handle.write') throw new FsError('EDQUOT', 'write');
    };
    await fs.write(entry.ino, open.fh, Buffer.alloc(4096), 0, ctx);
    await new Promise(resolve => setImmediate(resolve));
    await assert.rejects(fs.write(entry.ino, open.fh, Buffer.alloc(4096), 4096, ctx), { code: 'EDQUOT' });
    await assert.rejects(fs.release(entry.ino, open.fh, ctx), { code: 'EDQUOT' });
  });

  it('sequential 128 KiB reads are served by fewer, larger remote reads with the right data', async () => {
    const { client, fs } = makeFs();
    const data = randomBytes((8 << 20) + 1234);
    client.put('/work/big', data);
    const { ino } = await fs.lookup(ROOT_INO, 'big', ctx);
    const { fh } = await fs.open(ino, O_RDONLY, ctx);
    client.resetCounts();
    const parts: Uint8Array[] = [];
    for (let off = 0; ; off += 128 << 10) {
      const chunk = await fs.read(ino, fh, off, 128 << 10, ctx);
      if (chunk.length === 0) break;
      parts.push(chunk);
    }
    await fs.release(ino, fh, ctx);
    assert.ok(Buffer.concat(parts).equals(data));
    const kernelReads = Math.ceil(data.length / (128 << 10)) + 1;
    assert.ok(client.count('handle.read') < kernelReads / 2, `${client.count('handle.read')} remote reads for ${kernelReads}`);
  });

  it('random reads bypass read-ahead and return exact bytes', async () => {
    const { client, fs } = makeFs();
    const data = randomBytes(1 << 20);
    client.put('/work/r', data);
    const { ino } = await fs.lookup(ROOT_INO, 'r', ctx);
    const { fh } = await fs.open(ino, O_RDONLY, ctx);
    for (const off of [900_000, 10, 500_000, 1_048_000]) {
      const got = await fs.read(ino, fh, off, 4096, ctx);
      assert.ok(Buffer.from(got).equals(data.subarray(off, off + 4096)));
    }
    await fs.release(ino, fh, ctx);
  });

  it('short runs of reads at random places fetch nothing they do not return', async () => {
    const { client, fs } = makeFs();
    const data = randomBytes(4 << 20);
    client.put('/work/db', data);
    const { ino } = await fs.lookup(ROOT_INO, 'db', ctx);
    const { fh } = await fs.open(ino, O_RDONLY, ctx);
    const before = fs.stats().remoteBytesRead;
    let asked = 0;
    // What the kernel sends for reads at random places: the page wanted, then its own read-ahead after it.
    for (const at of [3_000_000, 40_960, 1_200_000, 2_500_000, 819_200, 3_600_000]) {
      for (const [off, size] of [[at, 16 << 10], [at + (16 << 10), 32 << 10]] as const) {
        const got = await fs.read(ino, fh, off, size, ctx);
        assert.ok(Buffer.from(got).equals(data.subarray(off, off + size)));
        asked += size;
      }
    }
    await fs.release(ino, fh, ctx);
    assert.equal(fs.stats().remoteBytesRead - before, asked);
  });

  it('a read after a write through another handle sees the new bytes', async () => {
    const { client, fs } = makeFs();
    client.put('/work/f', Buffer.alloc(2 << 20, 0x61));
    const { ino } = await fs.lookup(ROOT_INO, 'f', ctx);
    const reader = await fs.open(ino, O_RDONLY, ctx);
    const writer = await fs.open(ino, O_WRONLY, ctx);
    await fs.read(ino, reader.fh, 0, 128 << 10, ctx);
    await fs.read(ino, reader.fh, 128 << 10, 128 << 10, ctx); // read-ahead now covers the start
    await fs.write(ino, writer.fh, Buffer.from('ZZZZ'), 300_000, ctx);
    const got = await fs.read(ino, reader.fh, 300_000, 4, ctx);
    assert.equal(Buffer.from(got).toString(), 'ZZZZ');
    await fs.release(ino, writer.fh, ctx);
    await fs.release(ino, reader.fh, ctx);
  });

  it('O_APPEND writes go to the end of the file', async () => {
    const { client, fs } = makeFs();
    client.put('/work/log', 'one\n');
    const { ino } = await fs.lookup(ROOT_INO, 'log', ctx);
    const { fh } = await fs.open(ino, O_WRONLY | O_APPEND, ctx);
    await fs.write(ino, fh, Buffer.from('two\n'), 0, ctx);
    await fs.write(ino, fh, Buffer.from('three\n'), 0, ctx);
    assert.equal((await fs.getattr(ino, fh, ctx)).attr.size, 14);
    await fs.release(ino, fh, ctx);
    assert.equal(client.content('/work/log').toString(), 'one\ntwo\nthree\n');
  });

  it('create with O_EXCL on an existing name fails EEXIST', async () => {
    const { client, fs } = makeFs();
    client.put('/work/f', 'x');
    await assert.rejects(fs.create(ROOT_INO, 'f', S_IFREG | 0o644, O_CREAT | O_EXCL | O_WRONLY, ctx), { code: 'EEXIST' });
  });

  it('create applies the umask and open with O_TRUNC empties the file', async () => {
    const { client, fs } = makeFs();
    const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o666, O_CREAT | O_WRONLY, ctx);
    assert.equal(entry.attr.mode & 0o777, 0o644);
    await fs.write(entry.ino, open.fh, Buffer.from('hello'), 0, ctx);
    await fs.release(entry.ino, open.fh, ctx);
    const again = await fs.open(entry.ino, O_WRONLY | O_TRUNC, ctx);
    assert.equal((await fs.getattr(entry.ino, again.fh, ctx)).attr.size, 0);
    await fs.release(entry.ino, again.fh, ctx);
    assert.equal(client.content('/work/f').length, 0);
  });

  it('an unlinked open file keeps reading, writing and stat-ing, and nothing is left behind', async () => {
    const { client, fs } = makeFs();
    client.put('/work/tmp', 'abc');
    const { ino } = await fs.lookup(ROOT_INO, 'tmp', ctx);
    const { fh } = await fs.open(ino, O_RDWR, ctx);
    await fs.unlink(ROOT_INO, 'tmp', ctx);
    await fs.write(ino, fh, Buffer.from('defg'), 3, ctx);
    assert.equal(Buffer.from(await fs.read(ino, fh, 0, 100, ctx)).toString(), 'abcdefg');
    const attr = await fs.getattr(ino, fh, ctx);
    assert.equal(attr.attr.size, 7);
    assert.equal(attr.attr.nlink, 0);
    await fs.setattr(ino, { size: 2 }, fh, ctx);
    assert.equal(Buffer.from(await fs.read(ino, fh, 0, 100, ctx)).toString(), 'ab');
    await fs.release(ino, fh, ctx);
    assert.deepEqual(await client.readdir('/work'), []);
    assert.equal((await fs.lookup(ROOT_INO, 'tmp', ctx)).ino, 0);
  });

  it('a file replaced by rename while open keeps working through its handle', async () => {
    const { client, fs } = makeFs();
    client.put('/work/a', 'old');
    client.put('/work/b', 'new');
    const a = await fs.lookup(ROOT_INO, 'a', ctx);
    const { fh } = await fs.open(a.ino, O_RDONLY, ctx);
    await fs.rename(ROOT_INO, 'b', ROOT_INO, 'a', 0, ctx);
    assert.equal(Buffer.from(await fs.read(a.ino, fh, 0, 10, ctx)).toString(), 'old');
    await fs.release(a.ino, fh, ctx);
    const now = await fs.lookup(ROOT_INO, 'a', ctx);
    assert.notEqual(now.ino, a.ino);
    assert.equal(now.attr.size, 3);
  });

  it('fsync succeeds when the remote cannot fsync, and still asks the handle (a write-back layer waits there)', async () => {
    const { client, fs } = makeFs({}, { capabilities: { fsync: false } });
    const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o644, O_CREAT | O_WRONLY, ctx);
    await fs.write(entry.ino, open.fh, Buffer.from('x'), 0, ctx);
    await fs.fsync(entry.ino, open.fh, false, ctx);
    assert.equal(client.count('handle.sync'), 1);
    assert.equal(client.content('/work/f').toString(), 'x');
    await fs.release(entry.ino, open.fh, ctx);
  });

  it('fsync reaches the remote when it can', async () => {
    const { client, fs } = makeFs();
    const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o644, O_CREAT | O_WRONLY, ctx);
    await fs.fsync(entry.ino, open.fh, false, ctx);
    assert.equal(client.count('handle.sync'), 1);
    await fs.release(entry.ino, open.fh, ctx);
  });

  it('an op against a remote that never answers fails with EIO within opTimeoutMs', async () => {
    const { client, fs } = makeFs({ opTimeoutMs: 50 });
    await fs.getattr(ROOT_INO, undefined, ctx);
    client.hook = () => new Promise<void>(() => {});
    // The remote never answers: only the op timeout can end this (the test's own timeout would fail it).
    await assert.rejects(fs.lookup(ROOT_INO, 'x', ctx), { code: 'EIO' });
    assert.equal(fs.stats().timeouts, 1);
  });

  it('a background write that never completes fails flush with EIO', async () => {
    const { client, fs } = makeFs({ opTimeoutMs: 50 });
    const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o644, O_CREAT | O_WRONLY, ctx);
    client.hook = method => (method === 'handle.write' ? new Promise<void>(() => {}) : undefined);
    await fs.write(entry.ino, open.fh, Buffer.from('x'), 0, ctx);
    await assert.rejects(fs.flush(entry.ino, open.fh, ctx), { code: 'EIO' });
    client.hook = undefined;
    await fs.release(entry.ino, open.fh, ctx);
  });

  it('a non-FsError from the client becomes EIO with the original as cause', async () => {
    const { client, fs } = makeFs();
    await fs.getattr(ROOT_INO, undefined, ctx);
    const boom = new TypeError('codec bug');
    client.hook = () => { throw boom; };
    await assert.rejects(fs.lookup(ROOT_INO, 'x', ctx), (error: unknown) => {
      assert.ok(error instanceof FsError);
      assert.equal(error.code, 'EIO');
      assert.equal(error.cause, boom);
      return true;
    });
  });
});
