import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeParts } from './fixture.ts';

describe('Entries', () => {
  it('the parent of the root and of an orphan is the root', async () => {
    const { client, core, entries } = makeParts();
    client.put('/work/d/f', 'x');
    const d = entries.node(core.table.root, 'd', await client.lstat('/work/d'));
    const f = entries.node(d, 'f', await client.lstat('/work/d/f'));
    assert.equal(entries.parentOf(f), d);
    assert.equal(entries.parentOf(core.table.root), core.table.root);
    core.table.ref(f);
    entries.removed(d, 'f');
    assert.equal(entries.parentOf(f), core.table.root);
  });

  it('resolve is a kernel reference with the stored attributes', async () => {
    const { client, core, entries } = makeParts();
    client.put('/work/f', 'abc');
    const entry = entries.resolve(core.table.root, 'f', await client.lstat('/work/f'));
    assert.equal(entry.attr.size, 3);
    assert.equal(core.table.get(entry.ino)!.lookups, 1);
  });

  it('a removed name is missing, its listing stale and its link count one less', async () => {
    const { client, core, entries, listings } = makeParts();
    client.put('/work/f', 'x');
    await listings.fetch(core.table.root, '/work');
    const entry = entries.resolve(core.table.root, 'f', await client.lstat('/work/f'));
    const node = core.table.get(entry.ino)!;
    const links = node.attr!.nlink!;
    entries.removed(core.table.root, 'f');
    assert.equal(listings.cached(core.table.root.ino), undefined);
    assert.equal(node.attr!.nlink, links - 1);
    assert.equal(await listings.find(core.table.root, 'f', 'lookup'), undefined);
  });

  it('a rename moves the node; the old name is missing, the new one found', async () => {
    const { client, core, entries, listings } = makeParts({ prefetchConcurrency: 0 });
    client.put('/work/a', 'x');
    const entry = entries.resolve(core.table.root, 'a', await client.lstat('/work/a'));
    await client.rename('/work/a', '/work/b');
    entries.renamed(core.table.root, 'a', core.table.root, 'b', '/work/a', '/work/b');
    assert.equal(core.table.child(core.table.root, 'b')?.ino, entry.ino);
    assert.equal(await listings.find(core.table.root, 'a', 'lookup'), undefined);
  });

  it('a negative entry is cached, or ENOENT when negative caching is off', () => {
    const parts = makeParts();
    assert.equal(parts.entries.negative('lookup', parts.core.table.root, 'x').ino, 0);
    const off = makeParts({ negativeTimeoutMs: 0 });
    assert.throws(() => off.entries.negative('lookup', off.core.table.root, 'x'), { code: 'ENOENT' });
  });

  it('after a remote command, without a watch, the kernel is told to drop what it was handed within its lifetime', async () => {
    const { client, core, entries, notices, kernel, clock } = makeParts({ cacheTimeoutMs: 2000 });
    const root = core.table.root;
    client.put('/work/old', 'x');
    client.put('/work/f', 'x');
    await client.mkdir('/work/d');
    const old = entries.resolve(root, 'old', await client.lstat('/work/old'));
    clock.advance(2500);
    const f = entries.resolve(root, 'f', await client.lstat('/work/f'));
    const d = entries.resolve(root, 'd', await client.lstat('/work/d'));
    entries.negative('lookup', root, 'gone');
    entries.told(core.table.get(old.ino)!);
    entries.commandEnded();
    notices.sendSoon();
    await new Promise(resolve => setImmediate(resolve));
    assert.deepEqual(kernel.calls.sort(), [
      `entry ${root.ino} f`, `entry ${root.ino} gone`, `entry ${root.ino} old`,
      `inode ${d.ino}`, `inode ${f.ino}`, `inode ${old.ino}`,
    ].sort(), 'a folder\'s own name stays (it may be a process\'s current folder)');
    // Told once: the kernel asks again, and what it is handed then is remembered anew.
    kernel.calls.length = 0;
    entries.commandEnded();
    notices.sendSoon();
    await new Promise(resolve => setImmediate(resolve));
    assert.deepEqual(kernel.calls, []);
    // Where a watch reports changes, its barrier tells the kernel instead.
    core.watch.attach(() => true);
    entries.resolve(root, 'f', await client.lstat('/work/f'));
    entries.commandEnded();
    notices.sendSoon();
    await new Promise(resolve => setImmediate(resolve));
    assert.deepEqual(kernel.calls, []);
  });

  it('after a remote command, without a watch, nothing cached before it answers: attributes, listings', async () => {
    const { client, core, entries, attrs, listings, clock } = makeParts({ cacheTimeoutMs: 2000, prefetchConcurrency: 0 });
    const root = core.table.root;
    client.put('/work/f', 'x');
    await listings.fetch(root, '/work');
    const f = core.table.get(entries.resolve(root, 'f', await client.lstat('/work/f')).ino)!;
    assert.equal(attrs.fresh(f), true);
    assert.notEqual(listings.cached(root.ino), undefined);
    clock.advance(5);
    core.watch.commandEnded();
    assert.equal(attrs.fresh(f), false);
    assert.equal(listings.cached(root.ino), undefined);
    clock.advance(5);
    await listings.fetch(root, '/work');
    assert.equal(attrs.fresh(f), true, 'read again after the command');
    assert.notEqual(listings.cached(root.ino), undefined);
  });

  it('a folder\'s kernel entry stays when it only changed (its dentry may be a process\'s current folder), and goes when it was removed', async () => {
    const { client, core, entries, notices, kernel } = makeParts();
    await client.mkdir('/work/d');
    const dir = entries.node(core.table.root, 'd', await client.lstat('/work/d'));
    entries.remoteChanged('/work/d', ['create']);
    entries.remoteChanged('/work/d', ['modify', 'attrib']);
    entries.remoteChanged('/work/d');
    notices.sendSoon();
    await new Promise(resolve => setImmediate(resolve));
    assert.deepEqual(kernel.calls.filter(c => c.startsWith('entry')), []);
    assert.ok(kernel.calls.includes(`inode ${dir.ino}`));
    entries.remoteChanged('/work/d', ['remove']);
    notices.sendSoon();
    await new Promise(resolve => setImmediate(resolve));
    assert.deepEqual(kernel.calls.filter(c => c.startsWith('entry')), [`entry ${core.table.root.ino} d`]);
  });

  it('a remote change of a known path expires it and tells the kernel about the name and the inode', async () => {
    const { client, core, entries, notices, kernel, attrs } = makeParts();
    client.put('/work/f', 'x');
    const node = entries.node(core.table.root, 'f', await client.lstat('/work/f'));
    attrs.store(node, await client.lstat('/work/f'));
    entries.remoteChanged('/work/f');
    entries.remoteChanged('/elsewhere/f');
    notices.sendSoon();
    await new Promise(resolve => setImmediate(resolve));
    assert.equal(attrs.fresh(node), false);
    // The root's inode too: a change of unknown kind may have changed its names.
    assert.deepEqual(kernel.calls, [`entry ${core.table.root.ino} f`, `inode ${core.table.root.ino}`, `inode ${node.ino}`]);
  });

  it('a name made on the remote drops the folder\'s entries the kernel keeps; a change of content does not', async () => {
    const { client, core, entries, notices, kernel } = makeParts();
    const root = core.table.root;
    await client.mkdir('/work/d');
    client.put('/work/d/f', 'x');
    const d = entries.node(root, 'd', await client.lstat('/work/d'));
    const f = entries.node(d, 'f', await client.lstat('/work/d/f'));
    const told = async (): Promise<string[]> => {
      notices.sendSoon();
      await new Promise(resolve => setImmediate(resolve));
      return kernel.calls.splice(0);
    };
    // Never looked up here: the kernel has no entry for it, only the folder's listing.
    client.put('/work/d/new', 'x');
    entries.remoteChanged('/work/d/new', ['create']);
    assert.deepEqual(await told(), [`entry ${d.ino} new`, `inode ${d.ino}`]);
    entries.remoteChanged('/work/d/f', ['modify']);
    assert.deepEqual(await told(), [`inode ${f.ino}`]);
    entries.remoteChanged('/work/d/f', ['rename']);
    assert.deepEqual(await told(), [`entry ${d.ino} f`, `inode ${d.ino}`, `inode ${f.ino}`]);
  });

  it('lets the kernel keep folders\' entries across opens only while the watch is live and barriers run', () => {
    const { core } = makeParts();
    let live = true;
    assert.equal(core.watch.trusted, false, 'no watch');
    core.watch.attach(() => live);
    assert.equal(core.watch.trusted, false, 'a watch but no barriers (-o cto)');
    core.watch.runsBarriers();
    assert.equal(core.watch.trusted, true);
    live = false;
    assert.equal(core.watch.trusted, false, 'the watch is lost');
  });
});
