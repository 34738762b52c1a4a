import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { canReadFiles, canSubtree, type FileClient, type Subtree } from '../../src/remote/file-client.ts';
import { silentLogger } from '../../src/remote/log.ts';
import { openWriteBack } from '../../src/writeback/replay.ts';
import { MemoryFileClient } from '../helpers/memory-file-client.ts';

const roots: string[] = [];
after(async () => {
  for (const dir of roots) await rm(dir, { recursive: true, force: true });
});

/** A memory "remote" that reads subtrees and small files in one request. */
function remote(): MemoryFileClient {
  return new MemoryFileClient({ capabilities: { subtree: true, readFiles: true } });
}

/**
 * A write-back client over `mem` serving /w, whose changes stay pending until `release()`: the
 * remote answers reads at once and holds every change.
 */
async function held(mem: MemoryFileClient) {
  let release!: () => void;
  const gate = new Promise<void>(resolve => { release = resolve; });
  const reads = new Set(['lstat', 'stat', 'readdir', 'readlink', 'subtree', 'readFiles', 'open', 'handle.read', 'handle.close']);
  mem.hook = async method => {
    if (!reads.has(method)) await gate;
  };
  const root = await mkdtemp(join(tmpdir(), 'rmount-journal-'));
  roots.push(root);
  const { client } = await openWriteBack(mem, {
    root, destination: 'local:/w', addr: 'local', remotePath: '/w', mountpoint: '/mnt/x',
    log: silentLogger, maxBytes: 1 << 30, owner: { uid: 0, gid: 0 }, openPutDelayMs: 60_000,
  });
  return { client, release };
}

/** Writes a new file through `client` and closes it: staged, its put pending. */
async function stage(client: FileClient, path: string, data: string): Promise<void> {
  const h = await client.open(path, { read: false, write: true, create: true, exclusive: true }, 0o644);
  await h.write(Buffer.from(data), 0, data.length, 0);
  await h.close();
}

/** Each folder of an answer with its sorted names. */
function shape(tree: Subtree): Record<string, string[]> {
  return Object.fromEntries(tree.folders.map(f => [f.path, f.entries.map(e => e.name).sort()]));
}

describe('write-back journal: subtree and readFiles', () => {
  it('offers subtree and readFiles only over a client that has them', async () => {
    const withThem = await held(remote());
    assert.equal(canSubtree(withThem.client), true);
    assert.equal(canReadFiles(withThem.client), true);
    const without = await held(new MemoryFileClient());
    assert.equal(canSubtree(without.client), false);
    assert.equal(canReadFiles(without.client), false);
    assert.equal(without.client.subtree, undefined);
    await withThem.client.close();
    await without.client.close();
  });

  it('subtree with nothing pending is the remote\'s answer, in one call', async () => {
    const mem = remote();
    mem.put('/w/a/x', 'x');
    mem.putDir('/w/b');
    const { client } = await held(mem);
    mem.resetCounts();
    const tree = await client.subtree!('/w', { maxEntries: 100 });
    assert.deepEqual(shape(tree), { '/w': ['a', 'b'], '/w/a': ['x'], '/w/b': [] });
    assert.equal(tree.truncated, false);
    assert.equal(mem.count('subtree'), 1);
    assert.equal(mem.count('readdir'), 0);
    await client.close();
  });

  it('subtree leaves out folders with a pending change at, above or below them, and merges the requested folder', async () => {
    const mem = remote();
    mem.put('/w/a/x', 'x');
    mem.put('/w/b/c/y', 'y');
    mem.putDir('/w/d');
    const { client, release } = await held(mem);
    await stage(client, '/w/b/c/new', 'pending');
    await stage(client, '/w/top', 'pending');
    mem.resetCounts();
    const tree = await client.subtree!('/w', { maxEntries: 100 });
    // /w/b and /w/b/c hold the pending file below them; /w itself is merged from the answer.
    assert.deepEqual(shape(tree), { '/w': ['a', 'b', 'd', 'top'], '/w/a': ['x'], '/w/d': [] });
    assert.equal(tree.truncated, true);
    assert.equal(mem.count('subtree'), 1);
    assert.equal(mem.count('readdir'), 0);
    // readdir, which the VFS asks for the folders left out, shows the journal's file.
    assert.deepEqual((await client.readdir('/w/b/c')).map(e => e.name).sort(), ['new', 'y']);
    release();
    await client.sync();
    const landed = await client.subtree!('/w', { maxEntries: 100 });
    assert.deepEqual(shape(landed), { '/w': ['a', 'b', 'd', 'top'], '/w/a': ['x'], '/w/b': ['c'], '/w/b/c': ['new', 'y'], '/w/d': [] });
    assert.equal(landed.truncated, false);
    await client.close();
  });

  it('subtree leaves out both ends of a pending folder move, and answers a moved folder from readdir', async () => {
    const mem = remote();
    mem.put('/w/src/sub/f', 'f');
    mem.putDir('/w/other');
    const { client, release } = await held(mem);
    await client.rename('/w/src', '/w/dst', { known: await mem.lstat('/w/src'), knownTarget: null });
    mem.resetCounts();
    const tree = await client.subtree!('/w', { maxEntries: 100 });
    assert.deepEqual(shape(tree), { '/w': ['dst', 'other'], '/w/other': [] });
    assert.equal(tree.truncated, true);
    // The remote still has it at /w/src: the moved folder's own listing comes from there, merged.
    const moved = await client.subtree!('/w/dst', { maxEntries: 100 });
    assert.deepEqual(shape(moved), { '/w/dst': ['sub'] });
    assert.equal(moved.truncated, true);
    assert.equal(mem.count('subtree'), 1, 'the moved folder was not asked of the remote by subtree');
    await assert.rejects(client.subtree!('/w/src', { maxEntries: 100 }), { name: 'FsError', code: 'ENOENT', syscall: 'subtree' });
    release();
    await client.close();
  });

  it('subtree of a folder made here answers from the journal without asking the remote', async () => {
    const mem = remote();
    mem.putDir('/w');
    const { client, release } = await held(mem);
    await client.mkdir('/w/new', 0o755);
    await stage(client, '/w/new/f', 'f');
    mem.resetCounts();
    const tree = await client.subtree!('/w/new', { maxEntries: 100, maxDepth: 1 });
    assert.deepEqual(shape(tree), { '/w/new': ['f'] });
    assert.equal(tree.truncated, false);
    assert.equal(mem.count('subtree'), 0);
    release();
    await client.close();
  });

  it('subtree leaves out a folder changed while the request was on its way', async () => {
    const mem = remote();
    mem.put('/w/a/x', 'x');
    mem.putDir('/w/b');
    const { client, release } = await held(mem);
    let answer!: () => void;
    const answered = new Promise<void>(resolve => { answer = resolve; });
    let asked!: () => void;
    const arrived = new Promise<void>(resolve => { asked = resolve; });
    const before = mem.hook!;
    mem.hook = async (method, args) => {
      if (method === 'subtree') {
        asked();
        await answered;
      }
      return before(method, args);
    };
    const tree = client.subtree!('/w', { maxEntries: 100 });
    await arrived;
    await stage(client, '/w/a/late', 'late');
    answer();
    assert.deepEqual(shape(await tree), { '/w': ['a', 'b'], '/w/b': [] });
    assert.equal((await tree).truncated, true);
    release();
    await client.close();
  });

  it('readFiles answers EAGAIN for what the journal touches and asks the remote for the rest in one call', async () => {
    const mem = remote();
    for (const n of ['plain', 'moved', 'removed', 'chmodded', 'other']) mem.put(`/w/${n}`, n);
    const { client, release } = await held(mem);
    await stage(client, '/w/staged', 'staged');
    await client.rename('/w/moved', '/w/moved-to', { known: await mem.lstat('/w/moved') });
    await client.unlink('/w/removed');
    await client.setattr('/w/chmodded', { mode: 0o600 }, { known: await mem.lstat('/w/chmodded') });
    mem.resetCounts();
    const paths = ['/w/plain', '/w/staged', '/w/moved', '/w/moved-to', '/w/removed', '/w/chmodded', '/w/other', '/w/missing'];
    const got = await client.readFiles!(paths, 100);
    assert.deepEqual(got.map(f => f.path), paths);
    assert.deepEqual(got.map(f => f.error?.code), [undefined, 'EAGAIN', 'EAGAIN', 'EAGAIN', 'EAGAIN', 'EAGAIN', undefined, 'ENOENT']);
    assert.equal(got[0]!.data!.toString(), 'plain');
    assert.equal(got[6]!.stat!.size, 5);
    assert.equal(mem.count('readFiles'), 1);
    assert.deepEqual(mem.log.find(l => l.method === 'readFiles')!.args[0], ['/w/plain', '/w/other', '/w/missing']);
    release();
    await client.close();
  });

  it('readFiles of paths the journal all touches asks the remote nothing', async () => {
    const mem = remote();
    mem.putDir('/w');
    const { client, release } = await held(mem);
    await client.mkdir('/w/new', 0o755);
    await stage(client, '/w/new/a', 'a');
    mem.resetCounts();
    const got = await client.readFiles!(['/w/new/a', '/w/new/b'], 100);
    assert.deepEqual(got.map(f => f.error?.code), ['EAGAIN', 'EAGAIN']);
    assert.equal(mem.count('readFiles'), 0);
    release();
    await client.close();
  });
});
