/**
 * Data-safety and permission cases through a real mount of every backend, each run many times in
 * a loop: bytes written through two descriptors land in the kernel's order, appends in the order
 * they were made, `allow_other` lets the kernel check permissions, create modes are exact, and
 * times are kept to the nanosecond (and before 1970) where the remote can store them.
 * The mounted side is touched only asynchronously or from child processes. The remote side is
 * checked after settling the mount that made the change (write-back sends it shortly after).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it as nodeIt, type TestContext, type TestOptions } from 'node:test';
import { runProcess } from '../helpers/cli.ts';
import { requirePart, which } from '../helpers/skip.ts';
import { tempDir } from '../helpers/tmp.ts';
import { settleMount, suiteTarget, type MakeTarget, type PosixTarget } from './posix-suite.ts';
import { mountForOthers } from './targets.ts';

/** How often each case runs: the defects these guard against showed 20 times out of 20. */
const ROUNDS = 20;
const NOBODY = 65534;
/** A python outside /root, which the second user cannot enter. */
const PYTHON = '/usr/bin/python3';

function it(name: string, a: TestOptions | ((t: TestContext) => Promise<void>), b?: (t: TestContext) => Promise<void>): void {
  const [options, fn] = typeof a === 'function' ? [{}, a] : [a, b!];
  nodeIt(name, { timeout: 180_000, ...options }, fn);
}

async function sh(script: string, ...args: string[]): Promise<void> {
  const r = await runProcess('sh', ['-c', script, 'sh', ...args], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `sh -c '${script}' exited ${r.code}: ${r.stderr}`);
}

// One file operation as a second local user; prints OK or the errno name.
const AS_OTHER_PY = [
  'import os, sys, errno',
  'op, a = sys.argv[1], sys.argv[2:]',
  'try:',
  "    if op == 'read':",
  '        fd = os.open(a[0], os.O_RDONLY); os.read(fd, 16); os.close(fd)',
  "    elif op == 'write':",
  "        fd = os.open(a[0], os.O_WRONLY); os.write(fd, b'x'); os.close(fd)",
  "    elif op == 'chmod': os.chmod(a[0], int(a[1], 8))",
  "    elif op == 'chown': os.chown(a[0], int(a[1]), -1)",
  "    elif op == 'unlink': os.unlink(a[0])",
  "    elif op == 'rename': os.rename(a[0], a[1])",
  "    elif op == 'create':",
  "        fd = os.open(a[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644); os.write(fd, b'mine'); os.close(fd)",
  "    print('OK')",
  'except OSError as e:',
  '    print(errno.errorcode.get(e.errno, str(e.errno)))',
].join('\n');

/** Runs one file operation as uid/gid 65534 with no supplementary groups; OK or an errno name. */
async function asOther(op: string, ...args: string[]): Promise<string> {
  const r = await runProcess('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', PYTHON, '-c', AS_OTHER_PY, op, ...args], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${op} as uid ${NOBODY}: ${r.stderr}`);
  return r.stdout.toString().trim();
}

function secondUserSkip(): string | false {
  if (process.getuid?.() !== 0) return requirePart('permission cases need root (to act as a second user with setpriv)');
  if (which('setpriv') === undefined) return requirePart('setpriv not installed (util-linux)');
  if (!existsSync(PYTHON)) return requirePart(`${PYTHON} not installed`);
  return false;
}

/** Nanoseconds since the epoch of a Timespec-like pair, for comparing with BigIntStats. */
function ns(sec: number, nsec: number): bigint {
  return BigInt(sec) * 1_000_000_000n + BigInt(nsec);
}

/** `touch -d @…` spelling of a time in nanoseconds since the epoch ("-1.5" is 1.5 s before it). */
function decimal(total: bigint): string {
  const sign = total < 0n ? '-' : '';
  const abs = total < 0n ? -total : total;
  return `${sign}${abs / 1_000_000_000n}.${String(abs % 1_000_000_000n).padStart(9, '0')}`;
}

/** Registers the cases for one target (made once for the suite; cleaned up through its hook). */
export function correctnessSuite(name: string, makeTarget: MakeTarget, options: { skip?: string | false } = {}): void {
  describe(`data safety and permissions through a mount: ${name}`, { skip: options.skip ?? false }, () => {
    let target!: PosixTarget;
    let serial = 0;
    const hook = suiteTarget(makeTarget, made => { target = made; });

    /** A fresh folder for one case, made through `mnt` and settled, so a case may use `b` at once. */
    async function caseDir(t: TestContext, mnt = target.mnt): Promise<{ m: string; b: string }> {
      const slug = `c${String(++serial).padStart(2, '0')}-${t.name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 50)}`;
      await mkdir(join(mnt, slug));
      await settleMount(mnt);
      return { m: join(mnt, slug), b: join(target.back, slug) };
    }

    it('a later write through a second process wins over an earlier one kept open', async t => {
      const { m, b } = await caseDir(t);
      for (let i = 0; i < ROUNDS; i++) {
        const f = join(m, `f${i}`);
        await writeFile(f, '');
        const a = await open(f, 'r+');
        try {
          await a.write('AAAA', 0);
          await sh('printf BBBB 1<>"$1"', f);
        } finally {
          await a.close();
        }
        await target.settle();
        assert.equal(await readFile(join(b, `f${i}`), 'utf8'), 'BBBB', `round ${i}, remote side`);
        assert.equal(await readFile(f, 'utf8'), 'BBBB', `round ${i}, through the mount`);
      }
    });

    it('an append through a second process lands after an earlier append kept open', async t => {
      const { m, b } = await caseDir(t);
      for (let i = 0; i < ROUNDS; i++) {
        const f = join(m, `f${i}`);
        await writeFile(f, '');
        const a = await open(f, 'a');
        try {
          await a.write('first\n');
          await sh('printf "second\\n" >> "$1"', f);
        } finally {
          await a.close();
        }
        await target.settle();
        assert.equal(await readFile(join(b, `f${i}`), 'utf8'), 'first\nsecond\n', `round ${i}`);
      }
    });

    it('an append after a positioned write through another descriptor goes after its bytes', async t => {
      const { m, b } = await caseDir(t);
      for (let i = 0; i < ROUNDS; i++) {
        const f = join(m, `f${i}`);
        await writeFile(f, '');
        const one = await open(f, 'r+');
        const app = await open(f, 'a');
        try {
          await one.write(Buffer.alloc(20, 'x'), 0, 20, 0);
          await app.write('APP');
          assert.equal((await app.stat()).size, 23, `round ${i}, size through the appending descriptor`);
        } finally {
          await app.close();
          await one.close();
        }
        await target.settle();
        assert.equal(await readFile(join(b, `f${i}`), 'utf8'), `${'x'.repeat(20)}APP`, `round ${i}`);
      }
    });

    it('a read through a second descriptor right after a write sees it', async t => {
      const { m } = await caseDir(t);
      for (let i = 0; i < ROUNDS; i++) {
        const f = join(m, `f${i}`);
        await writeFile(f, 'old old');
        const w = await open(f, 'r+');
        const r = await open(f, 'r');
        try {
          await w.write(`new${i}`, 0);
          const buf = Buffer.alloc(16);
          const { bytesRead } = await r.read(buf, 0, 16, 0);
          assert.equal(buf.subarray(0, bytesRead).toString(), `new${i}${'old old'.slice(`new${i}`.length)}`, `round ${i}`);
        } finally {
          await r.close();
          await w.close();
        }
      }
    });

    it('two writers at interleaved offsets with a reader between them give the last bytes written', async t => {
      const { m, b } = await caseDir(t);
      for (let i = 0; i < ROUNDS; i++) {
        const f = join(m, `f${i}`);
        await writeFile(f, '');
        const x = await open(f, 'r+');
        const y = await open(f, 'r+');
        const r = await open(f, 'r');
        try {
          await x.write('aaaa', 0);
          await y.write('bb', 2);
          const buf = Buffer.alloc(8);
          const { bytesRead } = await r.read(buf, 0, 8, 0);
          assert.equal(buf.subarray(0, bytesRead).toString(), 'aabb', `round ${i}, reader`);
          await x.write('c', 3);
        } finally {
          await r.close();
          await y.close();
          await x.close();
        }
        await target.settle();
        assert.equal(await readFile(join(b, `f${i}`), 'utf8'), 'aabc', `round ${i}`);
      }
    });

    it('O_APPEND from 4 processes x 100 lines keeps every line exactly once', async t => {
      const { m, b } = await caseDir(t);
      for (let round = 0; round < 3; round++) {
        const f = join(m, `log${round}`);
        await writeFile(f, '');
        const script = 'exec 3>>"$2"; i=0; while [ $i -lt 100 ]; do echo "p$1-$i" >&3; i=$((i+1)); done';
        await Promise.all([1, 2, 3, 4].map(p => sh(script, String(p), f)));
        await target.settle();
        const lines = (await readFile(join(b, `log${round}`), 'utf8')).split('\n').filter(l => l !== '');
        const expected = [1, 2, 3, 4].flatMap(p => Array.from({ length: 100 }, (_, i) => `p${p}-${i}`));
        assert.deepEqual([...lines].sort(), expected.sort(), `round ${round}`);
        for (const p of [1, 2, 3, 4]) {
          const mine = lines.filter(l => l.startsWith(`p${p}-`)).map(l => Number(l.split('-')[1]));
          assert.deepEqual(mine, [...mine].sort((x, y) => x - y), `round ${round}: process ${p}'s lines in its own order`);
        }
      }
    });

    it('create modes are kept exactly under umask 0, as on a local disk', async t => {
      const { m, b } = await caseDir(t);
      const disk = await tempDir(t);
      const old = process.umask(0);
      try {
        for (let i = 0; i < ROUNDS; i++) {
          for (const mode of [0o777, 0o620, 0o4755, 0o2775]) {
            const name = `f${i}-${mode.toString(8)}`;
            await (await open(join(disk, name), 'wx', mode)).close();
            await (await open(join(m, name), 'wx', mode)).close();
            const want = (await lstat(join(disk, name))).mode & 0o7777;
            assert.equal((await lstat(join(m, name))).mode & 0o7777, want, `file ${name}`);
            await target.settle();
            assert.equal((await lstat(join(b, name))).mode & 0o7777, want, `file ${name} on the remote`);
          }
          for (const mode of [0o777, 0o1777, 0o2775, 0o750]) {
            const name = `d${i}-${mode.toString(8)}`;
            await mkdir(join(disk, name), { mode });
            await mkdir(join(m, name), { mode });
            const want = (await lstat(join(disk, name))).mode & 0o7777;
            assert.equal((await lstat(join(m, name))).mode & 0o7777, want, `folder ${name}`);
          }
        }
      } finally {
        process.umask(old);
      }
    });

    it('times before 1970 and with nanoseconds are kept exactly', async t => {
      if (!target.nanosecondTimes) return t.skip('the remote stores whole seconds after 1970 (SFTP v3)');
      const { m, b } = await caseDir(t);
      const cases: Array<[number, number]> = [[1_700_000_000, 123_456_789], [1_700_000_000, 123_456_000], [-31_536_000, 500_000_000], [-1, 999_999_999], [0, 1]];
      for (let i = 0; i < ROUNDS; i++) {
        const [sec, nsec] = cases[i % cases.length]!;
        const f = join(m, `f${i}`);
        await writeFile(f, 'x');
        await sh('touch -m -d "@$1" "$2" && touch -a -d "@$3" "$2"', decimal(ns(sec, nsec)), f, '1600000000.5');
        await target.settle();
        for (const path of [f, join(b, `f${i}`)]) {
          const st = await stat(path, { bigint: true });
          assert.equal(st.mtimeNs, ns(sec, nsec), `round ${i}: mtime of ${path}`);
          assert.equal(st.atimeNs, ns(1_600_000_000, 500_000_000), `round ${i}: atime of ${path}`);
        }
      }
    });

    describe('with allow_other, as a second local user', { skip: secondUserSkip() }, () => {
      let mnt: string;
      before(async () => { mnt = await mountForOthers(target, hook); }, { timeout: 180_000 });

      it('reads, writes and changes only what mode bits and ownership allow', async t => {
        const { m, b } = await caseDir(t, mnt);
        await chmod(b, 0o755);
        for (let i = 0; i < ROUNDS; i++) {
          await writeFile(join(b, `secret${i}`), 'secret');
          await chmod(join(b, `secret${i}`), 0o600);
          await writeFile(join(b, `pub${i}`), 'public');
          await chmod(join(b, `pub${i}`), 0o644);
          await writeFile(join(b, `mine${i}`), 'mine');
          await chmod(join(b, `mine${i}`), 0o600);
          await chown(join(b, `mine${i}`), NOBODY, NOBODY);
          assert.equal(await asOther('read', join(m, `secret${i}`)), 'EACCES', `round ${i}: read of a 0600 file of root`);
          assert.equal(await asOther('read', join(m, `pub${i}`)), 'OK', `round ${i}: read of a 0644 file`);
          assert.equal(await asOther('write', join(m, `pub${i}`)), 'EACCES', `round ${i}: write of a 0644 file of root`);
          assert.equal(await asOther('chown', join(m, `pub${i}`), String(NOBODY)), 'EPERM', `round ${i}: chown`);
          assert.equal(await asOther('chmod', join(m, `pub${i}`), '666'), 'EPERM', `round ${i}: chmod`);
          assert.equal(await asOther('unlink', join(m, `pub${i}`)), 'EACCES', `round ${i}: unlink in a folder of root`);
          assert.equal(await asOther('rename', join(m, `pub${i}`), join(m, `moved${i}`)), 'EACCES', `round ${i}: rename`);
          assert.equal(await asOther('read', join(m, `mine${i}`)), 'OK', `round ${i}: read of its own 0600 file`);
          assert.equal(await asOther('write', join(m, `mine${i}`)), 'OK', `round ${i}: write of its own file`);
          assert.equal(await asOther('chmod', join(m, `mine${i}`), '640'), 'OK', `round ${i}: chmod of its own file`);
          await settleMount(mnt);
          const pub = await lstat(join(b, `pub${i}`));
          assert.equal(pub.mode & 0o7777, 0o644, `round ${i}: the refused chmod left the mode`);
          assert.equal(pub.uid, 0, `round ${i}: the refused chown left the owner`);
          assert.equal(await readFile(join(b, `pub${i}`), 'utf8'), 'public');
          assert.equal((await lstat(join(b, `mine${i}`))).mode & 0o7777, 0o640);
        }
      });

      it('a sticky folder lets a user remove only its own files', async t => {
        const { m, b } = await caseDir(t, mnt);
        await chmod(m, 0o1777);
        for (let i = 0; i < ROUNDS; i++) {
          await writeFile(join(b, `root${i}`), 'r');
          await chmod(join(b, `root${i}`), 0o666);
          await writeFile(join(b, `other${i}`), 'o');
          await chown(join(b, `other${i}`), NOBODY, NOBODY);
          assert.equal(await asOther('unlink', join(m, `root${i}`)), 'EPERM', `round ${i}: another's file in a sticky folder`);
          assert.equal(await asOther('unlink', join(m, `other${i}`)), 'OK', `round ${i}: its own file`);
          assert.equal(await asOther('create', join(m, `new${i}`)), 'OK', `round ${i}: create in a world-writable folder`);
          await settleMount(mnt);
          assert.equal(await readFile(join(b, `root${i}`), 'utf8'), 'r');
          assert.equal(await readFile(join(b, `new${i}`), 'utf8'), 'mine');
          await rm(join(b, `new${i}`));
        }
      });
    });
  });
}
