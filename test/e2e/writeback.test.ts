/**
 * The write-back journal through a real mount of a real sshd (behind a fault proxy), over the sftp
 * subsystem and through rmount-agent: changes are answered at once, reach the server in the
 * background, barriers are exact, a killed daemon loses nothing, refusals and conflicts are told.
 * The server's folder is on this machine, so the tests look at it directly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, writeFile, lstat, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { goSkipReason } from '../agent/agent-binary.ts';
import { alive, cliFor, fuseSkipReason, isMounted, mountFor, waitFor, type TestMount } from '../helpers/mount.ts';
import { proxiedSshd, type ProxiedSshd } from '../helpers/proxied-sshd.ts';
import { sshdSkipReason, type AfterHook } from '../helpers/sshd.ts';
import { tempDir } from '../helpers/tmp.ts';

const LONG = { timeout: 300_000 };
const TIMEOUT_S = 10;

/** Every file under `dir` (relative path → SHA-256 and mode; symlinks → their target). */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const st = await lstat(p);
      const rel = relative(dir, p);
      if (st.isSymbolicLink()) out.set(rel, `link ${await readlink(p)}`);
      else if (st.isDirectory()) {
        out.set(rel, `dir ${(st.mode & 0o7777).toString(8)}`);
        await walk(p);
      } else out.set(rel, `file ${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(await readFile(p)).digest('hex')}`);
    }
  };
  await walk(dir);
  return out;
}

/** A source tree of `n` files in nested folders, with modes and symlinks. */
async function makeTree(dir: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const sub = join(dir, `d${i % 7}`, `e${i % 3}`);
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, `f${i}.txt`), `file ${i}\n`.repeat(1 + (i % 50)), { mode: i % 5 === 0 ? 0o755 : 0o644 });
  }
  await writeFile(join(dir, 'big.bin'), Buffer.alloc(3 << 20, 7));
  const { symlink } = await import('node:fs/promises');
  await symlink('d0/e0/f0.txt', join(dir, 'link'));
}

function run(cmd: string, args: string[], cwd?: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', code => resolve({ code, stderr }));
  });
}

interface WriteBackJson {
  pendingOps: number;
  failed: { op: string; path: string; code: string }[];
  conflicts: { path: string; keptAs: string }[];
}

async function writeBackStatus(m: TestMount): Promise<WriteBackJson> {
  const r = await cliFor(m, ['status', '--json']);
  const all = JSON.parse(r.stdout.toString()) as { mountpoint: string; writeBack?: WriteBackJson }[];
  const mine = all.find(s => s.mountpoint === m.mountpoint);
  assert.ok(mine?.writeBack !== undefined, `status --json has writeBack: ${r.stdout}`);
  return mine.writeBack;
}

/** Waits until the mount says its link is down (keepalives unanswered), so that cached answers serve. */
async function linkDown(m: TestMount): Promise<void> {
  const down = await waitFor(async () => {
    const r = await cliFor(m, ['status', '--json']);
    const s = (JSON.parse(r.stdout.toString()) as { mountpoint: string; health?: string }[]).find(x => x.mountpoint === m.mountpoint);
    return s !== undefined && s.health !== 'ready';
  }, 60_000, 250);
  assert.ok(down, 'the mount noticed the blackhole');
}

for (const agent of ['no', 'yes'] as const) {
  const skip = fuseSkipReason() || sshdSkipReason() || (agent === 'yes' && goSkipReason());
  describe(`write-back journal over ssh (${agent === 'yes' ? 'rmount-agent' : 'sftp subsystem'})`, { skip }, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
    let server: ProxiedSshd;
    let state: string;

    before(async () => {
      server = await proxiedSshd(hook);
      state = await tempDir(hook, 'rmount-state-');
    }, LONG);
    after(async () => {
      server?.proxy.restore();
      for (const fn of cleanups.reverse()) await fn();
    }, LONG);

    function mount(t: AfterHook, o: string[] = [], sub = ''): Promise<TestMount> {
      return mountFor(t, `${server.dest}${sub}`, { o: [`agent=${agent}`, `timeout=${TIMEOUT_S}`, ...o], extraArgs: server.extraArgs, env: { RMOUNT_STATE_DIR: state } });
    }

    async function folder(name: string): Promise<string> {
      const dir = join(server.back, name);
      await mkdir(dir);
      return dir;
    }

    it('tar -x lands on the server with every file, mode and symlink of the source', LONG, async t => {
      const src = await tempDir(t, 'rmount-src-');
      await makeTree(src, 300);
      const tarball = join(await tempDir(t, 'rmount-tar-'), 'tree.tar');
      assert.equal((await run('tar', ['-cf', tarball, '-C', src, '.'])).code, 0);
      const dir = await folder('unpack');
      const m = await mount(t);
      const r = await run('tar', ['-xpf', tarball, '-C', join(m.mountpoint, 'unpack')]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await snapshot(join(m.mountpoint, 'unpack')), await snapshot(src), 'the mount shows the tree at once');
      const synced = await cliFor(m, ['sync', m.mountpoint]);
      assert.equal(synced.code, 0, synced.stderr);
      assert.deepEqual(await snapshot(dir), await snapshot(src), 'the server has the tree after rmount sync');
      assert.equal((await writeBackStatus(m)).pendingOps, 0);
    });

    it('an fsynced save is on the server when fsync returns, and its rename after a sync', LONG, async t => {
      const dir = await folder('saves');
      await writeFile(join(dir, 'doc.txt'), 'original\n');
      const m = await mount(t);
      for (let i = 0; i < 20; i++) {
        const tmp = join(m.mountpoint, 'saves', `.doc.txt.${i}.tmp`);
        const fh = await open(tmp, 'wx', 0o644);
        await fh.writeFile(`version ${i}\n`);
        await fh.sync();
        assert.equal(await readFile(join(dir, `.doc.txt.${i}.tmp`), 'utf8'), `version ${i}\n`, `save ${i} is on the server when fsync returned`);
        await fh.close();
        await rename(tmp, join(m.mountpoint, 'saves', 'doc.txt'));
        assert.equal(await readFile(join(m.mountpoint, 'saves', 'doc.txt'), 'utf8'), `version ${i}\n`);
      }
      // fsync of the folder waits for every change (the renames).
      const d = await open(join(m.mountpoint, 'saves'), 'r');
      await d.sync();
      await d.close();
      assert.equal(await readFile(join(dir, 'doc.txt'), 'utf8'), 'version 19\n');
      assert.deepEqual(await readdir(dir), ['doc.txt']);
    });

    it('a command run through the mount right after a save sees the new content', LONG, async t => {
      await folder('exec');
      const m = await mount(t);
      for (let i = 0; i < 3; i++) {
        await writeFile(join(m.mountpoint, 'exec', 'main.txt'), `build input ${i}\n`);
        const r = await cliFor(m, ['exec', '--in', m.mountpoint, '--', 'cat', `${server.back}/exec/main.txt`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.toString(), `build input ${i}\n`);
      }
    });

    it('a daemon killed in the middle of an unpack loses nothing: the next mount sends the rest', LONG, async t => {
      const src = await tempDir(t, 'rmount-src-');
      await makeTree(src, 200);
      const dir = await folder('killed');
      const m = await mount(t, ['cache_timeout=600']);
      // Listed first: while the link is down, the names cp looks up are answered from the listing.
      await readdir(join(m.mountpoint, 'killed'));
      // Sends stall (blackhole) so the journal holds the unpack when the daemon dies.
      server.proxy.blackhole();
      let restored = false;
      try {
        await linkDown(m);
        // Into a new folder: what cp does there (times and modes included) is all the journal's.
        const r = await run('cp', ['-a', src, join(m.mountpoint, 'killed', 'tree')]);
        assert.equal(r.code, 0, r.stderr);
        process.kill(m.pid, 'SIGKILL');
        assert.ok(await waitFor(() => !alive(m.pid), 10_000));
        server.proxy.restore();
        restored = true;
        await m.unmount();
        assert.equal(await isMounted(m.mountpoint), false);
      } finally {
        if (!restored) server.proxy.restore();
      }
      const again = await mount(t);
      // The replay happens before the mount answers.
      assert.deepEqual(await snapshot(join(dir, 'tree')), await snapshot(src));
      assert.deepEqual(await snapshot(join(again.mountpoint, 'killed', 'tree')), await snapshot(src));
      // Whole seconds: SFTP v3 keeps no more.
      assert.equal(Math.floor((await stat(join(dir, 'tree'))).mtimeMs / 1000), Math.floor((await stat(src)).mtimeMs / 1000), 'the folder\'s time, set last, came too');
    });

    it('a write the server refuses fails fsync and close, is listed, and goes on retry', LONG, async t => {
      const dir = await folder('refused');
      const m = await mount(t);
      await readdir(join(m.mountpoint, 'refused'));
      // An immutable folder refuses even root, the login of these tests.
      assert.equal((await run('chattr', ['+i', dir])).code, 0);
      try {
        const fh = await open(join(m.mountpoint, 'refused', 'f'), 'w');
        await fh.writeFile('kept in the journal\n');
        const code = agent === 'yes' ? 'EPERM' : 'EACCES';
        await assert.rejects(fh.sync(), (e: NodeJS.ErrnoException) => e.code === code);
        await assert.rejects(fh.close(), (e: NodeJS.ErrnoException) => e.code === code);
        const s = await writeBackStatus(m);
        assert.deepEqual(s.failed.map(f => [f.op, f.path, f.code]), [['put', `${dir}/f`, code]]);
        const synced = await cliFor(m, ['sync', m.mountpoint]);
        assert.notEqual(synced.code, 0);
        assert.match(synced.stderr, /ERR_WRITEBACK_FAILED/);
      } finally {
        await run('chattr', ['-i', dir]);
      }
      const retried = await cliFor(m, ['sync', '--retry', m.mountpoint]);
      assert.equal(retried.code, 0, retried.stderr);
      assert.equal(await readFile(join(dir, 'f'), 'utf8'), 'kept in the journal\n');
      assert.deepEqual((await writeBackStatus(m)).failed, []);
    });

    it('a change made on the server while ours was pending keeps both', LONG, async t => {
      const dir = await folder('conflict');
      await writeFile(join(dir, 'notes.md'), 'base\n');
      const m = await mount(t);
      const fh = await open(join(m.mountpoint, 'conflict', 'notes.md'), 'w');
      await fh.writeFile('ours\n');
      await writeFile(join(dir, 'notes.md'), 'theirs, written on the server\n');
      await fh.close();
      assert.equal((await cliFor(m, ['sync', m.mountpoint])).code, 0);
      assert.equal(await readFile(join(dir, 'notes.md'), 'utf8'), 'ours\n');
      const kept = (await readdir(dir)).filter(n => n.startsWith('notes.md.remote-'));
      assert.equal(kept.length, 1, `theirs kept beside ours: ${(await readdir(dir)).join(', ')}`);
      assert.equal(await readFile(join(dir, kept[0]!), 'utf8'), 'theirs, written on the server\n');
      const s = await writeBackStatus(m);
      assert.deepEqual(s.conflicts.map(c => [c.path, c.keptAs]), [[`${dir}/notes.md`, `${dir}/${kept[0]}`]]);
    });

    it('chmod, touch and mv of files the server holds are answered during an outage and land after it', LONG, async t => {
      const dir = await folder('outage-changes');
      await writeFile(join(dir, 'a'), 'moved\n', { mode: 0o644 });
      await writeFile(join(dir, 'b'), 'replaced\n');
      await mkdir(join(dir, 'sub'));
      for (const n of ['x', 'y', 'z']) await writeFile(join(dir, 'sub', n), n);
      const m = await mount(t, ['cache_timeout=600']);
      const here = join(m.mountpoint, 'outage-changes');
      // Seen first: what the mount last saw of a file is what a change during the outage starts from.
      assert.equal((await run('ls', ['-lR', here])).code, 0);
      server.proxy.blackhole();
      try {
        await linkDown(m);
        for (const args of [['chmod', '600', 'a'], ['touch', '-d', '@1500000000', 'a'], ['mv', 'a', 'b'], ['chmod', '700', 'sub']]) {
          const r = await run(args[0]!, args.slice(1), here);
          assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
        }
        const st = await stat(join(here, 'b'));
        assert.equal(st.mode & 0o7777, 0o600);
        assert.equal(Math.floor(st.mtimeMs / 1000), 1_500_000_000);
        await assert.rejects(stat(join(here, 'a')), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
      } finally {
        server.proxy.restore();
      }
      assert.equal((await cliFor(m, ['sync', m.mountpoint])).code, 0);
      assert.equal(await readFile(join(dir, 'b'), 'utf8'), 'moved\n');
      const st = await stat(join(dir, 'b'));
      assert.equal(st.mode & 0o7777, 0o600);
      assert.equal(Math.floor(st.mtimeMs / 1000), 1_500_000_000);
      assert.equal((await stat(join(dir, 'sub'))).mode & 0o7777, 0o700);
      assert.deepEqual((await readdir(dir)).sort(), ['b', 'sub']);
      // rm -r with the link up: the folder goes after its files.
      assert.equal((await run('rm', ['-r', join(here, 'sub')])).code, 0);
      assert.equal((await cliFor(m, ['sync', m.mountpoint])).code, 0);
      assert.deepEqual(await readdir(dir), ['b']);
    });

    it('a drain cut by the link finishes after the restore', LONG, async t => {
      const dir = await folder('drain');
      const m = await mount(t, ['cache_timeout=600']);
      await readdir(join(m.mountpoint, 'drain'));
      server.proxy.blackhole();
      try {
        // Written while the link is down: all of it waits in the journal.
        await linkDown(m);
        for (let i = 0; i < 100; i++) await writeFile(join(m.mountpoint, 'drain', `f${i}`), `${i}\n`.repeat(100));
        const syncing = cliFor(m, ['sync', m.mountpoint]);
        await sleep(1000);
        server.proxy.restore();
        await sleep(300);
        server.proxy.cut();
        await sleep(2000);
        server.proxy.restore();
        const r = await syncing;
        assert.equal(r.code, 0, r.stderr);
      } finally {
        server.proxy.restore();
      }
      for (let i = 0; i < 100; i++) assert.equal(await readFile(join(dir, `f${i}`), 'utf8'), `${i}\n`.repeat(100));
    });

    it('writeback=off keeps close-to-open: the server has a file when close returns', LONG, async t => {
      const dir = await folder('off');
      const m = await mount(t, ['writeback=off']);
      for (let i = 0; i < 5; i++) {
        await writeFile(join(m.mountpoint, 'off', `f${i}`), `close-to-open ${i}`);
        assert.equal(await readFile(join(dir, `f${i}`), 'utf8'), `close-to-open ${i}`);
      }
      assert.ok((await stat(join(dir, 'f4'))).isFile());
    });
  });
}
