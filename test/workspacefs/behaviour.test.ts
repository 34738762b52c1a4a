import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import { ctx, makeFs, O_CREAT, O_RDONLY, O_WRONLY, recordingNotifier, S_IFREG } from './fixture.ts';

describe('WorkspaceFilesystem under concurrency and remote change', () => {
  it('invalidate(path) drops cached attributes and tells the kernel', async () => {
    const { client, fs } = makeFs({ attrTimeoutMs: 60_000 });
    const notifier = recordingNotifier();
    fs.attachNotifier(notifier);
    client.put('/work/d/f', 'one');
    const d = await fs.lookup(ROOT_INO, 'd', ctx);
    const f = await fs.lookup(d.ino, 'f', ctx);
    client.put('/work/d/f', 'three');
    assert.equal((await fs.getattr(f.ino, undefined, ctx)).attr.size, 3, 'still cached');
    fs.invalidate('/work/d/f');
    await new Promise(resolve => setImmediate(resolve));
    // The folder's inode too: a change of unknown kind may have changed its names.
    assert.deepEqual(notifier.calls.sort(), [`entry ${d.ino} f`, `inode ${d.ino}`, `inode ${f.ino}`].sort());
    assert.equal((await fs.getattr(f.ino, undefined, ctx)).attr.size, 5);
  });

  it('a partly filled write buffer reaches the remote after the idle delay', async () => {
    const { client, fs } = makeFs({ writeFlushDelayMs: 10 });
    const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o644, O_CREAT | O_WRONLY, ctx);
    await fs.write(entry.ino, open.fh, Buffer.from('soon'), 0, ctx);
    assert.equal(client.content('/work/f').toString(), '');
    await new Promise(resolve => setTimeout(resolve, 50));
    assert.equal(client.content('/work/f').toString(), 'soon');
    await fs.release(entry.ino, open.fh, ctx);
  });

  it('parallel lookups, reads and writes on a slow remote all complete correctly', async () => {
    const { client, fs } = makeFs({}, { latencyMs: 2 });
    for (let i = 0; i < 20; i++) client.put(`/work/f${i}`, `content ${i}`);
    const entries = await Promise.all(Array.from({ length: 20 }, (_, i) => fs.lookup(ROOT_INO, `f${i}`, ctx)));
    assert.equal(new Set(entries.map(e => e.ino)).size, 20);
    const texts = await Promise.all(entries.map(async (e, i) => {
      const { fh } = await fs.open(e.ino, O_RDONLY, ctx);
      const data = await fs.read(e.ino, fh, 0, 100, ctx);
      await fs.release(e.ino, fh, ctx);
      return [Buffer.from(data).toString(), `content ${i}`];
    }));
    for (const [got, want] of texts) assert.equal(got, want);
    const { entry, open } = await fs.create(ROOT_INO, 'w', S_IFREG | 0o644, O_CREAT | O_WRONLY, ctx);
    await Promise.all(Array.from({ length: 64 }, (_, i) =>
      fs.write(entry.ino, open.fh, Buffer.alloc(1024, 65 + (i % 26)), i * 1024, ctx)));
    await fs.flush(entry.ino, open.fh, ctx);
    await fs.release(entry.ino, open.fh, ctx);
    const out = client.content('/work/w');
    assert.equal(out.length, 64 * 1024);
    for (let i = 0; i < 64; i++) assert.equal(out[i * 1024], 65 + (i % 26));
  });

  it('overlapping writes land in the order they were made', async () => {
    const { client, fs } = makeFs({ writeGatherBytes: 4 }, { latencyMs: 1 });
    const { entry, open } = await fs.create(ROOT_INO, 'f', S_IFREG | 0o644, O_CREAT | O_WRONLY, ctx);
    await fs.write(entry.ino, open.fh, Buffer.from('aaaa'), 0, ctx);
    await fs.write(entry.ino, open.fh, Buffer.from('bbbb'), 0, ctx);
    await fs.write(entry.ino, open.fh, Buffer.from('cc'), 1, ctx);
    await fs.release(entry.ino, open.fh, ctx);
    assert.equal(client.content('/work/f').toString(), 'bccb');
  });

  it('lookup of "." and ".." (NFS export) answers the directory and its parent', async () => {
    const { client, fs } = makeFs();
    client.putDir('/work/d');
    const d = await fs.lookup(ROOT_INO, 'd', ctx);
    assert.equal((await fs.lookup(d.ino, '.', ctx)).ino, d.ino);
    assert.equal((await fs.lookup(d.ino, '..', ctx)).ino, ROOT_INO);
  });

  it('operations on a released handle fail EBADF', async () => {
    const { client, fs } = makeFs();
    client.put('/work/f', 'x');
    const { ino } = await fs.lookup(ROOT_INO, 'f', ctx);
    const { fh } = await fs.open(ino, O_RDONLY, ctx);
    await fs.release(ino, fh, ctx);
    await assert.rejects(fs.read(ino, fh, 0, 1, ctx), { code: 'EBADF' });
    await assert.rejects(fs.releasedir(ino, fh, ctx), { code: 'EBADF' });
  });

  it('under writeback caching a write-only open can read and O_APPEND is left to the kernel', async () => {
    const { client, fs } = makeFs();
    fs.init({ protoMajor: 7, protoMinor: 31, maxWrite: 1 << 20, maxRead: 1 << 20, maxReadahead: 1 << 17, capabilities: ['writeback_cache'] });
    client.put('/work/f', 'abc');
    const { ino } = await fs.lookup(ROOT_INO, 'f', ctx);
    const { fh } = await fs.open(ino, O_WRONLY | 0o2000, ctx);
    assert.equal(Buffer.from(await fs.read(ino, fh, 0, 10, ctx)).toString(), 'abc');
    await fs.write(ino, fh, Buffer.from('d'), 3, ctx);
    await fs.release(ino, fh, ctx);
    assert.deepEqual(client.log.find(c => c.method === 'open')!.args[1], { read: true, write: true, append: false });
    assert.equal(client.content('/work/f').toString(), 'abcd');
  });
});
