import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import type { FileStat } from '../../src/remote/file-client.ts';
import type { MemoryFileClient } from '../helpers/memory-file-client.ts';
import { ctx, makeFs, makeParts, O_RDWR } from './fixture.ts';

/** A mount of a memory remote where /work/f holds `content`, open for reading and writing. */
async function openWritable(inOrder: boolean, content: string, options: Parameters<typeof makeFs>[0] = {}) {
  const { client, fs } = makeFs(options, { inOrder });
  client.put('/work/f', content);
  const f = await fs.lookup(ROOT_INO, 'f', ctx);
  return { client, fs, f, opened: await fs.open(f.ino, O_RDWR, ctx) };
}

function remoteCalls(client: MemoryFileClient): string[] {
  return [...client.calls.entries()].flatMap(([k, n]) => Array<string>(n).fill(k)).sort();
}

describe('OpenFiles', () => {
  it('fsync on a remote without fsync waits for writes and says so once', async () => {
    const infos: string[] = [];
    const log = { error() {}, warn() {}, debug() {}, info: (m: string) => { infos.push(m); } };
    const { client, core, entries, files } = makeParts({ log, writeFlushDelayMs: 1000 }, { capabilities: { fsync: false } });
    client.put('/work/f', '');
    const node = entries.node(core.table.root, 'f', await client.lstat('/work/f'));
    const remote = await client.open('/work/f', { read: true, write: true });
    const fh = files.add(node, remote, { read: true, write: true, append: false });
    await core.handles.file(fh, 'write').write(Buffer.from('data'), 0);
    await files.fsync(fh);
    await files.fsync(fh);
    assert.equal(client.content('/work/f').toString(), 'data');
    assert.equal(infos.length, 1);
    await files.release(fh);
    assert.equal(node.opens, 0);
    await assert.rejects(files.flush(fh), { code: 'EBADF' });
  });

  it('a close brings the remote\'s attributes back behind the writes, where the handle answers in order: a stat after it asks nothing', async () => {
    const { client, fs, f, opened: w } = await openWritable(true, 'abc', { writeFlushDelayMs: 1000 });
    await fs.write(f.ino, w.fh, Buffer.from('12345'), 1, ctx);
    client.resetCounts();
    // A stat of a file being written is answered from what the writes made, without sending them.
    assert.equal((await fs.getattr(f.ino, undefined, ctx)).attr.size, 6);
    assert.deepEqual(remoteCalls(client), []);
    await fs.flush(f.ino, w.fh, ctx);
    assert.deepEqual(remoteCalls(client), ['handle.stat', 'handle.write']);
    client.resetCounts();
    const { attr } = await fs.getattr(f.ino, undefined, ctx);
    assert.deepEqual(remoteCalls(client), []);
    const remote = await client.lstat('/work/f');
    assert.equal(attr.size, 6);
    assert.deepEqual(attr.mtime, remote.mtime);
    await fs.release(f.ino, w.fh, ctx);
  });

  it('where the handle may answer out of order, a stat after a close asks the remote', async () => {
    const { client, fs, f, opened: w } = await openWritable(false, 'abc', {});
    await fs.write(f.ino, w.fh, Buffer.from('12345'), 1, ctx);
    await fs.flush(f.ino, w.fh, ctx);
    client.resetCounts();
    assert.equal((await fs.getattr(f.ino, undefined, ctx)).attr.size, 6);
    assert.deepEqual(remoteCalls(client), ['lstat']);
    await fs.release(f.ino, w.fh, ctx);
  });

  for (const [what, data, at, content] of [
    ['grows the file', 'XYZ', 3, '1bcXYZ'],
    ['overwrites bytes inside it', 'Z', 2, '1bZ'],
  ] as const) {
    it(`a write through another descriptor that ${what} while the close's ask is on its way makes the answer too old to keep`, async () => {
      const { client, fs, f, opened: one } = await openWritable(true, 'abc', { writeFlushDelayMs: 1000 });
      const two = await fs.open(f.ino, O_RDWR, ctx);
      await fs.write(f.ino, one.fh, Buffer.from('1'), 0, ctx);
      let answer: (() => void) | undefined;
      const asked = new Promise<void>(resolve => {
        client.hook = method => {
          if (method !== 'handle.stat' || answer !== undefined) return undefined;
          resolve();
          return new Promise<void>(held => { answer = held; });
        };
      });
      const closing = fs.flush(f.ino, one.fh, ctx);
      await asked;
      await fs.write(f.ino, two.fh, Buffer.from(data), at, ctx);
      answer!();
      await closing;
      client.resetCounts();
      // The answer predates the write: the remote is asked again, once the write is there.
      const { attr } = await fs.getattr(f.ino, undefined, ctx);
      assert.deepEqual(remoteCalls(client), ['handle.write', 'lstat']);
      assert.equal(attr.size, content.length);
      assert.deepEqual(attr.mtime, (await client.lstat('/work/f')).mtime);
      assert.equal(client.content('/work/f').toString(), content);
      await fs.release(f.ino, one.fh, ctx);
      await fs.release(f.ino, two.fh, ctx);
    });
  }

  it('a chmod while the close\'s ask is on its way makes the answer too old to keep', async () => {
    const { client, fs, f, opened: w } = await openWritable(true, 'abc', {});
    await fs.write(f.ino, w.fh, Buffer.from('1'), 0, ctx);
    // The remote takes the file's attributes when the ask comes, and its answer comes late.
    let answer!: () => void;
    const held = new Promise<void>(resolve => { answer = resolve; });
    let taken: Promise<FileStat> | undefined;
    client.hook = method => {
      if (method !== 'handle.stat' || taken !== undefined) return undefined;
      taken = client.lstat('/work/f');
      return held;
    };
    const statOf = client.statOf.bind(client);
    let asOfAsk: FileStat | undefined;
    client.statOf = node => asOfAsk ?? statOf(node);
    const closing = fs.flush(f.ino, w.fh, ctx);
    while (taken === undefined) await new Promise(resolve => setImmediate(resolve));
    asOfAsk = await taken;
    await fs.setattr(f.ino, { mode: 0o600 }, undefined, ctx);
    answer();
    await closing;
    asOfAsk = undefined;
    assert.equal((await fs.getattr(f.ino, undefined, ctx)).attr.mode & 0o777, 0o600);
    await fs.release(f.ino, w.fh, ctx);
  });

  for (const inOrder of [true, false]) {
    it(`a read right behind a write ${inOrder ? 'goes out without waiting for the write\'s answer, where the handle answers in order' : 'waits for the write\'s answer, where the handle may answer out of order'}`, async () => {
      const { client, fs, f, opened: w } = await openWritable(inOrder, 'abcdef', { writeFlushDelayMs: 1000, readAheadBytes: 0 });
      await fs.write(f.ino, w.fh, Buffer.from('XY'), 2, ctx);
      const seen: string[] = [];
      let answer!: () => void;
      const held = new Promise<void>(resolve => { answer = resolve; });
      client.hook = method => {
        seen.push(method);
        return method === 'handle.write' ? held : undefined;
      };
      const reading = fs.read(f.ino, w.fh, 0, 6, ctx);
      for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve));
      assert.deepEqual(seen, inOrder ? ['handle.write', 'handle.read'] : ['handle.write']);
      answer();
      client.hook = undefined;
      const data = Buffer.from(await reading).toString();
      // The test's remote carries the write out only when it answers; a real one in order would have it.
      if (!inOrder) assert.equal(data, 'abXYef');
      await fs.release(f.ino, w.fh, ctx);
    });
  }

  for (const inOrder of [true, false]) {
    it(`an ftruncate behind a write ${inOrder ? 'costs one round trip and keeps the remote\'s attributes' : 'waits for the write and asks for the attributes after'}`, async () => {
      const { client, fs, f, opened: w } = await openWritable(inOrder, 'abcdef', { writeFlushDelayMs: 1000 });
      await fs.write(f.ino, w.fh, Buffer.from('XY'), 6, ctx);
      client.resetCounts();
      const { attr } = await fs.setattr(f.ino, { size: 3 }, w.fh, ctx);
      assert.equal(attr.size, 3);
      assert.deepEqual(remoteCalls(client), inOrder ? ['handle.setattr', 'handle.stat', 'handle.write'].sort() : ['handle.setattr', 'handle.write', 'lstat']);
      client.resetCounts();
      assert.equal((await fs.getattr(f.ino, undefined, ctx)).attr.size, 3);
      assert.deepEqual(remoteCalls(client), []);
      assert.equal(client.content('/work/f').toString(), 'abc');
      await fs.release(f.ino, w.fh, ctx);
    });
  }
});
