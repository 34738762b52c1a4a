import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { link, lstat, mkdir, mkdtemp, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { WatchEvent } from '../../src/remote/file-client.ts';
import { tempDir } from '../helpers/tmp.ts';
import { goSkipReason, startAgentClient } from './agent-binary.ts';

const run = promisify(execFile);

/**
 * A temporary folder whose own path is padded to 200 bytes. Node's recursive rm walks full paths
 * and gives up past PATH_MAX; rm(1) goes down by descriptors, so it removes what a test left there.
 */
async function paddedDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rmount-agent-'));
  t.after(() => run('rm', ['-rf', dir]).then(() => undefined));
  const padded = join(dir, 'p'.repeat(199 - dir.length));
  await mkdir(padded);
  return padded;
}

describe('rmount-agent extensions through SftpFileClient', { skip: goSkipReason() }, () => {
  it('advertises inodes, nanoseconds and watch', async t => {
    const client = await startAgentClient(t);
    assert.equal(client.capabilities.inodes, true);
    assert.equal(client.capabilities.nanoseconds, true);
    assert.equal(client.capabilities.watch, process.platform === 'linux');
    assert.equal(client.capabilities.specialFiles, true);
  });

  it('mknod makes a FIFO, a socket file and a regular file with the exact mode', async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    await client.mknod(join(dir, 'fifo'), 0o010640, 0);
    await client.mknod(join(dir, 'sock'), 0o140600, 0);
    await client.mknod(join(dir, 'file'), 0o100604, 0);
    const [fifo, sock, file] = await Promise.all(['fifo', 'sock', 'file'].map(n => lstat(join(dir, n))));
    assert.ok(fifo!.isFIFO());
    assert.equal(fifo!.mode & 0o7777, 0o640);
    assert.ok(sock!.isSocket());
    assert.equal(sock!.mode & 0o7777, 0o600);
    assert.ok(file!.isFile());
    assert.equal(file!.mode & 0o7777, 0o604);
    assert.equal(file!.size, 0);
    assert.equal((await client.lstat(join(dir, 'fifo'))).mode, 0o010640);
  });

  it('putFile writes a whole file with its exact mode, times and owner in one request; exclusive refuses a name', async t => {
    const client = await startAgentClient(t);
    assert.equal(client.capabilities.putFile, true);
    const dir = await tempDir(t, 'rmount-agent-');
    const data = Buffer.from('put in one request\n'.repeat(1000));
    const times = { atime: { sec: 1_000_000, nsec: 1 }, mtime: { sec: 2_000_000, nsec: 123_456_789 } };
    await client.putFile(join(dir, 'f'), data, { mode: 0o2750, uid: 0, gid: 0, exclusive: true, sync: true, ...times });
    const st = await stat(join(dir, 'f'), { bigint: true });
    assert.equal(st.size, BigInt(data.length));
    assert.equal(Number(st.mode & 0o7777n), 0o2750);
    assert.equal(st.mtimeNs, 2_000_000_123_456_789n);
    await assert.rejects(client.putFile(join(dir, 'f'), data, { mode: 0o644, exclusive: true, ...times }), { name: 'FsError', code: 'EEXIST' });
    await client.putFile(join(dir, 'f'), Buffer.from('shorter'), { mode: 0o644, ...times });
    assert.equal((await stat(join(dir, 'f'))).size, 7);
    await assert.rejects(client.putFile(join(dir, 'nope', 'f'), data, { mode: 0o644, ...times }), { name: 'FsError', code: 'ENOENT' });
  });

  it('mknod of an existing name fails EEXIST, of a folder type EINVAL', async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    await client.mknod(join(dir, 'fifo'), 0o010600, 0);
    await assert.rejects(client.mknod(join(dir, 'fifo'), 0o010600, 0), { name: 'FsError', code: 'EEXIST', syscall: 'mknod' });
    await assert.rejects(client.mknod(join(dir, 'dir'), 0o040755, 0), { name: 'FsError', code: 'EINVAL', syscall: 'mknod' });
    await assert.rejects(client.mknod(join(dir, 'nope', 'fifo'), 0o010600, 0), { name: 'FsError', code: 'ENOENT', syscall: 'mknod' });
  });

  it('create, stat, rename and unlink work on a path past PATH_MAX', { skip: process.platform !== 'linux' ? 'long paths need Linux' : false }, async t => {
    const client = await startAgentClient(t);
    let deep = await paddedDir(t);
    for (let i = 0; i < 20; i++) {
      deep += `/${`${i}`.padEnd(200, 'c')}`;
      await client.mkdir(deep, 0o755);
    }
    assert.ok(Buffer.byteLength(deep) > 4200);
    const f = `${deep}/file`;
    const h = await client.open(f, { read: false, write: true, create: true, exclusive: true }, 0o640);
    await h.write(Buffer.from('hello'), 0, 5, 0);
    await h.close();
    const st = await client.stat(f);
    assert.equal(st.size, 5);
    assert.equal(st.mode, 0o100640);
    await client.mknod(`${deep}/fifo`, 0o010600, 0);
    await client.rename(f, `${deep}/moved`);
    await assert.rejects(client.lstat(f), { name: 'FsError', code: 'ENOENT' });
    assert.deepEqual((await client.readdir(deep)).map(e => e.name).sort(), ['fifo', 'moved']);
    const r = await client.open(`${deep}/moved`, { read: true, write: false });
    const buf = Buffer.alloc(10);
    assert.equal(await r.read(buf, 0, 10, 0), 5);
    await r.close();
    assert.equal(buf.subarray(0, 5).toString(), 'hello');
    await client.unlink(`${deep}/moved`);
    await client.unlink(`${deep}/fifo`);
    assert.deepEqual(await client.readdir(deep), []);
    await client.rmdir(deep);
    await assert.rejects(client.mkdir(`${deep}/${'n'.repeat(256)}`), { name: 'FsError', code: 'ENAMETOOLONG', syscall: 'mkdir' });
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
    assert.equal(files[1]!.error?.code, 'ENOENT');
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
