import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile, lstat, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalFileClient } from '../../src/backends/local/file-client.ts';
import type { BatchOp, FileClient, FileHandle, FileStat, PutFileOptions } from '../../src/remote/file-client.ts';
import { FsError, isFsError } from '../../src/remote/fs-error.ts';
import { silentLogger } from '../../src/remote/log.ts';
import { WriteBackFailedError } from '../../src/remote/write-back.ts';
import { listJournals } from '../../src/writeback/journal-dir.ts';
import { openWriteBack } from '../../src/writeback/replay.ts';
import { MemoryFileClient } from '../helpers/memory-file-client.ts';

const made: string[] = [];
after(async () => {
  for (const dir of made) await rm(dir, { recursive: true, force: true });
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** A write-back client over `inner` with a fresh journal root (or the one given). */
async function open(inner: FileClient, remotePath: string, root?: string, extra: { maxRunning?: number } = {}) {
  const journalRoot = root ?? await tempDir('rmount-journal-');
  const { client, adopted } = await openWriteBack(inner, {
    root: journalRoot, destination: `local:${remotePath}`, addr: 'local', remotePath, mountpoint: '/mnt/x',
    log: silentLogger, maxBytes: 1 << 30, owner: { uid: 0, gid: 0 }, openPutDelayMs: 60_000, ...extra,
  });
  return { client, adopted, journalRoot };
}

/** The whole content of `path` as read through `client`. */
async function readThrough(client: FileClient, path: string): Promise<string> {
  const r = await client.open(path, { read: true, write: false });
  const buf = Buffer.alloc(256);
  const n = await r.read(buf, 0, buf.length, 0);
  await r.close();
  return buf.subarray(0, n).toString();
}

async function writeFileThrough(client: FileClient, path: string, data: string, mode = 0o644): Promise<FileHandle> {
  const h = await client.open(path, { read: false, write: true, create: true, exclusive: true }, mode);
  const b = Buffer.from(data);
  await h.write(b, 0, b.length, 0);
  return h;
}

describe('write-back journal over a local folder', () => {
  it('answers creates, writes, stats and listings at once and puts them on the remote by sync', async () => {
    const remote = await tempDir('rmount-wb-remote-');
    const { client } = await open(new LocalFileClient(), remote);
    await client.mkdir(`${remote}/src`, 0o750);
    const h = await writeFileThrough(client, `${remote}/src/a.txt`, 'hello');
    await h.close();
    await client.symlink('a.txt', `${remote}/src/link`);
    await client.setattr(`${remote}/src/a.txt`, { mtime: { sec: 1_000_000, nsec: 0 }, mode: 0o600 });
    assert.equal((await client.lstat(`${remote}/src/a.txt`)).size, 5);
    assert.deepEqual((await client.readdir(`${remote}/src`)).map(e => e.name).sort(), ['a.txt', 'link']);
    const r = await client.open(`${remote}/src/link`, { read: true, write: false });
    const buf = Buffer.alloc(10);
    assert.equal(await r.read(buf, 0, 10, 0), 5);
    await r.close();
    await client.sync();
    assert.equal(await readFile(`${remote}/src/a.txt`, 'utf8'), 'hello');
    const st = await stat(`${remote}/src/a.txt`);
    assert.equal(st.mode & 0o7777, 0o600);
    assert.equal(Math.floor(st.mtimeMs / 1000), 1_000_000);
    assert.equal((await stat(`${remote}/src`)).mode & 0o7777, 0o750);
    assert.equal(await readlink(`${remote}/src/link`), 'a.txt');
    assert.equal(client.status().pendingOps, 0);
    await client.close();
  });

  it('never sends a file made and removed before it went, and sends one put per closed file', async () => {
    const mem = new MemoryFileClient();
    mem.putDir('/w');
    const { client } = await open(mem, '/w', undefined, { maxRunning: 1 });
    // A put that holds the one sending slot keeps the rest queued.
    let release!: () => void;
    const held = new Promise<void>(resolve => { release = resolve; });
    mem.hook = async (method, args) => {
      if (method === 'open' && args[0] === '/w/first') await held;
    };
    const first = await writeFileThrough(client, '/w/first', '1');
    await first.close();
    const tmp = await writeFileThrough(client, '/w/tmp', 'scratch');
    await tmp.close();
    await client.unlink('/w/tmp');
    assert.ok(isFsError(await client.lstat('/w/tmp').catch(e => e), 'ENOENT'));
    release();
    await client.sync();
    assert.equal(mem.exists('/w/tmp'), false);
    assert.equal(mem.count('unlink'), 0);
    assert.equal(mem.count('open'), 1, 'one put: the removed file never travelled');
    await client.close();
  });

  it('makes an fsynced save be on the remote when fsync returns, then renames it over the original', async () => {
    const remote = await tempDir('rmount-wb-remote-');
    await writeFile(`${remote}/doc.txt`, 'old');
    const { client } = await open(new LocalFileClient(), remote);
    const h = await writeFileThrough(client, `${remote}/.doc.txt.swp`, 'new text');
    await h.sync();
    assert.equal(await readFile(`${remote}/.doc.txt.swp`, 'utf8'), 'new text', 'on the remote when fsync returned');
    await h.close();
    await client.rename(`${remote}/.doc.txt.swp`, `${remote}/doc.txt`);
    assert.equal(await readThrough(client, `${remote}/doc.txt`), 'new text');
    await client.sync();
    assert.equal(await readFile(`${remote}/doc.txt`, 'utf8'), 'new text');
    assert.deepEqual(await readdir(remote), ['doc.txt']);
    await client.close();
  });

  it('fails the fsync and close of a file the remote refuses, lists it, and sends it on retry', async () => {
    const mem = new MemoryFileClient();
    mem.putDir('/w');
    const { client } = await open(mem, '/w');
    let refuse = true;
    mem.hook = (method, args) => {
      if (refuse && method === 'open' && args[0] === '/w/ro/f') throw new FsError('EACCES', 'open', '/w/ro/f');
    };
    mem.putDir('/w/ro');
    const h = await writeFileThrough(client, '/w/ro/f', 'data');
    await assert.rejects(h.sync(), (e: unknown) => isFsError(e, 'EACCES'));
    await assert.rejects(h.flush!(), (e: unknown) => isFsError(e, 'EACCES'));
    await h.close();
    await assert.rejects(client.sync(), (e: unknown) => e instanceof WriteBackFailedError && e.code === 'ERR_WRITEBACK_FAILED' && e.failed[0]!.code === 'EACCES');
    assert.deepEqual(client.status().failed.map(f => [f.op, f.path, f.code]), [['put', '/w/ro/f', 'EACCES']]);
    // Unrelated changes still go.
    const other = await writeFileThrough(client, '/w/g', 'ok');
    await other.sync();
    await other.close();
    assert.equal(mem.content('/w/g').toString(), 'ok');
    refuse = false;
    await client.retry();
    assert.equal(mem.content('/w/ro/f').toString(), 'data');
    assert.equal(client.status().failed.length, 0);
    await client.close();
  });

  it('keeps both versions when the remote file changed while ours was pending', async () => {
    const remote = await tempDir('rmount-wb-remote-');
    await writeFile(`${remote}/notes`, 'base');
    const { client } = await open(new LocalFileClient(), remote);
    const h = await client.open(`${remote}/notes`, { read: false, write: true, truncate: true });
    const data = Buffer.from('ours');
    await h.write(data, 0, data.length, 0);
    // Someone else writes the file on the remote before ours is sent.
    await writeFile(`${remote}/notes`, 'theirs, longer');
    await h.close();
    await client.sync();
    assert.equal(await readFile(`${remote}/notes`, 'utf8'), 'ours');
    const names = (await readdir(remote)).sort();
    assert.equal(names.length, 2);
    assert.match(names[1]!, /^notes\.remote-\d{8}T\d{6}Z$/);
    assert.equal(await readFile(join(remote, names[1]!), 'utf8'), 'theirs, longer');
    assert.equal(client.status().conflicts[0]!.path, `${remote}/notes`);
    await client.close();
  });

  it('leaves a journal when the daemon dies, and the next mount of the folder sends it', async () => {
    const remote = await tempDir('rmount-wb-remote-');
    const mem = new MemoryFileClient();
    mem.putDir(remote);
    // The remote never answers: nothing leaves the journal before the "kill".
    mem.hook = () => new Promise<void>(() => {});
    const first = await open(mem, remote);
    await first.client.mkdir(`${remote}/d`);
    const h = await writeFileThrough(first.client, `${remote}/d/f`, 'kept');
    await h.close();
    await first.client.symlink('f', `${remote}/d/l`);
    // Attributes set after the put was queued (cp -a sets the mode last) come with it.
    await first.client.setattr(`${remote}/d/f`, { mode: 0o640, mtime: { sec: 5, nsec: 0 } });
    // A killed daemon: its journal stays, its process is "gone" (we mark it so by its pid record).
    const [summary] = await listJournals(first.journalRoot);
    assert.equal(summary!.pendingOps, 3);
    await rewritePid(summary!.dir);
    const second = await open(new LocalFileClient(), remote, first.journalRoot);
    assert.equal(second.adopted, 3);
    await second.client.sync();
    assert.equal(await readFile(`${remote}/d/f`, 'utf8'), 'kept');
    const st = await stat(`${remote}/d/f`);
    assert.deepEqual([st.mode & 0o7777, Math.floor(st.mtimeMs / 1000)], [0o640, 5]);
    assert.equal((await lstat(`${remote}/d/l`)).isSymbolicLink(), true);
    await second.client.close();
    assert.deepEqual(await listJournals(first.journalRoot), []);
  });

  it('writes an existing file in place when it is opened without O_TRUNC', async () => {
    const remote = await tempDir('rmount-wb-remote-');
    await writeFile(`${remote}/log`, 'line1\n');
    const { client } = await open(new LocalFileClient(), remote);
    const h = await client.open(`${remote}/log`, { read: false, write: true, append: true });
    const b = Buffer.from('line2\n');
    await h.write(b, 0, b.length, 0);
    await h.close();
    assert.equal(await readFile(`${remote}/log`, 'utf8'), 'line1\nline2\n');
    await client.close();
  });

  it('orders a folder before its files, and a rename after the put it moves', async () => {
    const mem = new MemoryFileClient();
    mem.putDir('/w');
    const order: string[] = [];
    mem.hook = (method, args) => { if (['mkdir', 'open', 'rename'].includes(method)) order.push(`${method} ${String(args[0])}`); };
    const { client } = await open(mem, '/w');
    await client.mkdir('/w/a');
    const h = await writeFileThrough(client, '/w/a/x', 'x');
    await h.close();
    await client.rename('/w/a/x', '/w/a/y');
    await client.sync();
    assert.deepEqual(order, ['mkdir /w/a', 'open /w/a/x', 'rename /w/a/x']);
    assert.equal(mem.content('/w/a/y').toString(), 'x');
    await client.close();
  });

  it('sends a small file with its attributes and close right behind its writes where the remote keeps order', async () => {
    const mem = new MemoryFileClient({ capabilities: { inOrder: true } });
    mem.putDir('/w');
    const { client } = await open(mem, '/w');
    const h = await writeFileThrough(client, '/w/f', 'x'.repeat(3 << 20), 0o640);
    await h.setattr({ mtime: { sec: 12345, nsec: 0 } });
    await h.close();
    await client.sync();
    assert.equal(mem.content('/w/f').length, 3 << 20);
    const st = await mem.lstat('/w/f');
    assert.deepEqual([st.mode & 0o7777, st.mtime.sec], [0o640, 12345]);
    assert.equal(mem.count('handle.close'), 1);
    await client.close();
  });

  it('lists a change that lands while a listing is on its way, from the remote or from the journal', async () => {
    // The remote reads the folder before the changes land and answers after they did.
    class SlowListing extends MemoryFileClient {
      answer: Promise<void> = Promise.resolve();
      override async readdir(path: string) {
        const entries = await super.readdir(path);
        await this.answer;
        return entries;
      }
    }
    const mem = new SlowListing();
    mem.putDir('/w');
    mem.put('/w/old', 'x');
    let land!: () => void;
    const landing = new Promise<void>(resolve => { land = resolve; });
    mem.hook = async method => { if (method === 'symlink' || method === 'unlink') await landing; };
    const { client } = await open(mem, '/w');
    await client.symlink('t', '/w/sym');
    await client.unlink('/w/old');
    let answer!: () => void;
    mem.answer = new Promise<void>(resolve => { answer = resolve; });
    const listing = client.readdir('/w');
    for (let i = 0; i < 100 && !mem.calls.has('readdir'); i++) await new Promise(resolve => setTimeout(resolve, 10));
    land();
    for (let i = 0; i < 200 && client.status().pendingOps > 0; i++) await new Promise(resolve => setTimeout(resolve, 10));
    assert.equal(client.status().pendingOps, 0);
    answer();
    assert.deepEqual((await listing).map(e => e.name).sort(), ['sym']);
    await client.close();
  });

  it('sends again after the link comes back, without reporting a failure', async () => {
    const mem = new MemoryFileClient();
    mem.putDir('/w');
    let down = 2;
    mem.hook = method => { if (method === 'open' && down-- > 0) throw new FsError('ENOTCONN', 'open'); };
    const { client } = await open(mem, '/w');
    const h = await writeFileThrough(client, '/w/f', 'after the cut');
    await h.close();
    await client.sync();
    assert.equal(mem.content('/w/f').toString(), 'after the cut');
    assert.equal(client.status().failed.length, 0);
    await client.close();
  });
});

/** Marks a journal's writer as a process that no longer runs. */
async function rewritePid(dir: string): Promise<void> {
  const metaPath = join(dir, 'meta.json');
  const meta = JSON.parse(await readFile(metaPath, 'utf8')) as { pid: number; pidStart: string };
  meta.pid = 2 ** 22 + 12345;
  meta.pidStart = 'gone';
  await writeFile(metaPath, JSON.stringify(meta));
}

describe('write-back journal: changes to what the remote holds', () => {
  /** A client whose remote sends nothing until `release()`: what is answered, is answered locally. */
  async function held(mem: MemoryFileClient) {
    let release!: () => void;
    const gate = new Promise<void>(resolve => { release = resolve; });
    const reads = new Set(['lstat', 'stat', 'readdir', 'readlink', 'open', 'read', 'close', 'handle.read', 'handle.close']);
    mem.hook = async method => {
      if (!reads.has(method)) await gate;
    };
    const opened = await open(mem, '/w');
    return { ...opened, release };
  }

  it('answers chmod and touch of a remote file and folder from the attributes the caller knows', async () => {
    const mem = new MemoryFileClient();
    mem.put('/w/f', 'abc', 0o644);
    mem.putDir('/w/d');
    const { client, release } = await held(mem);
    const f = await mem.lstat('/w/f');
    const d = await mem.lstat('/w/d');
    await client.setattr('/w/f', { mode: 0o600, mtime: { sec: 1_500_000_000, nsec: 0 } }, { known: f });
    await client.setattr('/w/d', { mode: 0o700 }, { known: d });
    assert.equal((await client.lstat('/w/f')).mode & 0o7777, 0o600);
    assert.equal((await client.lstat('/w/f')).mtime.sec, 1_500_000_000);
    assert.equal((await client.lstat('/w/d')).mode & 0o7777, 0o700);
    assert.equal((await mem.lstat('/w/f')).mode & 0o7777, 0o644, 'nothing was sent yet');
    // The content still comes from the remote.
    const r = await client.open('/w/f', { read: true, write: false });
    const buf = Buffer.alloc(8);
    assert.equal(await r.read(buf, 0, 8, 0), 3);
    await r.close();
    release();
    await client.sync();
    assert.equal((await mem.lstat('/w/f')).mode & 0o7777, 0o600);
    assert.equal((await mem.lstat('/w/f')).mtime.sec, 1_500_000_000);
    assert.equal((await mem.lstat('/w/d')).mode & 0o7777, 0o700);
    await client.close();
  });

  it('sends a size change of a remote file through, and a chmod without known attributes too', async () => {
    const mem = new MemoryFileClient();
    mem.put('/w/f', 'abcdef');
    const { client } = await open(mem, '/w');
    await client.setattr('/w/f', { size: 2 }, { known: await mem.lstat('/w/f') });
    assert.equal(mem.content('/w/f').toString(), 'ab');
    await client.setattr('/w/f', { mode: 0o640 });
    assert.equal((await mem.lstat('/w/f')).mode & 0o7777, 0o640);
    await client.close();
  });

  it('journals the rename of a remote file and reads it where the remote has it until it lands', async () => {
    const mem = new MemoryFileClient();
    mem.put('/w/a', 'first');
    mem.put('/w/old', 'replaced');
    const { client, release } = await held(mem);
    await client.rename('/w/a', '/w/b', { known: await mem.lstat('/w/a') });
    await client.rename('/w/b', '/w/old', { known: await client.lstat('/w/b') });
    await assert.rejects(client.lstat('/w/a'), (e: unknown) => isFsError(e, 'ENOENT'));
    await assert.rejects(client.lstat('/w/b'), (e: unknown) => isFsError(e, 'ENOENT'));
    assert.equal((await client.lstat('/w/old')).size, 5);
    assert.deepEqual((await client.readdir('/w')).map(e => e.name).sort(), ['old']);
    assert.equal(await readThrough(client, '/w/old'), 'first', 'read from the remote at the old name');
    release();
    await client.sync();
    assert.equal(mem.content('/w/old').toString(), 'first');
    assert.equal(mem.exists('/w/a'), false);
    assert.equal(mem.exists('/w/b'), false);
    await client.close();
  });

  it('reads a moved file at its new name once the rename landed mid-chain', async () => {
    const mem = new MemoryFileClient();
    mem.put('/w/a', 'data');
    const { client } = await open(mem, '/w', undefined, { maxRunning: 1 });
    let releaseSecond!: () => void;
    const second = new Promise<void>(resolve => { releaseSecond = resolve; });
    mem.hook = async (method, args) => { if (method === 'rename' && args[0] === '/w/b') await second; };
    await client.rename('/w/a', '/w/b', { known: await mem.lstat('/w/a') });
    await client.rename('/w/b', '/w/c', { known: await client.lstat('/w/b') });
    // The first landed, the second waits: the content is at /w/b on the remote now.
    for (let i = 0; i < 100 && !mem.exists('/w/b'); i++) await new Promise(resolve => setTimeout(resolve, 10));
    assert.equal(mem.exists('/w/b'), true);
    assert.equal(await readThrough(client, '/w/c'), 'data');
    releaseSecond();
    await client.sync();
    assert.equal(mem.content('/w/c').toString(), 'data');
    await client.close();
  });

  it('journals a hard link to a staged file, and the removal of its first name after it (git objects)', async () => {
    const mem = new MemoryFileClient();
    mem.putDir('/w/objects/ab');
    const { client, release } = await held(mem);
    await (await writeFileThrough(client, '/w/objects/ab/tmp_obj_1', 'blob 4\0data', 0o444)).close();
    await client.link('/w/objects/ab/tmp_obj_1', '/w/objects/ab/cdef');
    assert.equal((await client.lstat('/w/objects/ab/cdef')).nlink, 2);
    await client.unlink('/w/objects/ab/tmp_obj_1');
    assert.equal((await client.lstat('/w/objects/ab/cdef')).nlink, 1);
    assert.deepEqual((await client.readdir('/w/objects/ab')).map(e => e.name), ['cdef']);
    assert.equal(await readThrough(client, '/w/objects/ab/cdef'), 'blob 4\0data');
    assert.equal(mem.exists('/w/objects/ab/cdef'), false, 'nothing was sent yet');
    release();
    await client.sync();
    assert.deepEqual((await mem.readdir('/w/objects/ab')).map(e => e.name), ['cdef']);
    assert.equal(mem.content('/w/objects/ab/cdef').toString(), 'blob 4\0data');
    assert.equal((await mem.lstat('/w/objects/ab/cdef')).mode & 0o7777, 0o444);
    await client.close();
  });

  it('keeps two names of a staged file one file: a write through either reaches both', async () => {
    const mem = new MemoryFileClient();
    mem.putDir('/w');
    const { client } = await open(mem, '/w');
    const h = await writeFileThrough(client, '/w/a', 'one');
    await client.link('/w/a', '/w/b');
    await h.write(Buffer.from('two'), 0, 3, 0);
    await h.close();
    assert.equal(await readThrough(client, '/w/b'), 'two');
    await client.sync();
    assert.equal(mem.content('/w/a').toString(), 'two');
    assert.equal(mem.content('/w/b').toString(), 'two');
    assert.equal((await mem.lstat('/w/a')).ino, (await mem.lstat('/w/b')).ino);
    await client.close();
  });

  it('journals the rename of a remote folder: what is below it is read where the remote has it until it lands', async () => {
    const mem = new MemoryFileClient();
    mem.put('/w/pkg-tmp/index.js', 'module.exports = 1;');
    mem.put('/w/pkg-tmp/lib/a.js', 'a');
    mem.putDir('/w/node_modules');
    const { client, release } = await held(mem);
    // A file renamed inside it first, then the folder: both fold into where things are now.
    await client.rename('/w/pkg-tmp/lib/a.js', '/w/pkg-tmp/lib/b.js', { known: await mem.lstat('/w/pkg-tmp/lib/a.js') });
    await client.rename('/w/pkg-tmp', '/w/node_modules/pkg', { known: await mem.lstat('/w/pkg-tmp'), knownTarget: null });
    await assert.rejects(client.lstat('/w/pkg-tmp'), (e: unknown) => isFsError(e, 'ENOENT'));
    await assert.rejects(client.lstat('/w/pkg-tmp/lib/b.js'), (e: unknown) => isFsError(e, 'ENOENT'));
    await assert.rejects(client.readdir('/w/pkg-tmp/lib'), (e: unknown) => isFsError(e, 'ENOENT'));
    assert.deepEqual((await client.readdir('/w/node_modules/pkg')).map(e => e.name).sort(), ['index.js', 'lib']);
    assert.deepEqual((await client.readdir('/w/node_modules/pkg/lib')).map(e => e.name), ['b.js']);
    assert.equal((await client.lstat('/w/node_modules/pkg/index.js')).size, 19);
    assert.equal(await readThrough(client, '/w/node_modules/pkg/lib/b.js'), 'a');
    // A file written into the moved folder goes after the rename.
    await (await writeFileThrough(client, '/w/node_modules/pkg/package.json', '{}')).close();
    assert.equal(mem.exists('/w/node_modules/pkg'), false, 'nothing was sent yet');
    release();
    await client.sync();
    assert.deepEqual((await mem.readdir('/w/node_modules/pkg')).map(e => e.name).sort(), ['index.js', 'lib', 'package.json']);
    assert.equal(mem.content('/w/node_modules/pkg/lib/b.js').toString(), 'a');
    assert.equal(mem.exists('/w/pkg-tmp'), false);
    assert.equal(await readThrough(client, '/w/node_modules/pkg/lib/b.js'), 'a');
    await client.close();
  });

  it('sends the rename of a folder over a name the caller does not know to be free through, as before', async () => {
    const mem = new MemoryFileClient();
    mem.put('/w/a/f', '1');
    mem.putDir('/w/b');
    const { client } = await open(mem, '/w');
    await client.rename('/w/a', '/w/b', { known: await mem.lstat('/w/a') });
    assert.equal(mem.content('/w/b/f').toString(), '1');
    assert.equal(mem.exists('/w/a'), false);
    await client.close();
  });

  it('removes a listed folder emptied through the mount without waiting (rm -r), after its files', async () => {
    const mem = new MemoryFileClient();
    mem.put('/w/d/x', '1');
    mem.put('/w/d/y', '2');
    const { client, release } = await held(mem);
    const names = (await client.readdir('/w/d')).map(e => e.name);
    for (const name of names) await client.unlink(`/w/d/${name}`);
    await client.rmdir('/w/d');
    await assert.rejects(client.lstat('/w/d'), (e: unknown) => isFsError(e, 'ENOENT'));
    assert.equal(mem.exists('/w/d'), true, 'nothing was sent yet');
    // A folder made again at the same name goes after the removal.
    await client.mkdir('/w/d', 0o755);
    assert.deepEqual(await client.readdir('/w/d'), []);
    release();
    await client.sync();
    assert.equal(mem.exists('/w/d'), true);
    assert.deepEqual((await mem.readdir('/w/d')).map(e => e.name), []);
    await client.close();
  });

  it('reports a folder the remote would not remove (a name made there meanwhile) as refused', async () => {
    const mem = new MemoryFileClient();
    mem.put('/w/d/x', '1');
    const { client, release } = await held(mem);
    await client.readdir('/w/d');
    await client.unlink('/w/d/x');
    await client.rmdir('/w/d');
    mem.put('/w/d/theirs', 'made on the remote');
    release();
    await assert.rejects(client.sync(), (e: unknown) => e instanceof WriteBackFailedError);
    assert.equal(client.status().failed[0]?.op, 'rmdir');
    assert.equal(client.status().failed[0]?.code, 'ENOTEMPTY');
    assert.equal(mem.content('/w/d/theirs').toString(), 'made on the remote');
    assert.deepEqual(await client.discard(), ['/w/d']);
    assert.equal((await client.lstat('/w/d')).mode & 0o170000, 0o040000);
    await client.close();
  });

  it('sends rmdir of a folder it did not see emptied through, as before', async () => {
    const mem = new MemoryFileClient();
    mem.put('/w/d/x', '1');
    const { client } = await open(mem, '/w');
    await assert.rejects(client.rmdir('/w/d'), (e: unknown) => isFsError(e, 'ENOTEMPTY'));
    mem.removeBehind('/w/d/x');
    await client.rmdir('/w/d');
    assert.equal(mem.exists('/w/d'), false);
    await client.close();
  });
});

/**
 * `client` keeping request order as one SFTP channel does: each call starts once the one before
 * it is done (`extra` adds methods the memory client lacks).
 */
function inOrder(client: FileClient, extra: Record<string, unknown> = {}): FileClient {
  const capabilities = { ...client.capabilities, inOrder: true, ...(extra.capabilities as object | undefined) };
  let tail: Promise<unknown> = Promise.resolve();
  return new Proxy(client, {
    get(target, prop) {
      if (prop === 'capabilities') return capabilities;
      const v = (typeof prop === 'string' && prop in extra ? extra[prop] : Reflect.get(target, prop, target)) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const call = tail.then(() => (v as (...a: unknown[]) => unknown).apply(target, args));
        tail = call.catch(() => {});
        return call;
      };
    },
  }) as unknown as FileClient;
}

describe('write-back journal: batches where the remote takes them', () => {
  /** `mem` with batch() and putFile() as rmount-agent offers them, counting batch requests. */
  function batching(mem: MemoryFileClient, ordered = false): { client: FileClient; requests: number[]; failNext: { n: number } } {
    const requests: number[] = [];
    const failNext = { n: 0 };
    const putFile = async (path: string, data: Uint8Array, o: PutFileOptions): Promise<void> => {
      const h = await mem.open(path, { read: false, write: true, create: true, truncate: true, exclusive: o.exclusive === true }, o.mode);
      await h.write(Buffer.from(data), 0, data.length, 0);
      await h.setattr({ mode: o.mode, atime: o.atime, mtime: o.mtime });
      await h.close();
    };
    const one = async (op: BatchOp): Promise<void> => {
      switch (op.kind) {
        case 'put': return putFile(op.path, op.data, op.options);
        case 'mkdir': await mem.mkdir(op.path, op.mode); return mem.setattr(op.path, { mode: op.mode });
        case 'symlink': return mem.symlink(op.target, op.path);
        case 'unlink': return mem.unlink(op.path);
        case 'rmdir': return mem.rmdir(op.path);
        case 'rename': return mem.rename(op.from, op.to);
        case 'link': return mem.link(op.existing, op.path);
        case 'setattr': return mem.setattr(op.path, op.attrs, op.noFollow === true ? { noFollow: true } : undefined);
      }
    };
    const batch = async (ops: readonly BatchOp[]): Promise<(FsError | undefined)[]> => {
      requests.push(ops.length);
      if (failNext.n > 0) {
        failNext.n--;
        throw new FsError('ENOTCONN', 'batch');
      }
      const out: (FsError | undefined)[] = [];
      for (const op of ops) out.push(await one(op).then(() => undefined, (e: unknown) => e as FsError));
      return out;
    };
    const capabilities = { ...mem.capabilities, batch: true, putFile: true };
    if (ordered) return { client: inOrder(mem, { capabilities: { ...capabilities, fsync: true }, batch, putFile }), requests, failNext };
    const client = new Proxy(mem, {
      get(target, prop) {
        if (prop === 'capabilities') return capabilities;
        if (prop === 'batch') return batch;
        if (prop === 'putFile') return putFile;
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as unknown as FileClient;
    return { client, requests, failNext };
  }

  it('sends an unpack of many small files in a few requests, in dependency order', async () => {
    const mem = new MemoryFileClient();
    mem.putDir('/w');
    const { client: inner, requests } = batching(mem);
    const { client } = await open(inner, '/w');
    for (let d = 0; d < 5; d++) {
      await client.mkdir(`/w/d${d}`, 0o750);
      for (let f = 0; f < 40; f++) await (await writeFileThrough(client, `/w/d${d}/f${f}`, `${d}/${f}`)).close();
      await client.symlink('f0', `/w/d${d}/link`);
    }
    await client.sync();
    for (let d = 0; d < 5; d++) {
      assert.equal((await mem.lstat(`/w/d${d}`)).mode & 0o7777, 0o750);
      for (let f = 0; f < 40; f++) assert.equal(mem.content(`/w/d${d}/f${f}`).toString(), `${d}/${f}`);
      assert.equal(await mem.readlink(`/w/d${d}/link`), 'f0');
    }
    const sent = requests.reduce((a, b) => a + b, 0);
    assert.equal(sent, 5 + 200 + 5);
    assert.ok(requests.length < sent / 4, `${requests.length} requests for ${sent} changes`);
    await client.close();
  });

  /**
   * A journal over a remote that keeps order (batches, or one call after another as one SFTP
   * channel does; fsync as the remote can: what an fsync of ours asks for), with what it hands up
   * as landed: each path and `pick` of the remote's attributes, or undefined when none came.
   */
  async function orderedJournal(via: 'batch' | 'open', pick: (stat: FileStat) => number) {
    const mem = new MemoryFileClient();
    mem.putDir('/w');
    const inner = via === 'batch' ? batching(mem, true).client : inOrder(mem, { capabilities: { fsync: true } });
    const { client } = await open(inner, '/w');
    const landed: [string, number | undefined][] = [];
    client.onLanded((path, stat) => landed.push([path, stat === undefined ? undefined : pick(stat)]));
    return { mem, client, landed };
  }

  it('hands up what the remote shows right behind each put, in the same round trip, where it keeps order', async () => {
    for (const via of ['batch', 'open'] as const) {
      const { mem, client, landed } = await orderedJournal(via, stat => stat.size);
      // Landed while still open (a save fsyncs before it closes), and after the close.
      const saved = await writeFileThrough(client, '/w/f', 'twelve bytes');
      await saved.sync();
      await saved.close();
      await (await writeFileThrough(client, '/w/g', 'g')).close();
      await client.sync();
      assert.deepEqual(landed, [['/w/f', 12], ['/w/g', 1]], via);
      const lstats = mem.count('lstat');
      assert.equal((await client.lstat('/w/f')).size, 12);
      assert.equal(mem.count('lstat'), lstats + 1, `${via}: once landed, the remote answers`);
      await client.close();
    }
  });

  it('does not hand up what the remote showed behind a put when a later change of the path is queued (a chmod right after the close)', async () => {
    for (const via of ['batch', 'open'] as const) {
      const { mem, client, landed } = await orderedJournal(via, stat => stat.mode & 0o7777);
      await (await writeFileThrough(client, '/w/f', 'x', 0o644)).close();
      await client.setattr('/w/f', { mode: 0o751 });
      await client.sync();
      assert.ok(landed.length > 0, via);
      for (const [path, mode] of landed) assert.deepEqual([path, mode], ['/w/f', undefined], `${via}: the put's answer predates the chmod`);
      assert.equal((await mem.lstat('/w/f')).mode & 0o7777, 0o751, via);
      await client.close();
    }
  });

  it('sends a refused item again alone (a file made there meanwhile is kept beside ours), and a lost request again', async () => {
    const mem = new MemoryFileClient();
    mem.putDir('/w');
    const { client: inner, failNext } = batching(mem);
    const { client } = await open(inner, '/w');
    mem.put('/w/theirs', 'made on the remote');
    await (await writeFileThrough(client, '/w/theirs', 'ours')).close();
    await client.sync();
    failNext.n = 1;
    await (await writeFileThrough(client, '/w/other', 'fine')).close();
    await client.sync();
    assert.equal(mem.content('/w/theirs').toString(), 'ours');
    assert.equal(mem.content('/w/other').toString(), 'fine');
    const kept = (await mem.readdir('/w')).map(e => e.name).filter(n => n.startsWith('theirs.remote-'));
    assert.equal(kept.length, 1);
    assert.equal(client.status().conflicts.length, 1);
    await client.close();
  });
});
