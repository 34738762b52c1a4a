import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import { S_IFDIR, S_IFREG, type DirEntry } from '../../src/remote/file-client.ts';
import { DirCache } from '../../src/workspacefs/dir-cache.ts';
import { InodeTable } from '../../src/workspacefs/inode-table.ts';
import { ctx, fileStat, makeFs } from './fixture.ts';

const stat = fileStat;

describe('memory of a large walk', () => {
  it('a node keeps one name inline and gets a map only for a hard link', () => {
    const table = new InodeTable('/r');
    const dir = table.resolve(table.root, 'd', stat(S_IFDIR)).node;
    table.ref(dir);
    const file = table.resolve(table.root, 'f', stat(S_IFREG, 7)).node;
    table.ref(file);
    assert.equal(file.links.size, 1);
    assert.equal(table.resolve(dir, 'g', stat(S_IFREG, 7)).node, file, 'a hard link is the same node');
    assert.equal(file.links.size, 2);
    assert.deepEqual([...file.links.values()].map(l => l.name).sort(), ['f', 'g']);
    table.unlinkName(dir, 'g');
    assert.deepEqual([...file.links.values()].map(l => l.name), ['f']);
    assert.equal(table.pathOf(file), '/r/f');
  });

  it('a file node has no children of its own and refuses any', () => {
    const table = new InodeTable('/r');
    const file = table.resolve(table.root, 'f', stat(S_IFREG)).node;
    assert.equal(file.children.size, 0);
    assert.throws(() => file.children.set('x', file));
  });

  it('files the remote numbers are let go entirely once forgotten; readdir reserves nothing for them', () => {
    const table = new InodeTable('/r');
    for (let i = 0; i < 100; i++) {
      const node = table.resolve(table.root, `f${i}`, stat(S_IFREG, 1000 + i)).node;
      table.ref(node);
      table.forget(node.ino, 1);
    }
    assert.equal(table.size, 1, 'only the root is left');
    const before = table.peekIno(table.root, 'new', stat(S_IFREG, 5000));
    assert.equal(table.peekIno(table.root, 'other', stat(S_IFREG, 5001)), before, 'no number was taken');
  });

  it('files without remote numbers keep theirs by path after a forget', () => {
    const table = new InodeTable('/r');
    const node = table.resolve(table.root, 'f', stat(S_IFREG)).node;
    table.ref(node);
    table.forget(node.ino, 1);
    assert.equal(table.resolve(table.root, 'f', stat(S_IFREG)).node.ino, node.ino);
  });

  it('kept listings are bounded by their entries, oldest first', () => {
    let now = 0;
    const cache = new DirCache(1000, () => now);
    const entries = (n: number): DirEntry[] => Array.from({ length: n }, (_, i) => ({ name: `e${i}`, stat: stat(S_IFREG) }));
    for (let ino = 2; ino < 2 + 30; ino++) cache.set(ino, `/d${ino}`, entries(10_000));
    const { listings, entries: kept } = cache.size();
    assert.ok(kept <= 200_000, `${kept} entries kept`);
    assert.equal(listings, kept / 10_000);
    assert.equal(cache.stale(2), undefined, 'the oldest went');
    assert.notEqual(cache.stale(31), undefined, 'the newest stayed');
    now += 5000;
    cache.forgotten(31);
    assert.equal(cache.stale(31), undefined, 'a forgotten folder\'s expired listing goes');
    cache.set(40, '/d40', entries(1));
    cache.forgotten(40);
    assert.notEqual(cache.get(40), undefined, 'a fresh one stays');
  });

  it('after the kernel forgets a walked tree, the mount holds the root only and expired listings go', async () => {
    const { fs, client, clock } = makeFs();
    for (let d = 0; d < 20; d++) for (let f = 0; f < 20; f++) client.put(`/work/d${d}/f${f}`, 'x');
    const refs: number[] = [];
    for (let d = 0; d < 20; d++) {
      const dir = await fs.lookup(ROOT_INO, `d${d}`, ctx);
      refs.push(dir.ino);
      const h = await fs.opendir(dir.ino, 0, ctx);
      for (const e of await fs.readdirplus(dir.ino, h.fh, 0, 1 << 20, ctx)) if (e.name !== '.' && e.name !== '..') refs.push(e.entry.ino);
      await fs.releasedir(dir.ino, h.fh, ctx);
    }
    assert.equal(fs.stats().inodes, 1 + 20 + 400);
    clock.advance(60_000);
    for (const ino of refs.reverse()) fs.forget(ino, 1);
    const after = fs.stats();
    assert.equal(after.inodes, 1);
    assert.ok(after.listingEntries <= 20, `${after.listingEntries} listing entries kept (the root's at most)`);
  });
});
