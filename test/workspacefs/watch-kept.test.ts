import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import type { WorkspaceFilesystem } from '../../src/workspacefs/workspace-filesystem.ts';
import { ctx, makeFs, O_RDONLY, O_RDWR, recordingNotifier } from './fixture.ts';
import type { MemoryFileClient } from '../helpers/memory-file-client.ts';

/** What a `find -ls` (`read` false) or a `cat` of every file found does: lookups, getattrs, listings, opens, reads. */
async function walk(fs: WorkspaceFilesystem, ino = ROOT_INO, read = true): Promise<string[]> {
  const seen: string[] = [];
  const { fh } = await fs.opendir(ino, 0, ctx);
  const names = (await fs.readdir(ino, fh, 0, 1 << 20, ctx)).map(e => e.name).filter(n => n !== '.' && n !== '..');
  await fs.releasedir(ino, fh, ctx);
  for (const name of names) {
    const entry = await fs.lookup(ino, name, ctx);
    await fs.getattr(entry.ino, undefined, ctx);
    if ((entry.attr.mode & 0o170000) === 0o040000) {
      seen.push(...(await walk(fs, entry.ino, read)).map(n => `${name}/${n}`));
    } else if (read) {
      const open = await fs.open(entry.ino, O_RDONLY, ctx);
      const data = await fs.read(entry.ino, open.fh, 0, 4096, ctx);
      await fs.release(entry.ino, open.fh, ctx);
      seen.push(`${name}=${Buffer.from(data).toString()}`);
    } else {
      seen.push(name);
    }
  }
  return seen;
}

function remoteCalls(client: MemoryFileClient): number {
  return [...client.calls.values()].reduce((a, b) => a + b, 0);
}

function tree(client: MemoryFileClient): void {
  client.put('/work/a.txt', 'A');
  client.put('/work/src/b.txt', 'B');
  client.put('/work/src/lib/c.txt', 'C');
}

describe('caches kept by the watch', () => {
  it('lets the kernel keep a folder\'s entries across opens only while the watch is live and barriers run', async () => {
    const { client, fs } = makeFs();
    tree(client);
    const opened = async (): Promise<boolean> => {
      const open = await fs.opendir(ROOT_INO, 0, ctx);
      await fs.releasedir(ROOT_INO, open.fh, ctx);
      return open.cacheDir === true && open.keepCache === true;
    };
    assert.equal(await opened(), false, 'no watch');
    let live = true;
    fs.watched(() => live);
    assert.equal(await opened(), false, 'a watch, but no barrier after remote commands (-o cto)');
    fs.runsBarriers();
    assert.equal(await opened(), true);
    live = false;
    assert.equal(await opened(), false, 'the watch is lost: this open drops what the kernel kept');
  });

  it('a second warm find costs no remote call while the watch is live, however long after; opens still ask (close-to-open)', async () => {
    const { client, fs, clock } = makeFs();
    tree(client);
    let live = true;
    fs.watched(() => live);
    const first = await walk(fs);
    await fs.readAheadIdle();
    clock.advance(3_600_000);
    client.resetCounts();
    assert.deepEqual(await walk(fs, ROOT_INO, false), first.map(n => n.replace(/=.*/, '')));
    assert.equal(remoteCalls(client), 0, JSON.stringify([...client.calls]));
    // An open asks for the file's attributes beside it: a remote command may have changed it a
    // moment ago, before its event came.
    assert.deepEqual(await walk(fs), first);
    assert.deepEqual([...client.calls.keys()].sort(), ['handle.close', 'handle.read', 'lstat', 'open']);
    // A name missing from a listing is asked for once (made by a remote command a moment ago?),
    // then known missing for as long as the watch is live.
    client.resetCounts();
    assert.equal((await fs.lookup(ROOT_INO, '.editorconfig', ctx)).ino, 0);
    assert.equal(remoteCalls(client), 1, JSON.stringify([...client.calls]));
    clock.advance(60_000);
    client.resetCounts();
    assert.equal((await fs.lookup(ROOT_INO, '.editorconfig', ctx)).ino, 0);
    assert.equal(remoteCalls(client), 0);
    // The watch lost (a dead link, an unwatched folder): the lifetimes rule again.
    live = false;
    client.resetCounts();
    await walk(fs);
    assert.ok(client.count('readdir') >= 1 || client.count('lstat') >= 1, JSON.stringify([...client.calls]));
  });

  it('where the mount runs barriers after remote commands, opens and names missing from kept listings cost no round trip', async () => {
    const { client, fs, clock } = makeFs();
    tree(client);
    fs.watched(() => true);
    fs.runsBarriers();
    const first = await walk(fs);
    await fs.readAheadIdle();
    clock.advance(3_600_000);
    client.resetCounts();
    // Bytes not kept are read, but no open asks for attributes beside it (close-to-open).
    assert.deepEqual(await walk(fs), first);
    assert.deepEqual([...client.calls.keys()].sort(), ['handle.close', 'handle.read', 'open']);
    client.resetCounts();
    // A name missing from a kept listing is missing, unasked.
    assert.equal((await fs.lookup(ROOT_INO, '.editorconfig', ctx)).ino, 0);
    assert.equal((await fs.lookup(ROOT_INO, '.gitignore', ctx)).ino, 0);
    assert.equal(remoteCalls(client), 0, JSON.stringify([...client.calls]));
    // A file bigger than the read-ahead: its open goes without the close-to-open lstat.
    client.put('/work/big.bin', Buffer.alloc(1 << 20, 1));
    fs.invalidate('/work/big.bin', ['create']);
    const big = await fs.lookup(ROOT_INO, 'big.bin', ctx);
    client.resetCounts();
    const open = await fs.open(big.ino, O_RDONLY, ctx);
    await fs.release(big.ino, open.fh, ctx);
    assert.equal(client.count('lstat'), 0, JSON.stringify([...client.calls]));
    assert.equal(client.count('open'), 1);
  });

  it('a change reported for a file open for writing here keeps the kernel\'s pages and asks nothing until the last close', async () => {
    const { client, fs } = makeFs();
    tree(client);
    fs.watched(() => true);
    fs.runsBarriers();
    const kernel = recordingNotifier();
    fs.attachNotifier(kernel);
    const a = await fs.lookup(ROOT_INO, 'a.txt', ctx);
    const w = await fs.open(a.ino, O_RDWR, ctx);
    await fs.write(a.ino, w.fh, Buffer.from('Z'), 0, ctx);
    // Sends the write.
    await fs.getattr(a.ino, undefined, ctx);
    // The echo of our own write: nothing is dropped, and nothing is asked.
    fs.invalidate('/work/a.txt', ['modify']);
    await new Promise(r => setImmediate(r));
    assert.deepEqual(kernel.calls.filter(c => c === `inode ${a.ino}`), []);
    client.resetCounts();
    await fs.getattr(a.ino, undefined, ctx);
    assert.equal(remoteCalls(client), 0, JSON.stringify([...client.calls]));
    await fs.flush(a.ino, w.fh, ctx);
    await fs.release(a.ino, w.fh, ctx);
    // The last close takes the remote's attributes again and drops the pages once: the change
    // held may have been someone else's.
    await new Promise(r => setImmediate(r));
    assert.deepEqual(kernel.calls.filter(c => c === `inode ${a.ino}`), [`inode ${a.ino}`]);
    kernel.calls.length = 0;
    client.resetCounts();
    assert.equal((await fs.getattr(a.ino, undefined, ctx)).attr.size, 1);
    assert.equal(remoteCalls(client), 1, JSON.stringify([...client.calls]));
    // Once no one here writes it, a reported change drops the kernel's pages at once.
    fs.invalidate('/work/a.txt', ['modify']);
    await new Promise(r => setImmediate(r));
    assert.ok(kernel.calls.includes(`inode ${a.ino}`), JSON.stringify(kernel.calls));
  });

  it('a change the watch reports is seen through every cache, and only that path is read again', async () => {
    const { client, fs, clock } = makeFs();
    tree(client);
    fs.watched(() => true);
    const kernel = recordingNotifier();
    fs.attachNotifier(kernel);
    await walk(fs);
    await fs.readAheadIdle();
    clock.advance(600_000);
    client.put('/work/src/b.txt', 'B2');
    client.put('/work/src/new.txt', 'N');
    fs.invalidate('/work/src/b.txt', ['modify']);
    fs.invalidate('/work/src/new.txt', ['create']);
    client.resetCounts();
    const seen = await walk(fs);
    assert.deepEqual(seen.sort(), ['a.txt=A', 'src/b.txt=B2', 'src/lib/c.txt=C', 'src/new.txt=N']);
    // The folder that changed is listed again; the others are not.
    assert.equal(client.count('readdir'), 1, JSON.stringify([...client.calls]));
    await new Promise(r => setImmediate(r));
    assert.ok(kernel.calls.length > 0, `the kernel is told: ${JSON.stringify(kernel.calls)}`);
  });

  it('one rescan after the watch is renewed reads everything again, once', async () => {
    const { client, fs, clock } = makeFs();
    tree(client);
    fs.watched(() => true);
    await walk(fs);
    await fs.readAheadIdle();
    client.put('/work/src/lib/c.txt', 'C2');
    // The renewed subscription's rescan event: events may have been lost.
    fs.flushCaches();
    client.resetCounts();
    assert.ok((await walk(fs)).includes('src/lib/c.txt=C2'));
    await fs.readAheadIdle();
    const afterRescan = client.count('readdir');
    assert.equal(afterRescan, 3, 'each folder listed once');
    clock.advance(600_000);
    client.resetCounts();
    await walk(fs, ROOT_INO, false);
    assert.equal(remoteCalls(client), 0, 'warm again after the rescan');
  });

  it('without a watch, cache_timeout rules: a walk past the lifetime asks the remote again', async () => {
    const { client, fs, clock } = makeFs();
    tree(client);
    await walk(fs);
    await fs.readAheadIdle();
    clock.advance(10_000);
    client.resetCounts();
    await walk(fs);
    assert.ok(remoteCalls(client) > 0);
  });

  it('what was read before the watch became live is not kept by it', async () => {
    const { client, fs, clock } = makeFs();
    tree(client);
    await walk(fs);
    await fs.readAheadIdle();
    clock.advance(1);
    fs.watched(() => true);
    clock.advance(10_000);
    client.resetCounts();
    await walk(fs);
    assert.ok(client.count('readdir') > 0, 'listings read before the watch expire as before');
  });

  it('the kernel is told long lifetimes and keeps its pages across opens while the watch is live', async () => {
    const { client, fs } = makeFs();
    client.put('/work/f', 'x');
    let live = false;
    fs.watched(() => live);
    const cold = await fs.lookup(ROOT_INO, 'f', ctx);
    assert.ok(cold.entryTimeout <= 2, `entry timeout ${cold.entryTimeout}`);
    assert.equal((await fs.open(cold.ino, O_RDONLY, ctx)).keepCache, false);
    live = true;
    const warm = await fs.lookup(ROOT_INO, 'f', ctx);
    assert.ok(warm.entryTimeout >= 60 && warm.attrTimeout >= 60, `timeouts ${warm.entryTimeout}/${warm.attrTimeout}`);
    assert.equal((await fs.open(warm.ino, O_RDONLY, ctx)).keepCache, true);
  });
});
