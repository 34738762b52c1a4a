import assert from 'node:assert/strict';
import { link, mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { WatchEvent } from '../../src/remote/file-client.ts';
import { tempDir } from '../helpers/tmp.ts';
import { goSkipReason, startAgentClient } from './agent-binary.ts';

describe('rmount-agent extensions through SftpFileClient', { skip: goSkipReason() }, () => {
  it('advertises inodes, nanoseconds and watch', async t => {
    const client = await startAgentClient(t);
    assert.equal(client.capabilities.inodes, true);
    assert.equal(client.capabilities.nanoseconds, true);
    assert.equal(client.capabilities.watch, process.platform === 'linux');
  });

  it('stat and readdir report inode, nlink, ctime and nanosecond times as the kernel does', async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    await writeFile(join(dir, 'f'), 'x');
    await link(join(dir, 'f'), join(dir, 'g'));
    await utimes(join(dir, 'f'), new Date(1_000_000_000_123), new Date(1_100_000_000_456));
    const local = await stat(join(dir, 'f'), { bigint: true });
    for (const st of [await client.stat(join(dir, 'f')), (await client.readdir(dir)).find(e => e.name === 'f')!.stat]) {
      assert.equal(BigInt(st.ino!), local.ino);
      assert.equal(st.nlink, 2);
      assert.deepEqual(st.mtime, { sec: 1_100_000_000, nsec: 456_000_000 });
      assert.equal(BigInt(st.ctime!.sec) * 1_000_000_000n + BigInt(st.ctime!.nsec), local.ctimeNs);
    }
  });

  it('setattr keeps nanoseconds and leaves an omitted time exactly as it was', async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    const f = join(dir, 'f');
    await writeFile(f, '');
    await client.setattr(f, { atime: { sec: 1_000_000_000, nsec: 111_222_333 }, mtime: { sec: 1_000_000_001, nsec: 444_555_666 } });
    await client.setattr(f, { mtime: { sec: 1_200_000_000, nsec: 7 } });
    const st = await stat(f, { bigint: true });
    assert.equal(st.atimeNs, 1_000_000_000_111_222_333n);
    assert.equal(st.mtimeNs, 1_200_000_000_000_000_007n);
    const h = await client.open(f, { read: true, write: true });
    await h.setattr({ atime: { sec: 5, nsec: 6 } });
    await h.close();
    assert.equal((await stat(f, { bigint: true })).atimeNs, 5_000_000_006n);
  });

  it('tree returns a subtree in one request; readFiles many small files', async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    await mkdir(join(dir, 'a/b'), { recursive: true });
    for (let i = 0; i < 50; i++) await writeFile(join(dir, 'a/b', `f${i}`), `content ${i}`);
    const { truncated, entries } = await client.tree(dir);
    assert.equal(truncated, false);
    assert.equal(entries.length, 52);
    assert.ok(entries.some(e => e.name === 'a/b/f49' && e.stat.size === 'content 49'.length));
    const files = await client.readFiles([join(dir, 'a/b/f1'), join(dir, 'nope')], 1024);
    assert.equal(files[0]!.data!.toString(), 'content 1');
    assert.equal(files[1]!.error, 'ENOENT');
  });

  it('watch pushes a change made outside the client without polling', { skip: process.platform !== 'linux' ? 'inotify only' : false }, async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    await mkdir(join(dir, 'sub'));
    const events: WatchEvent[] = [];
    let wake: () => void = () => undefined;
    const sub = await client.watch(dir, batch => { events.push(...batch); wake(); });
    const started = Date.now();
    await writeFile(join(dir, 'sub', 'new.txt'), 'x');
    while (!events.some(e => e.path === join(dir, 'sub', 'new.txt'))) {
      await new Promise<void>((resolve, reject) => {
        wake = resolve;
        setTimeout(() => reject(new Error(`no event within 3 s: ${JSON.stringify(events)}`)), 3000).unref();
      });
    }
    assert.ok(Date.now() - started < 1000, 'event arrived within a second');
    assert.ok(events.find(e => e.path === join(dir, 'sub', 'new.txt'))!.kinds.includes('create'));
    await sub.close();
    events.length = 0;
    await writeFile(join(dir, 'after-close'), '');
    await new Promise(resolve => setTimeout(resolve, 200));
    assert.deepEqual(events, []);
  });
});
