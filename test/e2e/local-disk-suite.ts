/**
 * "As on a local disk": special files, owners of what other local users make, long paths, and
 * attributes kept current, through a real mount of each backend, each case held against what the
 * same operation gives on this machine's own disk. Targets that cannot do a thing (plain SFTP has
 * no request for FIFOs and takes no path past PATH_MAX) are held to the clear error they give.
 *
 * With RMOUNT_POSIX_STRICT=1 every target is held to the local disk, with no allowance: the closing
 * notes count the cases that pass that way per target, before and after a change.
 * The mounted side is touched only asynchronously or from child processes. The remote side is
 * checked after settling the mount that made the change (write-back sends it shortly after).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { appendFile, chmod, chown, lstat, mkdir, mkdtemp, open, readdir, readFile, readlink, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { before, describe, it as nodeIt, type TestContext, type TestOptions } from 'node:test';
import { runProcess } from '../helpers/cli.ts';
import { requirePart, which } from '../helpers/skip.ts';
import type { AfterHook } from '../helpers/sshd.ts';
import { settleMount, suiteTarget, type PosixTarget } from './posix-suite.ts';
import { mountForOthers, type Target } from './targets.ts';

const STRICT = process.env.RMOUNT_POSIX_STRICT === '1';
const NOBODY = 65534;
const PYTHON = '/usr/bin/python3';
const ROOT = process.getuid?.() === 0;

function it(name: string, a: TestOptions | ((t: TestContext) => Promise<void>), b?: (t: TestContext) => Promise<void>): void {
  const [options, fn] = typeof a === 'function' ? [{}, a] : [a, b!];
  nodeIt(name, { timeout: 180_000, ...options }, fn);
}

function secondUserSkip(): string | false {
  if (!ROOT) return requirePart('owner cases need root (to act as a second user with setpriv)');
  if (which('setpriv') === undefined) return requirePart('setpriv not installed (util-linux)');
  if (!existsSync(PYTHON)) return requirePart(`${PYTHON} not installed`);
  return false;
}
const pythonSkip = existsSync(PYTHON) ? false : requirePart(`${PYTHON} not installed`);

// File operations as python does them; prints OK or the errno name. `as-is` runs as the test's user.
const OPS_PY = [
  'import os, sys, errno',
  'op, a = sys.argv[1], sys.argv[2:]',
  'try:',
  "    if op == 'create':",
  "        fd = os.open(a[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644); os.write(fd, b'mine'); os.close(fd)",
  "    elif op == 'mkdir': os.mkdir(a[0], 0o755)",
  "    elif op == 'symlink': os.symlink('target', a[0])",
  "    elif op == 'mkfifo': os.mkfifo(a[0], 0o640)",
  "    elif op == 'chmod': os.chmod(a[0], int(a[1], 8))",
  "    elif op == 'longpath':",
  // Walks down by descriptor, as a program that chdir'd into the mount would, so the local path never passes PATH_MAX.
  '        depth, comp = int(a[1]), a[2]',
  '        fds = [os.open(a[0], os.O_RDONLY | os.O_DIRECTORY)]',
  '        for i in range(depth):',
  '            os.mkdir(comp + str(i), 0o755, dir_fd=fds[-1])',
  '            fds.append(os.open(comp + str(i), os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))',
  '        fd = fds[-1]',
  "        f = os.open('file', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=fd); os.write(f, b'deep'); os.close(f)",
  "        assert os.stat('file', dir_fd=fd).st_size == 4",
  "        os.rename('file', 'moved', src_dir_fd=fd, dst_dir_fd=fd)",
  "        f = os.open('moved', os.O_RDONLY, dir_fd=fd); data = os.read(f, 16); os.close(f)",
  "        assert data == b'deep', data",
  "        os.mkdir('sub', 0o700, dir_fd=fd); os.rmdir('sub', dir_fd=fd)",
  "        os.unlink('moved', dir_fd=fd)",
  "        assert os.listdir(fd) == [], os.listdir(fd)",
  // Removed level by level: a recursive rm by path would pass PATH_MAX too.
  '        for i in reversed(range(depth)):',
  '            os.close(fds.pop()); os.rmdir(comp + str(i), dir_fd=fds[-1])',
  '        os.close(fds.pop())',
  "    print('OK')",
  'except OSError as e:',
  '    print(errno.errorcode.get(e.errno, str(e.errno)))',
].join('\n');

/** Runs one operation of OPS_PY, as uid/gid 65534 with no supplementary groups when `other`. */
async function op(other: boolean, name: string, ...args: string[]): Promise<string> {
  const argv = [PYTHON, '-c', OPS_PY, name, ...args];
  const r = other
    ? await runProcess('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', ...argv], { timeoutMs: 120_000 })
    : await runProcess(argv[0]!, argv.slice(1), { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${name} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString().trim();
}

/** Runs a shell line; resolves with its outcome. */
async function sh(script: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await runProcess('sh', ['-c', script, 'sh', ...args], { timeoutMs: 120_000 });
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Linux's makedev for small numbers. */
function makedev(major: number, minor: number): number {
  return (major << 8) | (minor & 0xff) | ((minor & ~0xff) << 12);
}

/** Registers the cases for one target (made once for the suite; cleaned up through its hook). */
export function localDiskSuite(name: string, makeTarget: (hook: AfterHook) => Promise<Target>, options: { skip?: string | false } = {}): void {
  describe(`as on a local disk, through a mount: ${name}`, { skip: options.skip ?? false }, () => {
    let target!: Target;
    let serial = 0;
    let disk!: string;
    const hook = suiteTarget(makeTarget as (hook: AfterHook) => Promise<PosixTarget>, made => { target = made as Target; });
    before(async () => {
      disk = await mkdtemp(join(tmpdir(), 'rmount-disk-'));
      // The second user must be able to reach the local-disk twin of each case.
      await chmod(disk, 0o755);
      hook.after(() => rm(disk, { recursive: true, force: true }));
    });
    /** Whether the target is held to the local disk in this case. */
    const can = (): boolean => STRICT || target.agent;

    /** A fresh folder for one case, made through `mnt` and settled (so a case may use `b` at once), and its local-disk twin `d`. */
    async function caseDir(t: TestContext, mnt = target.mnt): Promise<{ m: string; b: string; d: string }> {
      const slug = `c${String(++serial).padStart(2, '0')}`;
      await mkdir(join(mnt, slug));
      await settleMount(mnt);
      const d = join(disk, `${slug}-${t.name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 40)}`);
      await mkdir(d);
      return { m: join(mnt, slug), b: join(target.back, slug), d };
    }

    it('mkfifo makes a FIFO that a writer and a reader in two processes talk through', async t => {
      const { m, b } = await caseDir(t);
      const made = await sh('mkfifo -m 640 "$1"', join(m, 'fifo'));
      if (!can()) {
        assert.notEqual(made.code, 0);
        assert.match(made.stderr, /Operation not permitted/);
        return;
      }
      assert.equal(made.code, 0, made.stderr);
      await target.settle();
      const st = await lstat(join(b, 'fifo'));
      assert.ok(st.isFIFO(), 'a FIFO on the remote');
      assert.equal(st.mode & 0o7777, 0o640);
      assert.ok((await lstat(join(m, 'fifo'))).isFIFO(), 'a FIFO through the mount');
      const [reader, writer] = await Promise.all([
        sh('cat "$1"', join(m, 'fifo')),
        sh('printf "through the fifo" > "$1"', join(m, 'fifo')),
      ]);
      assert.equal(writer.code, 0, writer.stderr);
      assert.equal(reader.stdout, 'through the fifo');
    });

    it('mknod of a character device as root makes it on the remote with its numbers', { skip: ROOT ? false : requirePart('mknod of a device needs root') }, async t => {
      const { m, b, d } = await caseDir(t);
      const local = await sh('mknod -m 600 "$1" c 1 3', join(d, 'null'));
      assert.equal(local.code, 0, `the local disk: ${local.stderr}`);
      const made = await sh('mknod -m 600 "$1" c 1 3', join(m, 'null'));
      if (!can()) {
        assert.notEqual(made.code, 0);
        return;
      }
      assert.equal(made.code, 0, made.stderr);
      await target.settle();
      for (const path of [join(b, 'null'), join(m, 'null')]) {
        const st = await lstat(path);
        assert.ok(st.isCharacterDevice(), `${path} is a character device`);
        assert.equal(st.rdev, makedev(1, 3), `${path} is 1:3`);
        assert.equal(st.mode & 0o7777, 0o600);
      }
    });

    it('a socket bound in the mount takes a connection from another process', async t => {
      const { m, b } = await caseDir(t);
      const path = join(m, 's');
      const server = createServer(c => { c.once('data', d => c.end(`pong ${d}`)); });
      t.after(() => new Promise<void>(r => { server.close(() => r()); }));
      const listening = new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => resolve());
      });
      if (!can()) {
        await assert.rejects(listening, { code: 'EPERM' });
        return;
      }
      await listening;
      await target.settle();
      assert.ok((await lstat(join(b, 's'))).isSocket(), 'a socket file on the remote');
      const client = await runProcess(process.execPath, ['-e', `
        const c = require('node:net').connect(process.argv[1], () => c.write('ping'));
        c.setEncoding('utf8'); let got = ''; c.on('data', d => { got += d; }); c.on('end', () => process.stdout.write(got));
      `, path], { timeoutMs: 60_000 });
      assert.equal(client.code, 0, client.stderr.toString());
      assert.equal(client.stdout.toString(), 'pong ping');
    });

    describe('with allow_other, as a second local user', { skip: secondUserSkip() }, () => {
      let mnt: string;
      before(async () => { mnt = await mountForOthers(target, hook); }, { timeout: 180_000 });

      it('what another user makes belongs to that user', async t => {
        const { m, b, d } = await caseDir(t, mnt);
        await chmod(m, 0o1777);
        await chmod(d, 0o1777);
        const kinds = ['create', 'mkdir', 'symlink', ...(can() ? ['mkfifo'] : [])];
        for (const kind of kinds) {
          assert.equal(await op(true, kind, join(d, kind)), 'OK', `${kind} on the local disk`);
          assert.equal(await op(true, kind, join(m, kind)), 'OK', `${kind} through the mount`);
          await settleMount(mnt);
          const want = await lstat(join(d, kind));
          for (const path of [join(b, kind), join(m, kind)]) {
            const st = await lstat(path);
            assert.deepEqual([st.uid, st.gid], [want.uid, want.gid], `owner of ${path}, made by uid ${NOBODY}`);
            if (kind !== 'symlink') assert.equal(st.mode & 0o7777, want.mode & 0o7777, `mode of ${path}`);
          }
        }
      });

      it('chmod g+s by a user outside the file\'s group clears set-group-ID', async t => {
        const { m, b, d } = await caseDir(t, mnt);
        for (const folder of [b, d]) {
          await chmod(folder, 0o755);
          await writeFile(join(folder, 'f'), 'x');
          await chown(join(folder, 'f'), NOBODY, 0);
          await chmod(join(folder, 'f'), 0o644);
        }
        assert.equal(await op(true, 'chmod', join(d, 'f'), '2755'), 'OK');
        assert.equal(await op(true, 'chmod', join(m, 'f'), '2755'), 'OK');
        await settleMount(mnt);
        const want = (await lstat(join(d, 'f'))).mode & 0o7777;
        assert.equal(want, 0o755, 'the local disk clears it');
        assert.equal((await lstat(join(b, 'f'))).mode & 0o7777, want, 'on the remote');
        assert.equal((await stat(join(m, 'f'))).mode & 0o7777, want, 'through the mount');
      });
    });

    it('a path of 4,000 bytes inside a mount whose remote root is over 200 bytes long works', { skip: pythonSkip }, async t => {
      const sub = `long-root-${'r'.repeat(190)}`;
      await mkdir(join(target.back, sub));
      const mnt = await target.remountAt(t, sub, []);
      const depth = 20;
      const comp = 'd'.repeat(196);
      assert.equal(await op(false, 'longpath', disk, String(depth), comp), 'OK', 'the local disk');
      const got = await op(false, 'longpath', mnt, String(depth), comp);
      assert.equal(got, can() ? 'OK' : 'ENAMETOOLONG');
    });

    it('a read right after the file grew on the remote returns the new bytes', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(b, 'f'), 'first');
      // Where the remote is watched, a change made there otherwise than through rmount exec (here:
      // straight on its disk) shows within the watch's latency: opens and names missing from a
      // kept listing are trusted to the watch. Elsewhere an open asks the remote (close-to-open).
      for (const deadline = Date.now() + 5000; target.watch && !existsSync(join(m, 'f')) && Date.now() < deadline;) {
        await new Promise(r => setTimeout(r, 50));
      }
      for (let i = 0; i < 10; i++) {
        const before = await readFile(join(m, 'f'), 'utf8');
        await appendFile(join(b, 'f'), `+${i}`);
        const want = await readFile(join(b, 'f'), 'utf8');
        let after = await readFile(join(m, 'f'), 'utf8');
        for (const deadline = Date.now() + 5000; target.watch && after !== want && Date.now() < deadline;) {
          await new Promise(r => setTimeout(r, 50));
          after = await readFile(join(m, 'f'), 'utf8');
        }
        assert.equal(after, want, `round ${i}: read after the remote append (before: ${before})`);
      }
    });

    it('a change made on the remote shows through every cache: attributes, listings, missing names, symlinks, contents', async t => {
      const { m, b } = await caseDir(t);
      await writeFile(join(b, 'small'), 'one');
      await writeFile(join(b, 'gone'), 'x');
      await mkdir(join(b, 'sub'));
      await writeFile(join(b, 'sub', 'deep'), 'deep');
      await symlink('small', join(b, 'link'));
      // Warm every cache: listings, attributes, a name known missing, a symlink, small contents.
      const look = async () => ({
        names: (await readdir(m)).sort().join(','),
        deep: (await readdir(join(m, 'sub'))).sort().join('\n'),
        mode: ((await stat(join(m, 'small'))).mode & 0o777).toString(8),
        small: await readFile(join(m, 'small'), 'utf8'),
        missing: existsSync(join(m, 'later')),
        link: await readlink(join(m, 'link')),
      });
      const warm = await look();
      assert.deepEqual(warm, { names: 'gone,link,small,sub', deep: 'deep', mode: '644', small: 'one', missing: false, link: 'small' });
      await look();
      await writeFile(join(b, 'small'), 'two!');
      await chmod(join(b, 'small'), 0o600);
      await unlink(join(b, 'gone'));
      await writeFile(join(b, 'later'), 'new');
      await writeFile(join(b, 'sub', 'deeper'), 'x');
      await unlink(join(b, 'link'));
      await symlink('later', join(b, 'link'));
      const want = { names: 'later,link,small,sub', deep: 'deep\ndeeper', mode: '600', small: 'two!', missing: true, link: 'later' };
      // Within the watch's latency where the remote is watched, within cache_timeout (2 s) elsewhere.
      let seen = await look();
      for (const deadline = Date.now() + 15_000; JSON.stringify(seen) !== JSON.stringify(want) && Date.now() < deadline;) {
        await new Promise(r => setTimeout(r, 100));
        seen = await look();
      }
      assert.deepEqual(seen, want);
    });

    it('what a command run through rmount exec changed shows as soon as it returns, through every cache', async t => {
      // Mounted as users get it: opens and missing names trusted to the watch where there is one.
      const trusting = await target.mountTrusting(t);
      const { m } = await caseDir(t, trusting.mnt);
      await writeFile(join(m, 'small'), 'one');
      await writeFile(join(m, 'big'), Buffer.alloc(1 << 20, 1));
      const look = async () => ({
        names: (await readdir(m)).sort().join(','),
        small: await readFile(join(m, 'small'), 'utf8'),
        big: existsSync(join(m, 'big')),
        later: existsSync(join(m, 'later')) ? await readFile(join(m, 'later'), 'utf8') : 'missing',
        deep: existsSync(join(m, 'sub', 'deep')),
      });
      assert.deepEqual(await look(), { names: 'big,small', small: 'one', big: true, later: 'missing', deep: false });
      await look();
      const r = await trusting.cli(['exec', '--in', m, '--', 'sh', '-c', 'printf two! > small && printf new > later && rm big && mkdir sub && printf x > sub/deep']);
      assert.equal(r.code, 0, r.stderr.toString());
      const want = { names: 'later,small,sub', small: 'two!', later: 'new', big: false, deep: true };
      // The exec returns only once its changes are past every cache: where the remote is watched,
      // after the watch's barrier; elsewhere the caches here distrust what they read before it, and
      // the kernel is told to drop what it was handed. The first look is right.
      assert.deepEqual(await look(), want);
    });

    it('names made, removed and renamed on the remote show in folders listed before, mounted as users get it', async t => {
      // As users get it: where the watch is trusted, the kernel keeps folders' entries across opens.
      const trusting = await target.mountTrusting(t);
      const { m, b } = await caseDir(t, trusting.mnt);
      await writeFile(join(b, 'a'), 'a');
      await writeFile(join(b, 'b'), 'b');
      await mkdir(join(b, 'sub'));
      // Made on the remote a moment ago: until the watch's event comes, `sub` may still be missing.
      const look = async (): Promise<string> => `${(await readdir(m)).sort().join(',')}|${await readdir(join(m, 'sub')).then(n => n.sort().join(','), () => 'missing')}`;
      // Within the watch's latency where the remote is watched, within cache_timeout (2 s) elsewhere.
      const until = async (want: string, step: string): Promise<void> => {
        let seen = await look();
        for (const deadline = Date.now() + 15_000; seen !== want && Date.now() < deadline;) {
          await new Promise(r => setTimeout(r, 100));
          seen = await look();
        }
        assert.equal(seen, want, step);
      };
      await until('a,b,sub|', 'the first listing');
      // Listed again, no name looked up: this one may come from what the kernel kept.
      assert.equal(await look(), 'a,b,sub|');
      // Names no one here ever looked up: the kernel has no entry of its own for them.
      await writeFile(join(b, 'fresh'), 'new');
      await writeFile(join(b, 'sub', 'deep'), 'x');
      await until('a,b,fresh,sub|deep', 'names made on the remote');
      await unlink(join(b, 'a'));
      await rename(join(b, 'b'), join(b, 'c'));
      await until('c,fresh,sub|deep', 'a name removed and one renamed on the remote');
    });

    it('fstat of an open file whose name was removed says nlink 0', async t => {
      const { m, d } = await caseDir(t);
      for (const folder of [d, m]) {
        await writeFile(join(folder, 'f'), 'x');
        const fh = await open(join(folder, 'f'), 'r');
        try {
          await unlink(join(folder, 'f'));
          assert.equal((await fh.stat()).nlink, 0, `fstat in ${folder === d ? 'the local disk' : 'the mount'}`);
        } finally {
          await fh.close();
        }
      }
    });

    it('inode numbers are the remote\'s, in stat and in readdir, and hard links share one', { skip: pythonSkip }, async t => {
      if (!can()) return t.skip('plain SFTP reports no inode numbers');
      const { m, b } = await caseDir(t);
      // Made on the remote: its numbers from the start.
      await writeFile(join(b, 'r'), 'x');
      await mkdir(join(b, 'rd'));
      // Made through the mount: the journal answers before the remote numbers them, so they keep
      // the number they were first shown (a file's number never changes while it is in use; tar
      // checks it for its folder). With writeback=off they show the remote's from the start.
      await writeFile(join(m, 'f'), 'x');
      await mkdir(join(m, 'd'));
      const first = { f: (await lstat(join(m, 'f'))).ino, d: (await lstat(join(m, 'd'))).ino };
      await sh('ln "$1" "$2"', join(m, 'f'), join(m, 'g'));
      await target.settle();
      for (const name of ['r', 'rd']) assert.equal((await lstat(join(m, name))).ino, (await lstat(join(b, name))).ino, `st_ino of ${name}`);
      assert.equal((await lstat(join(m, 'f'))).ino, first.f, 'st_ino of f is kept once it is on the remote');
      assert.equal((await lstat(join(m, 'd'))).ino, first.d, 'st_ino of d is kept once it is on the remote');
      assert.equal((await lstat(join(m, 'g'))).ino, first.f, 'hard links share one number');
      const scan = async (dir: string): Promise<Record<string, number>> => JSON.parse((await runProcess(PYTHON, ['-c', 'import os, sys, json; print(json.dumps({e.name: e.inode() for e in os.scandir(sys.argv[1])}))', dir], { timeoutMs: 60_000 })).stdout.toString()) as Record<string, number>;
      const inodes = await scan(m);
      for (const name of ['f', 'd', 'g', 'r', 'rd']) assert.equal(inodes[name], (await lstat(join(m, name))).ino, `d_ino of ${name}`);
      const off = join(await target.remount(t, ['writeback=off']), b.slice(target.back.length + 1));
      await writeFile(join(off, 'h'), 'x');
      await mkdir(join(off, 'e'));
      await sh('ln "$1" "$2"', join(off, 'h'), join(off, 'i'));
      const offInodes = await scan(off);
      for (const name of ['h', 'e', 'i']) {
        assert.equal((await lstat(join(off, name))).ino, (await lstat(join(b, name))).ino, `st_ino of ${name} with writeback=off`);
        assert.equal(offInodes[name], (await lstat(join(b, name))).ino, `d_ino of ${name} with writeback=off`);
      }
    });

    it('ctime and link counts follow chmod, chown, link, rename and truncate made through the mount', async t => {
      if (!can()) return t.skip('plain SFTP reports neither ctime nor link counts');
      const { m, b } = await caseDir(t);
      await writeFile(join(m, 'f'), 'content');
      const steps: [string, () => Promise<unknown>, string][] = [
        ['chmod', () => chmod(join(m, 'f'), 0o600), 'f'],
        ['chown', () => chown(join(m, 'f'), process.getuid!(), process.getgid!()), 'f'],
        ['link', () => sh('ln "$1" "$2"', join(m, 'f'), join(m, 'g')), 'g'],
        ['rename', () => sh('mv "$1" "$2"', join(m, 'g'), join(m, 'h')), 'h'],
        ['truncate', () => sh('truncate -s 3 "$1"', join(m, 'h')), 'h'],
      ];
      for (const [what, change, name] of steps) {
        // ctime has the remote's clock granularity: wait past it so every step moves it.
        await new Promise(r => setTimeout(r, 20));
        await change();
        await target.settle();
        const remote = await lstat(join(b, name), { bigint: true });
        const seen = await lstat(join(m, name), { bigint: true });
        assert.equal(seen.ctimeNs, remote.ctimeNs, `ctime after ${what}`);
        assert.equal(seen.nlink, remote.nlink, `nlink after ${what}`);
        assert.equal(seen.size, remote.size, `size after ${what}`);
      }
    });
  });
}
