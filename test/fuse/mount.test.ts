import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { forceUnmount, isMounted, mountFuse, type FuseMount } from '../../src/fuse/mount.ts';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import { FsError } from '../../src/remote/fs-error.ts';
import { requirePart } from '../helpers/skip.ts';
import { execFileP, fuseSkipReason, mountDir, mountFor, recordingBinding } from './helpers.ts';
import { MemoryFs } from './memfs.ts';

// Everything below touches the mount with async fs calls or from child processes: a sync call
// would block the very thread that answers the kernel's requests.
const skip = requirePart(fuseSkipReason());

function helloFs(timeout = 1): MemoryFs {
  const fs = new MemoryFs(timeout);
  fs.add(ROOT_INO, 'hello.txt', 'hello world\n');
  return fs;
}

describe('FUSE mount through /dev/fuse', { skip }, () => {
  it('readdir lists the files', async t => {
    const { mnt } = await mountFor(t, helloFs());
    assert.deepEqual(await readdir(mnt), ['hello.txt']);
  });

  it('lookups in one folder reach the filesystem concurrently (FUSE_PARALLEL_DIROPS)', async t => {
    // Each lookup waits until a second one is in flight (or a second passes): serialized by the
    // kernel, at most one ever is.
    let inFlight = 0;
    let most = 0;
    const waiting: (() => void)[] = [];
    class SlowLookups extends MemoryFs {
      override async lookup(parent: number, name: string): ReturnType<MemoryFs['lookup']> {
        inFlight++;
        most = Math.max(most, inFlight);
        if (inFlight >= 2) for (const go of waiting.splice(0)) go();
        await new Promise<void>(resolve => {
          waiting.push(resolve);
          if (inFlight >= 2) for (const go of waiting.splice(0)) go();
          setTimeout(resolve, 1000);
        });
        inFlight--;
        return super.lookup(parent, name);
      }
    }
    const fs = new SlowLookups(0);
    for (const name of ['a', 'b', 'c', 'd']) fs.add(ROOT_INO, name, name);
    const { mnt } = await mountFor(t, fs);
    await Promise.all(['a', 'b', 'c', 'd'].map(name => stat(join(mnt, name))));
    assert.ok(most >= 2, `lookups in flight at once: ${most}`);
  });

  it('stat reports size and type', async t => {
    const { mnt } = await mountFor(t, helloFs());
    const st = await stat(join(mnt, 'hello.txt'));
    assert.equal(st.size, 12);
    assert.ok(st.isFile());
    assert.ok((await stat(mnt)).isDirectory());
  });

  it('read of a file returns its content', async t => {
    const { mnt } = await mountFor(t, helloFs());
    assert.equal(await readFile(join(mnt, 'hello.txt'), 'utf8'), 'hello world\n');
  });

  it('write then read back returns the new content', async t => {
    const fs = helloFs();
    const { mnt } = await mountFor(t, fs);
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'x');
    await writeFile(join(mnt, 'new.bin'), big);
    assert.ok((await readFile(join(mnt, 'new.bin'))).equals(big));
    await writeFile(join(mnt, 'hello.txt'), 'bye\n');
    assert.equal(await readFile(join(mnt, 'hello.txt'), 'utf8'), 'bye\n');
  });

  it('mkdir, rename and unlink from a child process change the filesystem', async t => {
    const fs = helloFs();
    const { mnt } = await mountFor(t, fs);
    await execFileP('sh', ['-ec', 'cd "$1"; mkdir d; mv hello.txt d/h.txt; echo x > d/y; rm d/y; ls d', 'sh', mnt]);
    assert.deepEqual(await readdir(mnt), ['d']);
    assert.deepEqual(await readdir(join(mnt, 'd')), ['h.txt']);
    const root = fs.nodes.get(ROOT_INO)!.children!;
    assert.deepEqual([...root.keys()], ['d']);
    await assert.rejects(stat(join(mnt, 'hello.txt')), { code: 'ENOENT' });
  });

  it('statfs returns the filesystem numbers', async t => {
    const { mnt } = await mountFor(t, helloFs());
    const st = await statfs(mnt);
    assert.equal(st.blocks, 1000);
    assert.equal(st.bavail, 500);
  });

  it('negotiates readdirplus, parallel dirops and a 1 MiB max_write', async t => {
    const { mount } = await mountFor(t, helloFs());
    const info = mount.info();
    assert.ok(info !== undefined);
    assert.equal(info.maxWrite, 1024 * 1024);
    for (const cap of ['readdirplus', 'parallel_dirops', 'async_read', 'atomic_o_trunc']) assert.ok(info.capabilities.includes(cap), cap);
    assert.ok(!info.capabilities.includes('writeback_cache'));
    assert.ok(!info.capabilities.includes('readdirplus_auto'));
  });

  it('50 parallel reads get exactly one reply per request', async t => {
    const fs = helloFs();
    fs.directIo = true; // every read reaches the filesystem
    const rec = recordingBinding();
    const { mnt, base } = await mountFor(t, fs, rec.binding);
    const out = join(base, 'out');
    await mkdir(out);
    await execFileP('sh', ['-ec', 'for i in $(seq 50); do cat "$1/hello.txt" > "$2/$i" & done; wait', 'sh', mnt, out]);
    const outputs = await readdir(out);
    assert.equal(outputs.length, 50);
    for (const name of outputs) assert.equal(await readFile(join(out, name), 'utf8'), 'hello world\n');
    assert.ok(fs.calls.filter(c => c.startsWith('read ')).length >= 50);
    // RELEASE comes after cat has exited; wait until the table is empty.
    for (let i = 0; i < 200 && rec.real.pending(rec.handle()) > 0; i++) await new Promise(r => setTimeout(r, 10));
    assert.equal(rec.real.pending(rec.handle()), 0);
    for (const [id, op] of rec.requests) assert.equal(rec.replies.get(id), 1, `${op} request ${id}`);
    assert.equal([...rec.replies.keys()].filter(id => !rec.requests.has(id)).length, 0);
  });

  it('a second reply to a request throws and a wrong kind of reply is refused', async t => {
    const fs = helloFs();
    let release!: () => void;
    const gate = new Promise<void>(r => { release = r; });
    const original = fs.statfs.bind(fs);
    fs.statfs = async () => { await gate; return original(); };
    const rec = recordingBinding();
    const { mnt } = await mountFor(t, fs, rec.binding);
    const pendingStatfs = statfs(mnt);
    while (![...rec.requests.values()].includes('statfs')) await new Promise(r => setTimeout(r, 5));
    const id = [...rec.requests].find(([, op]) => op === 'statfs')![0];
    const h = rec.handle();
    assert.throws(() => rec.real.replyBuf(h, id, new Uint8Array(1)), { code: 'ERR_FUSE_REPLY_TYPE' });
    release();
    assert.equal((await pendingStatfs).blocks, 1000);
    assert.throws(() => rec.real.replyErr(h, id, 5), { code: 'ERR_FUSE_REPLY' });
    assert.throws(() => rec.real.replyOk(h, 123456789), { code: 'ERR_FUSE_REPLY' });
    assert.equal(rec.replies.get(id), 1);
  });

  it('invalInode makes the next stat see a size changed behind the kernel', async t => {
    const fs = helloFs(3600);
    const { mount, mnt } = await mountFor(t, fs);
    const file = join(mnt, 'hello.txt');
    assert.equal((await stat(file)).size, 12);
    fs.nodes.get(2)!.data = Buffer.from('changed behind the kernel\n');
    assert.equal((await stat(file)).size, 12, 'the kernel still caches the old attributes');
    await mount.notifier.invalInode(2);
    assert.equal((await stat(file)).size, 26);
    assert.equal(await readFile(file, 'utf8'), 'changed behind the kernel\n');
  });

  it('invalEntry makes the next stat miss a name removed behind the kernel', async t => {
    const fs = helloFs(3600);
    const { mount, mnt } = await mountFor(t, fs);
    const file = join(mnt, 'hello.txt');
    await stat(file);
    fs.nodes.get(ROOT_INO)!.children!.delete('hello.txt');
    await stat(file); // still cached
    await mount.notifier.invalEntry(ROOT_INO, 'hello.txt');
    await assert.rejects(stat(file), { code: 'ENOENT' });
  });

  it('notifications for unknown inodes and names resolve quietly', async t => {
    const { mount } = await mountFor(t, helloFs());
    await mount.notifier.invalInode(9999);
    await mount.notifier.invalEntry(ROOT_INO, 'never-looked-up');
  });

  it('unmount removes the mount point and is idempotent', async t => {
    const { mount, mnt } = await mountFor(t, helloFs());
    assert.equal(await isMounted(mnt), true);
    await Promise.all([mount.unmount(), mount.unmount()]);
    await mount.closed;
    assert.equal(await isMounted(mnt), false);
    await mount.unmount();
    assert.deepEqual(await readdir(mnt), []);
  });

  it('an outside fusermount3 -u resolves closed', async t => {
    const { mount, mnt } = await mountFor(t, helloFs());
    await execFileP('fusermount3', ['-u', mnt]);
    await mount.closed;
    assert.equal(await isMounted(mnt), false);
    await mount.unmount();
  });

  it('mount refuses a non-empty folder unless nonempty', async t => {
    const { base, mnt } = await mountDir();
    let mount: FuseMount | undefined;
    t.after(async () => {
      await mount?.unmount();
      await rm(base, { recursive: true, force: true });
    });
    await writeFile(join(mnt, 'mine.txt'), 'x');
    await assert.rejects(mountFuse(mnt, helloFs(), { fsname: 'rmount:test' }), (e: unknown) => e instanceof FsError && e.code === 'ENOTEMPTY');
    mount = await mountFuse(mnt, helloFs(), { fsname: 'rmount:test', nonempty: true });
    assert.deepEqual(await readdir(mnt), ['hello.txt']);
  });

  it('forceUnmount detaches a stale mount whose process was killed', async t => {
    const { base, mnt } = await mountDir();
    t.after(async () => {
      if (await isMounted(mnt)) await execFileP('fusermount3', ['-uz', mnt]).catch(() => {});
      await rm(base, { recursive: true, force: true });
    });
    const script = `
      import { mountFuse } from ${JSON.stringify(new URL('../../src/fuse/mount.ts', import.meta.url).href)};
      import { MemoryFs } from ${JSON.stringify(new URL('./memfs.ts', import.meta.url).href)};
      await mountFuse(${JSON.stringify(mnt)}, new MemoryFs(), { fsname: 'rmount:stale' });
      console.log('ready');`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
      child.on('exit', code => reject(new Error(`child exited ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise(r => child.on('exit', r));
    assert.equal(await isMounted(mnt), true);
    await assert.rejects(stat(mnt), { code: 'ENOTCONN' });
    await forceUnmount(mnt);
    assert.equal(await isMounted(mnt), false);
    await assert.rejects(forceUnmount(mnt), { code: 'ERR_NOT_MOUNTED' });
  });
});
