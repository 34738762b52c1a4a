import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import { ctx, makeFs } from './fixture.ts';

describe('WorkspaceFilesystem listing-driven lookups and read-ahead of listings', () => {
  it('500 lookups in 50 folders cost at most 50 readdirs and no lstat', async () => {
    const { client, fs } = makeFs({ prefetchConcurrency: 0 });
    for (let d = 0; d < 50; d++) for (let f = 0; f < 10; f++) client.put(`/work/d${d}/f${f}`, 'x'.repeat(f));
    await fs.getattr(ROOT_INO, undefined, ctx);
    const dirs = await Promise.all(Array.from({ length: 50 }, (_, d) => fs.lookup(ROOT_INO, `d${d}`, ctx)));
    client.resetCounts();
    const entries = await Promise.all(dirs.flatMap(dir => Array.from({ length: 10 }, (_, f) => fs.lookup(dir.ino, `f${f}`, ctx))));
    assert.equal(entries.length, 500);
    assert.ok(entries.every(e => e.ino !== 0));
    assert.equal(entries[7]!.attr.size, 7);
    assert.ok(client.count('readdir') <= 50, `readdir ${client.count('readdir')}`);
    assert.equal(client.count('lstat'), 0);
    // A name missing from a listing made earlier is checked by name once, then cached as missing.
    assert.equal((await fs.lookup(dirs[0]!.ino, 'nope', ctx)).ino, 0);
    assert.equal((await fs.lookup(dirs[0]!.ino, 'nope', ctx)).ino, 0);
    assert.equal(client.count('lstat'), 1);
  });

  it('a file made behind a cached listing is found by name at once', async () => {
    const { client, fs } = makeFs({ prefetchConcurrency: 0, cacheTimeoutMs: 60_000 });
    client.put('/work/d/a', 'x');
    const dir = await fs.lookup(ROOT_INO, 'd', ctx);
    assert.notEqual((await fs.lookup(dir.ino, 'a', ctx)).ino, 0);
    client.put('/work/d/made-remotely', 'new');
    const entry = await fs.lookup(dir.ino, 'made-remotely', ctx);
    assert.notEqual(entry.ino, 0);
    assert.equal(entry.attr.size, 3);
  });

  it('concurrent lookups in one folder share one listing', async () => {
    const { client, fs } = makeFs({ prefetchConcurrency: 0 }, { latencyMs: 5 });
    for (let f = 0; f < 20; f++) client.put(`/work/f${f}`, 'x');
    await fs.getattr(ROOT_INO, undefined, ctx);
    client.resetCounts();
    await Promise.all(Array.from({ length: 20 }, (_, f) => fs.lookup(ROOT_INO, `f${f}`, ctx)));
    assert.equal(client.count('readdir'), 1);
    assert.equal(client.count('lstat'), 0);
  });

  it('a lookup and an opendir of the same folder share one listing', async () => {
    const { client, fs } = makeFs({ prefetchConcurrency: 0 }, { latencyMs: 5 });
    client.put('/work/d/a', 'x');
    const d = await fs.lookup(ROOT_INO, 'd', ctx);
    client.resetCounts();
    const [a, open] = await Promise.all([fs.lookup(d.ino, 'a', ctx), fs.opendir(d.ino, 0, ctx)]);
    assert.notEqual(a.ino, 0);
    await fs.releasedir(d.ino, open.fh, ctx);
    assert.equal(client.count('readdir'), 1);
  });

  it('revalidation after expiry is one readdir per folder, not one lstat per file', async () => {
    const { client, fs, clock } = makeFs({ cacheTimeoutMs: 1000, prefetchConcurrency: 0 });
    for (let d = 0; d < 5; d++) for (let f = 0; f < 20; f++) client.put(`/work/d${d}/f${f}`, 'x');
    const inos: number[] = [];
    for (let d = 0; d < 5; d++) {
      const dir = await fs.lookup(ROOT_INO, `d${d}`, ctx);
      for (let f = 0; f < 20; f++) inos.push((await fs.lookup(dir.ino, `f${f}`, ctx)).ino);
    }
    clock.advance(1001);
    client.resetCounts();
    for (const ino of inos) await fs.getattr(ino, undefined, ctx);
    assert.equal(client.count('readdir'), 5);
    assert.equal(client.count('lstat'), 0);
  });

  it('a file deleted on the server stops stat-ing once the listing expires', async () => {
    const { client, fs, clock } = makeFs({ cacheTimeoutMs: 1000 });
    client.put('/work/d/gone', 'x');
    client.put('/work/d/stays', 'x');
    const d = await fs.lookup(ROOT_INO, 'd', ctx);
    const gone = await fs.lookup(d.ino, 'gone', ctx);
    client.removeBehind('/work/d/gone');
    await fs.getattr(gone.ino, undefined, ctx); // still cached
    clock.advance(1001);
    await assert.rejects(fs.getattr(gone.ino, undefined, ctx), { code: 'ENOENT' });
    assert.equal((await fs.lookup(d.ino, 'gone', ctx)).ino, 0);
    assert.notEqual((await fs.lookup(d.ino, 'stays', ctx)).ino, 0);
  });

  it('a folder being written to is looked up name by name, not re-listed after each change', async () => {
    const { client, fs } = makeFs({ prefetchConcurrency: 0 });
    client.putDir('/work/out');
    const out = await fs.lookup(ROOT_INO, 'out', ctx);
    client.resetCounts();
    for (let i = 0; i < 20; i++) {
      assert.equal((await fs.lookup(out.ino, `n${i}`, ctx)).ino, 0);
      await fs.mkdir(out.ino, `n${i}`, 0o755, ctx);
    }
    assert.ok(client.count('readdir') <= 1, `readdir ${client.count('readdir')}`);
  });

  it('a folder that cannot be listed (search permission only) is looked up by lstat', async () => {
    const { client, fs } = makeFs({ prefetchConcurrency: 0 });
    client.put('/work/x/f', 'x');
    const x = await fs.lookup(ROOT_INO, 'x', ctx);
    client.hook = method => {
      if (method === 'readdir') throw Object.assign(new (class extends Error {})('denied'), {});
    };
    // A non-FsError becomes EIO: that is not a reason to fall back.
    await assert.rejects(fs.lookup(x.ino, 'f', ctx), { code: 'EIO' });
    const { FsError } = await import('../../src/remote/fs-error.ts');
    client.hook = method => {
      if (method === 'readdir') throw new FsError('EACCES', 'readdir');
    };
    assert.notEqual((await fs.lookup(x.ino, 'f', ctx)).ino, 0);
    assert.equal(client.count('lstat') >= 1, true);
  });

  it('opening a folder lists its subfolders ahead; entering one lists its subtree ahead', async () => {
    const { client, fs } = makeFs({ prefetchDepth: 2 }, { latencyMs: 2 });
    for (const a of ['a', 'b', 'c']) for (const b of ['x', 'y']) for (const c of ['p', 'q']) client.put(`/work/${a}/${b}/${c}/f`, 'x');
    await fs.getattr(ROOT_INO, undefined, ctx);
    client.resetCounts();
    const root = await fs.opendir(ROOT_INO, 0, ctx);
    await fs.releasedir(ROOT_INO, root.fh, ctx);
    await fs.readAheadIdle();
    // Root on demand, then two levels ahead: a, b, c and their six subfolders.
    assert.equal(client.count('readdir'), 10);
    assert.equal(fs.stats().cache.prefetch.misses, 9);
    client.resetCounts();
    // The walk enters a (read ahead): a's listing is used, and two levels below it follow.
    const a = await fs.lookup(ROOT_INO, 'a', ctx);
    const openA = await fs.opendir(a.ino, 0, ctx);
    await fs.releasedir(a.ino, openA.fh, ctx);
    await fs.readAheadIdle();
    assert.equal(fs.stats().cache.prefetch.hits, 1);
    // a/x and a/y are listed already; a/x/p, a/x/q, a/y/p, a/y/q follow.
    assert.equal(client.count('readdir'), 4);
    client.resetCounts();
    // Now the walk finds a/x and a/x/p listed: no round trip.
    const x = await fs.lookup(a.ino, 'x', ctx);
    const p = await fs.lookup(x.ino, 'p', ctx);
    const f = await fs.lookup(p.ino, 'f', ctx);
    assert.notEqual(f.ino, 0);
    const openP = await fs.opendir(p.ino, 0, ctx);
    await fs.releasedir(p.ino, openP.fh, ctx);
    assert.equal(client.count('readdir'), 0);
    assert.equal(client.count('lstat'), 0);
    await fs.readAheadIdle();
  });

  it('read-ahead keeps at most prefetchConcurrency listings in flight', async () => {
    const { client, fs } = makeFs({ prefetchConcurrency: 4 }, { latencyMs: 5 });
    for (let d = 0; d < 40; d++) client.putDir(`/work/d${d}`);
    await fs.getattr(ROOT_INO, undefined, ctx);
    let inFlight = 0;
    let most = 0;
    client.hook = async method => {
      if (method !== 'readdir') return;
      inFlight++;
      most = Math.max(most, inFlight);
      await sleep(5);
      inFlight--;
    };
    const root = await fs.opendir(ROOT_INO, 0, ctx);
    await fs.releasedir(ROOT_INO, root.fh, ctx);
    await fs.readAheadIdle();
    assert.equal(client.count('readdir'), 41);
    assert.ok(most <= 5, `at most 4 read-aheads and the demand listing, saw ${most}`);
  });

  it('read-ahead stops where nothing uses it', async () => {
    const { client, fs } = makeFs({ prefetchDepth: 2 });
    // A deep chain: only two levels below the opened folder are read ahead.
    client.put('/work/a/b/c/d/e/f', 'x');
    client.resetCounts();
    const root = await fs.opendir(ROOT_INO, 0, ctx);
    await fs.releasedir(ROOT_INO, root.fh, ctx);
    await fs.readAheadIdle();
    assert.equal(client.count('readdir'), 3, 'root, a and a/b');
  });

  it('after a folder is renamed through the mount, new folders at its old path show their own contents', async () => {
    const { client, fs } = makeFs();
    client.put('/work/a/sub/old', 'x');
    const root = await fs.opendir(ROOT_INO, 0, ctx);
    await fs.releasedir(ROOT_INO, root.fh, ctx);
    const a = await fs.lookup(ROOT_INO, 'a', ctx);
    const sub = await fs.lookup(a.ino, 'sub', ctx);
    await fs.readAheadIdle();
    await fs.rename(ROOT_INO, 'a', ROOT_INO, 'b', 0, ctx);
    await fs.mkdir(ROOT_INO, 'a', 0o755, ctx);
    const a2 = await fs.lookup(ROOT_INO, 'a', ctx);
    await fs.mkdir(a2.ino, 'sub', 0o755, ctx);
    const sub2 = await fs.lookup(a2.ino, 'sub', ctx);
    assert.notEqual(sub2.ino, sub.ino);
    assert.equal((await fs.lookup(sub2.ino, 'old', ctx)).ino, 0);
    const b = await fs.lookup(ROOT_INO, 'b', ctx);
    const bsub = await fs.lookup(b.ino, 'sub', ctx);
    assert.notEqual((await fs.lookup(bsub.ino, 'old', ctx)).ino, 0);
  });
});

describe('WorkspaceFilesystem read-ahead of small files while a folder is read file by file', () => {
  async function readAll(fs: ReturnType<typeof makeFs>['fs'], dir: number, name: string): Promise<string> {
    const e = await fs.lookup(dir, name, ctx);
    const { fh } = await fs.open(e.ino, 0, ctx);
    const data = Buffer.from(await fs.read(e.ino, fh, 0, 1 << 20, ctx));
    await fs.release(e.ino, fh, ctx);
    return data.toString();
  }

  it('after two files of a folder are read, the others are opened and read with no round trip', async () => {
    const { client, fs } = makeFs({ prefetchConcurrency: 4 });
    for (let i = 0; i < 30; i++) client.put(`/work/src/f${String(i).padStart(2, '0')}`, `content ${i}`);
    client.put('/work/src/big', Buffer.alloc(200_000, 1));
    const src = await fs.lookup(ROOT_INO, 'src', ctx);
    assert.equal(await readAll(fs, src.ino, 'f00'), 'content 0');
    assert.equal(await readAll(fs, src.ino, 'f01'), 'content 1');
    await fs.readAheadIdle();
    client.resetCounts();
    for (let i = 2; i < 30; i++) assert.equal(await readAll(fs, src.ino, `f${String(i).padStart(2, '0')}`), `content ${i}`);
    assert.equal(client.count('open'), 0);
    assert.equal(client.count('handle.read'), 0);
    assert.equal(client.count('lstat'), 0);
    assert.ok(fs.stats().cache.content.hits >= 28);
    // Large files are not read ahead: opened and read as usual.
    assert.equal((await readAll(fs, src.ino, 'big')).length, 200_000);
    assert.equal(client.count('open'), 1);
  });

  it('read-ahead content is not used once the file changed on the server and its attributes expired', async () => {
    const { client, fs, clock } = makeFs({ cacheTimeoutMs: 1000 });
    for (let i = 0; i < 5; i++) client.put(`/work/d/f${i}`, `old ${i}`);
    const d = await fs.lookup(ROOT_INO, 'd', ctx);
    await readAll(fs, d.ino, 'f0');
    await readAll(fs, d.ino, 'f1');
    await fs.readAheadIdle();
    client.put('/work/d/f3', 'new content 3');
    clock.advance(1001);
    assert.equal(await readAll(fs, d.ino, 'f3'), 'new content 3');
  });

  it('a read-only open of a file open for writing is not answered from read-ahead content', async () => {
    const { client, fs } = makeFs();
    for (let i = 0; i < 5; i++) client.put(`/work/d/f${i}`, `old ${i}`);
    const d = await fs.lookup(ROOT_INO, 'd', ctx);
    await readAll(fs, d.ino, 'f0');
    await readAll(fs, d.ino, 'f1');
    await fs.readAheadIdle();
    const f2 = await fs.lookup(d.ino, 'f2', ctx);
    const w = await fs.open(f2.ino, 1 /* O_WRONLY */, ctx);
    await fs.write(f2.ino, w.fh, Buffer.from('NEW'), 0, ctx);
    await fs.flush(f2.ino, w.fh, ctx);
    assert.equal(await readAll(fs, d.ino, 'f2'), 'NEW 2');
    await fs.release(f2.ino, w.fh, ctx);
  });
});

describe('WorkspaceFilesystem create in one round trip', () => {
  it('create answers from an lstat sent behind the OPEN, not a later fstat of the handle', async () => {
    const { client, fs } = makeFs({}, { latencyMs: 5 });
    await fs.getattr(ROOT_INO, undefined, ctx);
    client.resetCounts();
    // The lstat must be on its way while the OPEN still waits for its answer: one round trip, not two.
    const open0 = client.open.bind(client);
    const lstat0 = client.lstat.bind(client);
    let openAnswered = false;
    let lstatBeforeOpenAnswered = false;
    client.open = async (...args) => { const h = await open0(...args); openAnswered = true; return h; };
    client.lstat = async path => { if (path === '/work/new') lstatBeforeOpenAnswered = !openAnswered; return lstat0(path); };
    const { entry, open } = await fs.create(ROOT_INO, 'new', 0o100644, 0o100 | 1, ctx);
    assert.equal(entry.attr.size, 0);
    assert.equal(entry.attr.mode & 0o777, 0o644 & ~ctx.umask);
    assert.equal(client.count('open'), 1);
    assert.equal(client.count('lstat'), 1);
    assert.equal(client.count('handle.stat'), 0);
    assert.equal(lstatBeforeOpenAnswered, true);
    await fs.release(entry.ino, open.fh, ctx);
  });

  it('create with O_TRUNC of a file with content reports size 0', async () => {
    const { client, fs } = makeFs();
    client.put('/work/full', 'some bytes');
    await fs.lookup(ROOT_INO, 'full', ctx);
    const { entry, open } = await fs.create(ROOT_INO, 'full', 0o100644, 0o100 | 0o1000 | 1, ctx);
    assert.equal(entry.attr.size, 0);
    await fs.release(entry.ino, open.fh, ctx);
  });
});
