/**
 * One POSIX behaviour suite run through a real mount of every backend (go-fuse `posixtest`).
 * The mounted side is touched only with node:fs/promises or from child processes, never with
 * sync fs calls (a sync call on our own FUSE mount can deadlock the test). The "remote side" is
 * checked straight on the backing folder, which is on this machine for every backend tested here,
 * after `settle` (write-back sends a change to the remote shortly after the call made it returns).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  appendFile, chmod, link, lstat, mkdir, open, readdir, readFile, readlink, rename, rm, rmdir, stat, statfs, symlink, truncate, unlink, writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it as nodeIt, type TestContext, type TestOptions } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { requirePart, which } from '../helpers/skip.ts';
import { tempDir } from '../helpers/tmp.ts';
import type { AfterHook } from '../helpers/sshd.ts';

/** A mounted folder and the same folder seen from outside the mount. */
export interface PosixTarget {
  /** Root of the mount. */
  mnt: string;
  /** The folder the mount shows, on this machine's disk, reached without the mount. */
  back: string;
  /** True when the remote stores timestamps with nanoseconds (SFTP v3 stores whole seconds). */
  nanosecondTimes: boolean;
  /**
   * Files written by the bulk cases (tar -x): 2,000 unless the target is bound by a per-file
   * cost the suite is not about (Docker's agentless client runs several execs per file).
   */
  bulkFiles?: number;
  /** Mounts `back` again on a fresh folder with more `-o` options; cleaned up with `t`. */
  remount(t: AfterHook, o: string[]): Promise<string>;
  /**
   * Resolves once every change made through this mount so far is on the remote (fsync of the mount
   * root: fsyncdir). With write-back a change made through the mount reaches `back` shortly after
   * the call returns, so a case settles before it checks `back` for something it did through `mnt`.
   */
  settle(): Promise<void>;
}

/** {@link PosixTarget.settle} for any mount, e.g. one made with `remount`: fsync of its root folder. */
export async function settleMount(mountpoint: string): Promise<void> {
  const fh = await open(mountpoint, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Makes the target once per suite; everything it starts is cleaned up through `hook`. */
export type MakeTarget = (hook: AfterHook) => Promise<PosixTarget>;

const MiB = 1 << 20;
const LONG = { timeout: 600_000 };

/** `it` with a default timeout, so an operation hung on a broken mount fails its test, not the run. */
function it(name: string, a: TestOptions | ((t: TestContext) => Promise<void>), b?: (t: TestContext) => Promise<void>): void {
  const [options, fn] = typeof a === 'function' ? [{}, a] : [a, b!];
  nodeIt(name, { timeout: 120_000, ...options }, fn);
}
const pythonSkip = which('python3') ? false : requirePart('python3 not installed (renameat2 helper)');

/** The outcome of a child process. */
interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (never through a shell); stdout/stderr as text. */
function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', code => resolve({ code, stdout, stderr }));
  });
}

/** Asserts a child process exited 0, showing its stderr otherwise. */
function ok(r: Ran, what: string): Ran {
  assert.equal(r.code, 0, `${what} exited ${r.code}: ${r.stderr}`);
  return r;
}

// renameat2 through glibc's own symbol (2.28+): prints OK or the errno name.
const RENAMEAT2_PY = [
  'import ctypes, errno, sys',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), int(sys.argv[3]))',
  'print("OK" if r == 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno())))',
].join('\n');
const RENAME_NOREPLACE = 1;

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every file below `dir` (relative paths, sorted), read without the mount or through it (async). */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter(e => e.isFile()).map(e => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

/** Writes `count` small files named f0000… into `dir` (outside any mount), a few at a time. */
async function makeFiles(dir: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, k) => {
      const n = String(i + k).padStart(4, '0');
      return writeFile(join(dir, `f${n}`), `file ${n}\n`);
    }));
  }
}

/**
 * Makes the target in the enclosing suite's `before` (handing it to `use`) and undoes everything it
 * started in the suite's `after`, last in first out. Returns the hook later steps register with.
 */
export function suiteTarget(makeTarget: MakeTarget, use: (target: PosixTarget) => void): AfterHook {
  const cleanups: (() => Promise<void> | void)[] = [];
  const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
  before(async () => { use(await makeTarget(hook)); }, { timeout: 180_000 });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  }, { timeout: 180_000 });
  return hook;
}

/**
 * Registers the POSIX suite for one target. Each test works in its own folder, made through the
 * mount, so tests do not see each other's names and no cache holds a stale answer for them.
 */
export function posixSuite(name: string, makeTarget: MakeTarget, options: { skip?: string | false } = {}): void {
  describe(`posix behaviour through a mount: ${name}`, { skip: options.skip ?? false }, () => {
    let target!: PosixTarget;
    let serial = 0;
    suiteTarget(makeTarget, made => { target = made; });

    /**
     * A fresh folder for one test: `m` through the mount, `b` on the backing folder. It is on the
     * remote before the case starts (settled), so a case may put things in `b` straight away.
     */
    async function caseDir(t: TestContext): Promise<{ m: string; b: string }> {
      const slug = `${String(++serial).padStart(2, '0')}-${t.name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 60)}`;
      await mkdir(join(target.mnt, slug));
      await target.settle();
      return { m: join(target.mnt, slug), b: join(target.back, slug) };
    }

    it('write at offsets creates the file and reads back the same bytes with a zero-filled gap', async t => {
      const { m, b } = await caseDir(t);
      const fh = await open(join(m, 'f'), 'w+');
      try {
        await fh.write(Buffer.from('hello'), 0, 5, 0);
        await fh.write(Buffer.from('XY'), 0, 2, 10);
        await fh.write(Buffer.from('l'), 0, 1, 2);
        const buf = Buffer.alloc(32);
        const { bytesRead } = await fh.read(buf, 0, 32, 3);
        assert.deepEqual(buf.subarray(0, bytesRead), Buffer.from('lo\0\0\0\0\0XY'));
      } finally {
        await fh.close();
      }
      const expected = Buffer.from('hello\0\0\0\0\0XY');
      assert.deepEqual(await readFile(join(m, 'f')), expected);
      await target.settle();
      assert.deepEqual(await readFile(join(b, 'f')), expected);
    });

    it('append with O_APPEND writes at the end of the file', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(b, 'f'), 'abc');
      const fh = await open(join(m, 'f'), 'a');
      try {
        await fh.write('def');
        await fh.write('ghi');
      } finally {
        await fh.close();
      }
      await appendFile(join(m, 'f'), 'jkl');
      await target.settle();
      assert.equal(await readFile(join(b, 'f'), 'utf8'), 'abcdefghijkl');
      assert.equal(await readFile(join(m, 'f'), 'utf8'), 'abcdefghijkl');
    });

    it('truncate up extends the file with zeros', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'f'), 'abc');
      await truncate(join(m, 'f'), 8);
      assert.equal((await stat(join(m, 'f'))).size, 8);
      await target.settle();
      assert.deepEqual(await readFile(join(b, 'f')), Buffer.from('abc\0\0\0\0\0'));
      assert.deepEqual(await readFile(join(m, 'f')), Buffer.from('abc\0\0\0\0\0'));
    });

    it('truncate down drops the tail', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'f'), 'abcdefgh');
      await truncate(join(m, 'f'), 3);
      assert.equal((await stat(join(m, 'f'))).size, 3);
      await target.settle();
      assert.equal(await readFile(join(b, 'f'), 'utf8'), 'abc');
      assert.equal(await readFile(join(m, 'f'), 'utf8'), 'abc');
    });

    it('ftruncate on an open handle changes the size seen by a new open', async t => {
      const { m, b } = await caseDir(t);
      const fh = await open(join(m, 'f'), 'w+');
      try {
        await fh.write('abcdefgh');
        await fh.truncate(2);
      } finally {
        await fh.close();
      }
      assert.equal(await readFile(join(m, 'f'), 'utf8'), 'ab');
      await target.settle();
      assert.equal(await readFile(join(b, 'f'), 'utf8'), 'ab');
    });

    it('rename over an existing file replaces it', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'a'), 'new');
      await writeFile(join(m, 'b'), 'old');
      await rename(join(m, 'a'), join(m, 'b'));
      assert.equal(await readFile(join(m, 'b'), 'utf8'), 'new');
      await assert.rejects(stat(join(m, 'a')), { code: 'ENOENT' });
      await target.settle();
      assert.deepEqual((await readdir(b)).sort(), ['b']);
      assert.equal(await readFile(join(b, 'b'), 'utf8'), 'new');
    });

    it('rename into another folder moves the file', async t => {
      const { m, b } = await caseDir(t);
      await mkdir(join(m, 'sub'));
      await writeFile(join(m, 'a'), 'x');
      await rename(join(m, 'a'), join(m, 'sub', 'a'));
      assert.equal(await readFile(join(m, 'sub', 'a'), 'utf8'), 'x');
      await assert.rejects(stat(join(m, 'a')), { code: 'ENOENT' });
      await target.settle();
      assert.deepEqual(await readdir(b), ['sub']);
    });

    it('renameat2 RENAME_NOREPLACE onto an existing name fails EEXIST', { skip: pythonSkip }, async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'a'), 'A');
      await writeFile(join(m, 'b'), 'B');
      const r = await run('python3', ['-c', RENAMEAT2_PY, join(m, 'a'), join(m, 'b'), String(RENAME_NOREPLACE)]);
      assert.equal(r.stdout.trim(), 'EEXIST', r.stderr);
      await target.settle();
      assert.equal(await readFile(join(b, 'a'), 'utf8'), 'A');
      assert.equal(await readFile(join(b, 'b'), 'utf8'), 'B');
    });

    it('renameat2 RENAME_NOREPLACE onto a free name renames', { skip: pythonSkip }, async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'a'), 'A');
      const r = await run('python3', ['-c', RENAMEAT2_PY, join(m, 'a'), join(m, 'c'), String(RENAME_NOREPLACE)]);
      assert.equal(r.stdout.trim(), 'OK', r.stderr);
      await target.settle();
      assert.deepEqual(await readdir(b), ['c']);
    });

    it('rename of a folder onto a non-empty folder fails ENOTEMPTY', async t => {
      const { m, b } = await caseDir(t);
      await mkdir(join(m, 'src'));
      await mkdir(join(m, 'dst'));
      await writeFile(join(m, 'dst', 'keep'), 'k');
      await assert.rejects(rename(join(m, 'src'), join(m, 'dst')), { code: 'ENOTEMPTY' });
      await target.settle();
      assert.deepEqual(await readdir(join(b, 'dst')), ['keep']);
      assert.ok((await stat(join(b, 'src'))).isDirectory());
    });

    it('rename of a folder onto an empty folder replaces it', async t => {
      const { m, b } = await caseDir(t);
      await mkdir(join(m, 'src'));
      await writeFile(join(m, 'src', 'x'), 'x');
      await mkdir(join(m, 'dst'));
      await rename(join(m, 'src'), join(m, 'dst'));
      assert.equal(await readFile(join(m, 'dst', 'x'), 'utf8'), 'x');
      await target.settle();
      assert.deepEqual(await readdir(b), ['dst']);
    });

    it('unlink removes the file', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'f'), 'x');
      await unlink(join(m, 'f'));
      await assert.rejects(stat(join(m, 'f')), { code: 'ENOENT' });
      await target.settle();
      assert.deepEqual(await readdir(b), []);
    });

    it('unlink of a missing file fails ENOENT', async t => {
      const { m } = await caseDir(t);
      await assert.rejects(unlink(join(m, 'nope')), { code: 'ENOENT' });
    });

    it('mkdir then rmdir of an empty folder leaves nothing', async t => {
      const { m, b } = await caseDir(t);
      await mkdir(join(m, 'd'));
      await target.settle();
      assert.ok((await stat(join(b, 'd'))).isDirectory());
      assert.ok((await stat(join(m, 'd'))).isDirectory());
      await rmdir(join(m, 'd'));
      await assert.rejects(stat(join(m, 'd')), { code: 'ENOENT' });
      await target.settle();
      assert.deepEqual(await readdir(b), []);
    });

    it('rmdir of a non-empty folder fails ENOTEMPTY', async t => {
      const { m, b } = await caseDir(t);
      await mkdir(join(m, 'd'));
      await writeFile(join(m, 'd', 'f'), 'x');
      await assert.rejects(rmdir(join(m, 'd')), { code: 'ENOTEMPTY' });
      await target.settle();
      assert.deepEqual(await readdir(join(b, 'd')), ['f']);
    });

    it('mkdir of an existing name fails EEXIST', async t => {
      const { m } = await caseDir(t);
      await mkdir(join(m, 'd'));
      await writeFile(join(m, 'f'), 'x');
      await assert.rejects(mkdir(join(m, 'd')), { code: 'EEXIST' });
      await assert.rejects(mkdir(join(m, 'f')), { code: 'EEXIST' });
    });

    it('open of a missing file fails ENOENT', async t => {
      const { m } = await caseDir(t);
      await assert.rejects(open(join(m, 'nope'), 'r'), { code: 'ENOENT' });
    });

    it('open of a path through a file fails ENOTDIR', async t => {
      const { m } = await caseDir(t);
      await writeFile(join(m, 'f'), 'x');
      await assert.rejects(open(join(m, 'f', 'g'), 'r'), { code: 'ENOTDIR' });
      await assert.rejects(writeFile(join(m, 'f', 'g'), 'y'), { code: 'ENOTDIR' });
    });

    it('open of a folder for writing fails EISDIR', async t => {
      const { m } = await caseDir(t);
      await mkdir(join(m, 'd'));
      await assert.rejects(open(join(m, 'd'), 'r+'), { code: 'EISDIR' });
    });

    it('create of a name over 255 bytes fails ENAMETOOLONG', async t => {
      const { m, b } = await caseDir(t);
      await assert.rejects(writeFile(join(m, 'x'.repeat(256)), 'x'), { code: 'ENAMETOOLONG' });
      await target.settle();
      assert.deepEqual(await readdir(b), []);
    });

    it('stat of a name over 255 bytes fails ENAMETOOLONG', async t => {
      const { m } = await caseDir(t);
      await assert.rejects(stat(join(m, 'é'.repeat(128))), { code: 'ENAMETOOLONG' });
    });

    it('create of a name of exactly 255 bytes works', async t => {
      const { m, b } = await caseDir(t);
      const name = 'y'.repeat(255);
      await writeFile(join(m, name), 'x');
      await target.settle();
      assert.equal(await readFile(join(b, name), 'utf8'), 'x');
    });

    it('symlink then readlink returns the target as written', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'target'), 'T');
      await symlink('target', join(m, 'rel'));
      await symlink('../nowhere/at all', join(m, 'dangling'));
      assert.equal(await readlink(join(m, 'rel')), 'target');
      assert.equal(await readlink(join(m, 'dangling')), '../nowhere/at all');
      await target.settle();
      assert.equal(await readlink(join(b, 'rel')), 'target');
      assert.ok((await lstat(join(m, 'rel'))).isSymbolicLink());
      assert.equal(await readFile(join(m, 'rel'), 'utf8'), 'T');
    });

    it('chown -h on a symlink leaves the target owner unchanged', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'target'), 'T');
      await symlink('target', join(m, 'link'));
      await target.settle();
      const before = await stat(join(b, 'target'));
      ok(await run('chown', ['-h', '12345:12346', join(m, 'link')]), 'chown -h');
      await target.settle();
      const after = await stat(join(b, 'target'));
      assert.deepEqual([after.uid, after.gid], [before.uid, before.gid]);
    });

    it('chown -h on a symlink changes the owner of the link itself', { skip: process.getuid?.() === 0 ? false : 'chown to another uid needs root' }, async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'target'), 'T');
      await symlink('target', join(m, 'link'));
      ok(await run('chown', ['-h', '12345:12346', join(m, 'link')]), 'chown -h');
      await target.settle();
      const l = await lstat(join(b, 'link'));
      assert.deepEqual([l.uid, l.gid], [12345, 12346]);
    });

    it('touch -h on a symlink leaves the target mtime unchanged', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'target'), 'T');
      await symlink('target', join(m, 'link'));
      await target.settle();
      const before = await stat(join(b, 'target'), { bigint: true });
      ok(await run('touch', ['-h', '-d', '@1000000000', join(m, 'link')]), 'touch -h');
      await target.settle();
      const after = await stat(join(b, 'target'), { bigint: true });
      assert.equal(after.mtimeNs, before.mtimeNs);
    });

    it('touch -h on a symlink sets the mtime of the link itself', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'target'), 'T');
      await symlink('target', join(m, 'link'));
      ok(await run('touch', ['-h', '-d', '@1000000000', join(m, 'link')]), 'touch -h');
      await target.settle();
      assert.equal((await lstat(join(b, 'link'))).mtimeMs, 1e12);
    });

    it('link shows link count 2 on both names', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'a'), 'x');
      await link(join(m, 'a'), join(m, 'b'));
      await target.settle();
      assert.equal((await stat(join(b, 'a'))).nlink, 2, 'on the remote');
      assert.equal((await stat(join(m, 'a'))).nlink, 2, 'first name through the mount');
      assert.equal((await stat(join(m, 'b'))).nlink, 2, 'second name through the mount');
    });

    it('link shows the same inode number on both names', async t => {
      const { m } = await caseDir(t);
      await writeFile(join(m, 'a'), 'x');
      await link(join(m, 'a'), join(m, 'b'));
      assert.equal((await stat(join(m, 'a'))).ino, (await stat(join(m, 'b'))).ino);
    });

    it('write through one hard link is read through the other', async t => {
      const { m } = await caseDir(t);
      await writeFile(join(m, 'a'), 'one');
      await link(join(m, 'a'), join(m, 'b'));
      await writeFile(join(m, 'a'), 'two');
      assert.equal(await readFile(join(m, 'b'), 'utf8'), 'two');
    });

    it('chmod changes the permission bits', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'f'), 'x', { mode: 0o644 });
      await chmod(join(m, 'f'), 0o751);
      assert.equal((await stat(join(m, 'f'))).mode & 0o7777, 0o751);
      await target.settle();
      assert.equal((await stat(join(b, 'f'))).mode & 0o7777, 0o751);
    });

    it('utimes keeps nanoseconds as far as the remote stores them', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'f'), 'x');
      ok(await run('touch', ['-m', '-d', '2001-09-09 01:46:40.123456789 UTC', join(m, 'f')]), 'touch -m');
      const expected = target.nanosecondTimes ? 1_000_000_000_123_456_789n : 1_000_000_000_000_000_000n;
      await target.settle();
      assert.equal((await stat(join(b, 'f'), { bigint: true })).mtimeNs, expected);
    });

    it('stat through the mount reports the mtime the remote stored after utimes', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'f'), 'x');
      ok(await run('touch', ['-m', '-d', '2001-09-09 01:46:40.123456789 UTC', join(m, 'f')]), 'touch -m');
      await target.settle();
      const stored = (await stat(join(b, 'f'), { bigint: true })).mtimeNs;
      assert.equal((await stat(join(m, 'f'), { bigint: true })).mtimeNs, stored);
    });

    it('touch -m (UTIME_OMIT on atime) leaves atime unchanged', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'f'), 'x');
      ok(await run('touch', ['-a', '-d', '@1000000000', join(m, 'f')]), 'touch -a');
      ok(await run('touch', ['-m', '-d', '@1100000000', join(m, 'f')]), 'touch -m');
      await target.settle();
      const back = await stat(join(b, 'f'));
      assert.equal(back.atimeMs, 1_000_000_000_000);
      assert.equal(back.mtimeMs, 1_100_000_000_000);
      const seen = await stat(join(m, 'f'));
      assert.equal(seen.atimeMs, 1_000_000_000_000);
      assert.equal(seen.mtimeMs, 1_100_000_000_000);
    });

    it('touch -m (UTIME_OMIT on atime) leaves a sub-second atime unchanged as far as the protocol can', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(b, 'f'), 'x');
      ok(await run('touch', ['-a', '-d', '2001-09-09 01:46:40.123456789 UTC', join(b, 'f')]), 'touch -a on the remote');
      const before = (await stat(join(b, 'f'), { bigint: true })).atimeNs;
      ok(await run('touch', ['-m', '-d', '@1100000000', join(m, 'f')]), 'touch -m');
      await target.settle();
      // SFTP v3 sets both times at once, in whole seconds: the atime is sent back as read, and
      // only its sub-second part can be lost (sshfs sets it to "now"). The agent keeps it all.
      const after = (await stat(join(b, 'f'), { bigint: true })).atimeNs;
      if (target.nanosecondTimes) assert.equal(after, before);
      else assert.equal(after / 1_000_000_000n, before / 1_000_000_000n);
    });

    it('statfs on the mount answers with sizes', async () => {
      const s = await statfs(target.mnt);
      assert.ok(s.bsize > 0, `bsize ${s.bsize}`);
      assert.ok(s.blocks > 0, `blocks ${s.blocks}`);
      ok(await run('df', ['-P', target.mnt]), 'df');
    });

    it('open with O_EXCL of an existing file fails EEXIST', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'f'), 'keep');
      await assert.rejects(open(join(m, 'f'), 'wx'), { code: 'EEXIST' });
      await target.settle();
      assert.equal(await readFile(join(b, 'f'), 'utf8'), 'keep');
    });

    it('open with O_EXCL of a new file creates it', async t => {
      const { m, b } = await caseDir(t);
      const fh = await open(join(m, 'f'), 'wx', 0o600);
      await fh.close();
      await target.settle();
      assert.equal((await stat(join(b, 'f'))).mode & 0o777, 0o600);
    });

    it('unlink of an open file keeps reading and writing working for the holder', async t => {
      const { m } = await caseDir(t);
      await writeFile(join(m, 'f'), 'hello');
      const fh = await open(join(m, 'f'), 'r+');
      try {
        await unlink(join(m, 'f'));
        await assert.rejects(stat(join(m, 'f')), { code: 'ENOENT' });
        await fh.write(Buffer.from(' world'), 0, 6, 5);
        const buf = Buffer.alloc(64);
        const { bytesRead } = await fh.read(buf, 0, 64, 0);
        assert.equal(buf.subarray(0, bytesRead).toString(), 'hello world');
      } finally {
        await fh.close();
      }
    });

    it('unlink of an open file leaves nothing behind after close', async t => {
      const { m, b } = await caseDir(t);
      await mkdir(join(m, 'd'));
      await writeFile(join(m, 'd', 'f'), 'hello');
      const fh = await open(join(m, 'd', 'f'), 'r+');
      try {
        await unlink(join(m, 'd', 'f'));
        await fh.write('HELLO', 0);
        assert.deepEqual(await readdir(join(m, 'd')), []);
      } finally {
        await fh.close();
      }
      await target.settle();
      assert.deepEqual(await readdir(join(b, 'd')), []);
      await rmdir(join(m, 'd'));
      await target.settle();
      assert.deepEqual(await readdir(b), []);
    });

    it('a file deleted on the remote stops stat-ing through the mount within the cache lifetime', async t => {
      const { b } = await caseDir(t);
      const mnt = await target.remount(t, ['cache_timeout=1']);
      const through = join(mnt, b.slice(target.back.length + 1), 'f');
      await writeFile(join(b, 'f'), 'x');
      await stat(through);
      await rm(join(b, 'f'));
      await sleep(1500);
      await assert.rejects(stat(through), { code: 'ENOENT' });
    });

    it('a file created on the remote shows up in a listing through the mount within the cache lifetime', async t => {
      const { b } = await caseDir(t);
      const mnt = await target.remount(t, ['cache_timeout=1']);
      const through = join(mnt, b.slice(target.back.length + 1));
      assert.deepEqual(await readdir(through), []);
      await writeFile(join(b, 'new'), 'x');
      await sleep(1500);
      assert.deepEqual(await readdir(through), ['new']);
      assert.equal(await readFile(join(through, 'new'), 'utf8'), 'x');
    });

    it('editor atomic save (temp file, fsync, rename over) leaves the new content and no temp file', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'doc.txt'), 'old content');
      const tmp = join(m, '.doc.txt.swp');
      const fh = await open(tmp, 'wx', 0o644);
      try {
        await fh.write('new content');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(m, 'doc.txt'));
      assert.equal(await readFile(join(m, 'doc.txt'), 'utf8'), 'new content');
      await target.settle();
      assert.deepEqual(await readdir(b), ['doc.txt']);
      assert.equal(await readFile(join(b, 'doc.txt'), 'utf8'), 'new content');
      assert.deepEqual(await readdir(m), ['doc.txt']);
    });

    describe('a 256 MiB file', () => {
      let expected = '';
      let mounted = '';
      let backing = '';

      it('written through the mount has the same SHA-256 on the remote', LONG, async t => {
        const { m, b } = await caseDir(t);
        mounted = join(m, 'big.bin');
        backing = join(b, 'big.bin');
        const hash = createHash('sha256');
        const fh = await open(mounted, 'w');
        try {
          for (let i = 0; i < 64; i++) {
            const chunk = randomBytes(4 * MiB);
            hash.update(chunk);
            let done = 0;
            while (done < chunk.length) done += (await fh.write(chunk, done, chunk.length - done)).bytesWritten;
          }
        } finally {
          await fh.close();
        }
        expected = hash.digest('hex');
        await target.settle();
        assert.equal((await stat(backing)).size, 256 * MiB);
        assert.equal(await sha256File(backing), expected);
      });

      it('read back through the mount has the same SHA-256', LONG, async () => {
        assert.notEqual(expected, '', 'the write test did not run');
        assert.equal((await stat(mounted)).size, 256 * MiB);
        assert.equal(await sha256File(mounted), expected);
      });

      it('read back through a fresh mount (no page cache) has the same SHA-256', LONG, async t => {
        assert.notEqual(expected, '', 'the write test did not run');
        const mnt = await target.remount(t, []);
        assert.equal(await sha256File(join(mnt, backing.slice(target.back.length + 1))), expected);
      });
    });

    it('8 parallel writers to different files all land intact', LONG, async t => {
      const { m, b } = await caseDir(t);
      const datas = Array.from({ length: 8 }, () => randomBytes(8 * MiB + 12345));
      await Promise.all(datas.map(async (data, i) => {
        const fh = await open(join(m, `w${i}`), 'w');
        try {
          for (let off = 0; off < data.length; off += 256 * 1024) {
            const n = Math.min(256 * 1024, data.length - off);
            await fh.write(data, off, n, off);
          }
        } finally {
          await fh.close();
        }
      }));
      await target.settle();
      for (const [i, data] of datas.entries()) {
        assert.equal(sha256(await readFile(join(b, `w${i}`))), sha256(data), `w${i} on the remote`);
        assert.equal(sha256(await readFile(join(m, `w${i}`))), sha256(data), `w${i} through the mount`);
      }
    });

    it('8 parallel readers of one file all get the right bytes', LONG, async t => {
      const { m, b } = await caseDir(t);
      const data = randomBytes(16 * MiB + 777);
      await writeFile(join(b, 'shared'), data);
      const sums = await Promise.all(Array.from({ length: 8 }, () => sha256File(join(m, 'shared'))));
      assert.deepEqual(sums, Array.from({ length: 8 }, () => sha256(data)));
    });

    it('8 parallel readers at interleaved offsets of one open file get the right bytes', LONG, async t => {
      const { m, b } = await caseDir(t);
      const data = randomBytes(8 * MiB);
      await writeFile(join(b, 'shared'), data);
      const fh = await open(join(m, 'shared'), 'r');
      try {
        const piece = MiB;
        const parts = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
          const buf = Buffer.alloc(piece);
          const { bytesRead } = await fh.read(buf, 0, piece, (7 - i) * piece);
          return { i, buf: buf.subarray(0, bytesRead) };
        }));
        for (const { i, buf } of parts) assert.ok(buf.equals(data.subarray((7 - i) * piece, (8 - i) * piece)), `piece ${7 - i}`);
      } finally {
        await fh.close();
      }
    });

    it('git init, add and commit leave a clean status', { ...LONG, skip: which('git') ? false : requirePart('git not installed') }, async t => {
      const { m } = await caseDir(t);
      const home = await tempDir(t);
      const env = {
        HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_AUTHOR_NAME: 'rmount test', GIT_AUTHOR_EMAIL: 'test@rmount.invalid',
        GIT_COMMITTER_NAME: 'rmount test', GIT_COMMITTER_EMAIL: 'test@rmount.invalid',
      };
      await mkdir(join(m, 'src'));
      for (let i = 0; i < 20; i++) await writeFile(join(m, 'src', `file${i}.txt`), `line ${i}\n`.repeat(i + 1));
      await writeFile(join(m, 'README'), 'hello\n');
      ok(await run('git', ['-c', 'init.defaultBranch=main', 'init', '-q'], { cwd: m, env }), 'git init');
      ok(await run('git', ['add', '-A'], { cwd: m, env }), 'git add');
      ok(await run('git', ['commit', '-q', '-m', 'first'], { cwd: m, env }), 'git commit');
      const status = ok(await run('git', ['status', '--porcelain'], { cwd: m, env }), 'git status');
      assert.equal(status.stdout, '');
      const log = ok(await run('git', ['log', '--format=%s'], { cwd: m, env }), 'git log');
      assert.equal(log.stdout, 'first\n');
      ok(await run('git', ['fsck', '--no-progress'], { cwd: m, env }), 'git fsck');
    });

    it('tar -x of a 2,000-file tree into the mount delivers every file', LONG, async t => {
      const { m, b } = await caseDir(t);
      const local = await tempDir(t);
      const tree = join(local, 'tree');
      const dirs = Math.ceil((target.bulkFiles ?? 2000) / 100);
      if (dirs !== 20) t.diagnostic(`${dirs * 100} files on this target`);
      for (let d = 0; d < dirs; d++) {
        await mkdir(join(tree, `d${d}`), { recursive: true });
        await Promise.all(Array.from({ length: 100 }, (_, i) => writeFile(join(tree, `d${d}`, `f${i}.txt`), `d${d} f${i}\n`.repeat(i % 7 + 1))));
      }
      const ball = join(local, 'tree.tar');
      ok(await run('tar', ['-cf', ball, '-C', local, 'tree']), 'tar -c');
      ok(await run('tar', ['-xf', ball, '-C', m]), 'tar -x');
      await target.settle();
      const files = await listTree(join(b, 'tree'));
      assert.equal(files.length, dirs * 100);
      ok(await run('diff', ['-r', tree, join(b, 'tree')]), 'diff -r local tree and remote');
    });

    it('cp -a out of the mount gives a tree that diff -r finds identical', LONG, async t => {
      const { m, b } = await caseDir(t);
      const src = join(b, 'tree');
      // A target that pays an exec per operation copies a smaller tree (same shapes: folders, sizes, a link, modes).
      const [dirCount, fileCount] = target.bulkFiles === undefined ? [5, 20] : [2, 5];
      for (let d = 0; d < dirCount; d++) {
        await mkdir(join(src, `d${d}`, 'deeper'), { recursive: true });
        for (let i = 0; i < fileCount; i++) await writeFile(join(src, `d${d}`, `f${i}`), randomBytes(i * 1000));
        await writeFile(join(src, `d${d}`, 'deeper', 'leaf'), `leaf ${d}\n`);
      }
      await symlink('d0/f1', join(src, 'link'));
      await chmod(join(src, 'd1', 'f2'), 0o755);
      const out = join(await tempDir(t), 'copy');
      ok(await run('cp', ['-a', join(m, 'tree'), out]), 'cp -a');
      ok(await run('diff', ['-r', '--no-dereference', src, out]), 'diff -r');
      assert.equal(await readlink(join(out, 'link')), 'd0/f1');
      assert.equal((await stat(join(out, 'd1', 'f2'))).mode & 0o777, 0o755);
    });

    it('ls -l of a 2,000-entry folder lists all 2,000', LONG, async t => {
      const { m, b } = await caseDir(t);
      await mkdir(join(b, 'many'));
      await makeFiles(join(b, 'many'), 2000);
      const r = ok(await run('ls', ['-l', join(m, 'many')]), 'ls -l');
      const lines = r.stdout.split('\n').filter(l => /^-/.test(l));
      assert.equal(lines.length, 2000);
      assert.equal((await readdir(join(m, 'many'))).length, 2000);
    });

    it('fsync puts written data on the remote before close', async t => {
      const { m, b } = await caseDir(t);
      const data = randomBytes(300_000);
      const fh = await open(join(m, 'f'), 'w');
      try {
        await fh.write(data, 0, data.length, 0);
        await fh.sync();
        assert.equal(sha256(await readFile(join(b, 'f'))), sha256(data));
      } finally {
        await fh.close();
      }
    });

    it('readdir lists files, folders and symlinks with their types', async t => {
      const { m } = await caseDir(t);
      await writeFile(join(m, 'file'), 'x');
      await mkdir(join(m, 'dir'));
      await symlink('file', join(m, 'sym'));
      const entries = await readdir(m, { withFileTypes: true });
      const kinds = Object.fromEntries(entries.map(e => [e.name, e.isFile() ? 'f' : e.isDirectory() ? 'd' : e.isSymbolicLink() ? 'l' : '?']));
      assert.deepEqual(kinds, { dir: 'd', file: 'f', sym: 'l' });
    });
  });
}
