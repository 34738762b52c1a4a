import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '../../src/remote/log.ts';
import { ContentCache } from '../../src/workspacefs/content-cache.ts';
import { CacheWatch } from '../../src/workspacefs/cache-watch.ts';
import { ctx, makeFs } from './fixture.ts';

/** A logger that keeps warnings and infos. */
function recordingLog(): Logger & { warns: string[]; infos: string[] } {
  const warns: string[] = [];
  const infos: string[] = [];
  return { warns, infos, error() {}, debug() {}, warn: m => { warns.push(m); }, info: m => { infos.push(m); } };
}

/** A VFS whose client says whether its link is up (`link.up`), with a recording log. */
function outageFs(options: Parameters<typeof makeFs>[0] = {}) {
  const log = recordingLog();
  const made = makeFs({ log, ...options });
  const link = { up: true };
  Object.assign(made.client, { linkUp: () => link.up });
  return { ...made, log, link };
}

/** Runs `fn` while the link is down and the caches are a minute past their lifetime, counting remote calls. */
async function duringOutage<T>(s: ReturnType<typeof outageFs>, fn: () => Promise<T>): Promise<{ result: T; calls: number }> {
  s.clock.advance(60_000);
  s.link.up = false;
  s.client.resetCounts();
  const result = await fn();
  return { result, calls: s.client.log.length };
}

describe('answers during an outage', () => {
  it('getattr answers cached attributes older than their lifetime, for 1 s, and logs it once', async () => {
    const s = outageFs();
    s.client.put('/work/f', 'abc');
    const { ino } = await s.fs.lookup(1, 'f', ctx);
    const { result, calls } = await duringOutage(s, async () => {
      await s.fs.getattr(ino, undefined, ctx);
      return s.fs.getattr(ino, undefined, ctx);
    });
    assert.equal(calls, 0);
    assert.equal(result.attr.size, 3);
    assert.equal(result.timeout, 1);
    assert.equal(s.log.warns.filter(m => m.includes('link to the remote is down')).length, 1);
  });

  it('lookup answers from a listing older than its lifetime, names it lacks as missing', async () => {
    const s = outageFs();
    s.client.put('/work/a', '1');
    s.client.put('/work/b', '22');
    await s.fs.lookup(1, 'a', ctx);
    const { result, calls } = await duringOutage(s, async () => ({
      b: await s.fs.lookup(1, 'b', ctx),
      none: await s.fs.lookup(1, 'none', ctx),
    }));
    assert.equal(calls, 0);
    assert.equal(result.b.attr.size, 2);
    assert.equal(result.b.entryTimeout, 1);
    assert.equal(result.none.ino, 0);
    assert.ok(result.none.entryTimeout <= 1);
  });

  it('readdirplus of a folder answers its cached listing', async () => {
    const s = outageFs();
    s.client.put('/work/a', '1');
    const first = await s.fs.opendir(1, 0, ctx);
    await s.fs.releasedir(1, first.fh, ctx);
    const { result, calls } = await duringOutage(s, async () => {
      const { fh } = await s.fs.opendir(1, 0, ctx);
      return s.fs.readdirplus(1, fh, 0, 4096, ctx);
    });
    assert.equal(calls, 0);
    assert.deepEqual(result.map(e => e.name), ['.', '..', 'a']);
  });

  it('readlink answers the cached target', async () => {
    const s = outageFs();
    await s.client.symlink('target', '/work/l');
    const { ino } = await s.fs.lookup(1, 'l', ctx);
    assert.equal(await s.fs.readlink(ino, ctx), 'target');
    const { result, calls } = await duringOutage(s, () => s.fs.readlink(ino, ctx));
    assert.equal(calls, 0);
    assert.equal(result, 'target');
  });

  it('what no cache holds still goes to the remote and fails with EIO after the timeout', async () => {
    const s = outageFs({ opTimeoutMs: 50, prefetchConcurrency: 0 });
    s.client.put('/work/sub/x', '1');
    const sub = await s.fs.lookup(1, 'sub', ctx);
    s.client.hook = () => new Promise<void>(() => undefined);
    await duringOutage(s, async () => {
      await assert.rejects(s.fs.lookup(sub.ino, 'x', ctx), { code: 'EIO' });
    });
  });

  it('once the link is back, caches answer within their lifetime again, and the log says so', async () => {
    const s = outageFs();
    s.client.put('/work/f', 'abc');
    const { ino } = await s.fs.lookup(1, 'f', ctx);
    await duringOutage(s, () => s.fs.getattr(ino, undefined, ctx));
    s.link.up = true;
    s.client.put('/work/f', 'abcdef');
    assert.equal((await s.fs.getattr(ino, undefined, ctx)).attr.size, 6);
    assert.equal(s.log.infos.filter(m => m.includes('link to the remote is back')).length, 1);
  });
});

describe('ContentCache', () => {
  it('keeps an expired entry for answers past its lifetime, and only those', () => {
    let now = 0;
    const cache = new ContentCache(1 << 20, new CacheWatch(() => now), 100);
    const stat = { mode: 0o100644, size: 3, uid: 0, gid: 0, atime: { sec: 1, nsec: 0 }, mtime: { sec: 1, nsec: 0 } };
    cache.set(7, { data: Buffer.from('abc'), size: 3, mtimeSec: 1, mtimeNsec: 0, expires: 100 });
    now = 200;
    assert.equal(cache.has(7), false);
    assert.equal(cache.get(7, stat), undefined);
    assert.equal(cache.get(7, stat, true)?.toString(), 'abc');
    assert.equal(cache.get(7, { ...stat, size: 4 }, true), undefined);
  });
});
