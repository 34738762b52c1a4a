/**
 * Network faults under a real mount: rmount talks to a real sshd through a TCP proxy that can cut
 * the link, blackhole it (a sleeping laptop) and restore it. Over the sftp subsystem and through
 * rmount-agent. The mount must come back by itself, keep open files working, never lose a byte a
 * program was told was written, and fail (EIO) rather than hang while the link is down.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile, open, readdir, stat, mkdir, unlink, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { goSkipReason } from '../agent/agent-binary.ts';
import { agentPids } from '../helpers/agent-procs.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { proxiedSshd } from '../helpers/proxied-sshd.ts';
import { alive, cliFor, fuseSkipReason, mountFor, waitFor, type TestMount } from '../helpers/mount.ts';
import { sshdSkipReason, startSshd, type AfterHook, type SshdFixture } from '../helpers/sshd.ts';
import { tempDir } from '../helpers/tmp.ts';

/** The mount's op timeout in these tests (seconds): short, so the outage cases stay quick. */
const TIMEOUT_S = 5;
const LONG = { timeout: 180_000 };

/** Resolves with how `p` settled, or 'pending' after `ms` (a hang is a failure, not a wait). */
async function settleWithin<T>(p: Promise<T>, ms: number): Promise<{ ok: true; value: T } | { ok: false; error: unknown } | 'pending'> {
  const timer = sleep(ms, undefined, { ref: false }).then(() => 'pending' as const);
  return Promise.race([p.then(value => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error })), timer]);
}

interface StatusJson {
  mountpoint: string;
  pid: number;
  state: string;
  health?: string;
  reason?: string;
  reconnects?: number;
  lastError?: { code?: string; message?: string };
  [key: string]: unknown;
}

async function status(mount: TestMount): Promise<StatusJson> {
  const r = await cliFor(mount, ['status', '--json']);
  assert.equal(r.code, 0, r.stderr.toString());
  const all = JSON.parse(r.stdout.toString()) as StatusJson[];
  const mine = all.find(s => s.mountpoint === mount.mountpoint);
  assert.ok(mine, `status lists ${mount.mountpoint}`);
  return mine;
}

for (const [label, agent] of [['sftp subsystem', 'no'], ['rmount-agent', 'yes']] as const) {
  const skip = fuseSkipReason() || sshdSkipReason() || (agent === 'yes' && goSkipReason());
  describe(`network faults under a mount (${label})`, { skip }, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
    let sshd: SshdFixture;
    let proxy: FaultProxy;
    let back: string;
    let dest: string;
    let extraArgs: string[];

    before(async () => {
      ({ sshd, proxy, back, dest, extraArgs } = await proxiedSshd(hook));
    }, LONG);
    after(async () => {
      proxy?.restore();
      for (const fn of cleanups.reverse()) await fn();
    }, LONG);

    async function mount(t: AfterHook): Promise<TestMount> {
      return mountFor(t, dest, { o: [`agent=${agent}`, `timeout=${TIMEOUT_S}`], extraArgs });
    }

    it('a cut with a file open for writing loses no byte and the same descriptor works after the restore', LONG, async t => {
      const m = await mount(t);
      await mkdir(join(m.mountpoint, 'cut'));
      const fh = await open(join(m.mountpoint, 'cut', 'log'), 'w');
      const lines: string[] = [];
      try {
        for (let i = 0; i < 50; i++) lines.push(`before ${i}\n`);
        await fh.write(lines.join(''));
        await fh.sync();
        proxy.cut();
        const during = Array.from({ length: 50 }, (_, i) => `during ${i}\n`).join('');
        // Gathered locally; it reaches the remote once the link is back (or fsync says it did not).
        const writing = fh.write(during);
        await sleep(3000);
        proxy.restore();
        await writing;
        lines.push(during);
        const afterRestore = Array.from({ length: 50 }, (_, i) => `after ${i}\n`).join('');
        await fh.write(afterRestore);
        lines.push(afterRestore);
        await fh.sync();
      } finally {
        proxy.restore();
        await fh.close();
      }
      assert.equal(await readFile(join(back, 'cut', 'log'), 'utf8'), lines.join(''));
      assert.ok(await waitFor(async () => (await readdir(join(m.mountpoint, 'cut')).catch(() => [] as string[])).includes('log'), 30_000),
        'the folder lists again after the restore');
      const s = await status(m);
      assert.ok((s.reconnects ?? 0) >= 1, `status counts the reconnect: ${JSON.stringify(s)}`);
    });

    it('a blackhole longer than the timeout: uncached operations fail with EIO, cached ones answer, then all works without a remount', LONG, async t => {
      const m = await mount(t);
      await writeFile(join(back, 'known'), 'known\n');
      // Past what small files are read ahead: its bytes are never in a cache until read.
      await writeFile(join(back, 'unread'), Buffer.alloc(1 << 20, 7));
      await stat(join(m.mountpoint, 'known'));
      await stat(join(m.mountpoint, 'unread'));
      proxy.blackhole();
      try {
        // A name missing from a listing the agent's watch keeps is answered missing (as in any
        // outage); bytes never read must come from the remote.
        const uncached = await settleWithin(readFile(join(m.mountpoint, 'unread')), (TIMEOUT_S + 30) * 1000);
        if (uncached === 'pending') assert.fail('an uncached read during a blackhole settles (bounded by -o timeout)');
        assert.equal(uncached.ok, false);
        assert.equal((uncached as { error: NodeJS.ErrnoException }).error.code, 'EIO');
        const cached = await settleWithin(stat(join(m.mountpoint, 'known')), 10_000);
        if (cached === 'pending') assert.fail('a cached stat answers during the outage');
        assert.equal(cached.ok, true);
      } finally {
        proxy.restore();
      }
      assert.ok(await waitFor(async () => {
        try {
          await writeFile(join(m.mountpoint, 'again'), 'again\n');
          return (await readFile(join(back, 'again'), 'utf8')) === 'again\n';
        } catch {
          return false;
        }
      }, 60_000), 'writes work again after the restore');
    });

    it('sshd restarted on the same port: the mount comes back by itself', LONG, async t => {
      const m = await mount(t);
      await writeFile(join(m.mountpoint, 'one'), '1');
      await sshd.restart();
      // sshd's per-connection processes outlive the listener; the cut ends ours as a reboot would.
      proxy.cut();
      proxy.restore();
      assert.ok(await waitFor(async () => {
        try {
          await writeFile(join(m.mountpoint, 'two'), '2');
          return (await readFile(join(back, 'two'), 'utf8')) === '2';
        } catch {
          return false;
        }
      }, 60_000), 'the mount works after sshd restarted');
    });

    it('unmount during a blackhole returns and leaves no daemon behind', LONG, async t => {
      const m = await mount(t);
      await stat(m.mountpoint);
      proxy.blackhole();
      try {
        const r = await settleWithin(m.unmount(), 60_000);
        assert.notEqual(r, 'pending', 'unmount returns during a blackhole');
        assert.ok(await waitFor(() => !alive(m.pid), 30_000), `daemon ${m.pid} is gone`);
      } finally {
        proxy.restore();
      }
    });
  });
}

const keeperPids = (): Promise<Set<number>> => agentPids('sftp-keeper');

/** The keepers that appeared since `before` (started for the mount under test). */
async function newKeepers(before: Set<number>): Promise<number[]> {
  return [...await keeperPids()].filter(pid => !before.has(pid));
}

/** Reads `length` bytes at `position` through `fh`. */
async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/** `size` bytes no two files share at any offset (the seed is in every 16-byte block). */
function pattern(seed: string, size: number): Buffer {
  const block = Buffer.from(seed.padEnd(16, '.').slice(0, 16));
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 16) {
    block.copy(out, i);
    out.writeUInt32BE(i >>> 4, i + 12 <= size - 4 ? i + 12 : Math.max(0, size - 4));
  }
  return out;
}

describe('rmount-agent durable sessions across link faults', { skip: fuseSkipReason() || sshdSkipReason() || goSkipReason() }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
  let proxy: FaultProxy;
  let back: string;
  let dest: string;
  let extraArgs: string[];
  /** Large enough that the tail read after the restore was never fetched before the cut. */
  const SIZE = 8 << 20;
  const TAIL = SIZE - 4096;

  before(async () => {
    ({ proxy, back, dest, extraArgs } = await proxiedSshd(hook));
  }, LONG);
  after(async () => {
    proxy?.restore();
    for (const fn of cleanups.reverse()) await fn();
  }, LONG);

  it('open files unlinked or renamed while the link was cut read their own bytes after the restore', LONG, async t => {
    const before = await keeperPids();
    const m = await mountFor(t, dest, { o: ['agent=yes', `timeout=${TIMEOUT_S}`], extraArgs });
    const content = { mine: pattern('unlinked-here', SIZE), theirs: pattern('unlinked-there', SIZE), moved: pattern('renamed-there', SIZE) };
    for (const [name, data] of Object.entries(content)) await writeFile(join(back, name), data);
    const fds = {
      mine: await open(join(m.mountpoint, 'mine'), 'r'),
      theirs: await open(join(m.mountpoint, 'theirs'), 'r'),
      moved: await open(join(m.mountpoint, 'moved'), 'r'),
    };
    try {
      for (const fh of Object.values(fds)) await readAt(fh, 0, 4096);
      // Through the mount while open: the remote file goes, the open file stays (no .fuse_hidden).
      await unlink(join(m.mountpoint, 'mine'));
      proxy.cut();
      await unlink(join(back, 'theirs'));
      await rename(join(back, 'moved'), join(back, 'moved-away'));
      // Reopening by path would now read these bytes instead.
      await writeFile(join(back, 'moved'), pattern('impostor', SIZE));
      await sleep(2000);
      proxy.restore();
      for (const [name, fh] of Object.entries(fds)) {
        const got = await readAt(fh, TAIL, 4096);
        assert.ok(got.equals(content[name as keyof typeof content].subarray(TAIL)), `${name}: the open file's own bytes after the restore`);
      }
    } finally {
      proxy.restore();
      for (const fh of Object.values(fds)) await fh.close();
    }
    const s = await status(m);
    assert.ok((s.reconnects ?? 0) >= 1, `the link was made again: ${JSON.stringify(s)}`);
    assert.equal((await newKeepers(before)).length, 1, 'one keeper serves the mount');
    await m.unmount();
    assert.ok(await waitFor(async () => (await newKeepers(before)).length === 0, 30_000), 'unmount ends the agent session');
  });

  it('the agent killed on the remote: open files reopen by path and the mount carries on', LONG, async t => {
    const before = await keeperPids();
    const m = await mountFor(t, dest, { o: ['agent=yes', `timeout=${TIMEOUT_S}`], extraArgs });
    await writeFile(join(back, 'kept'), 'kept across a killed agent\n');
    const fh = await open(join(m.mountpoint, 'kept'), 'r+');
    try {
      await readAt(fh, 0, 100);
      const keepers = await newKeepers(before);
      assert.equal(keepers.length, 1, 'one keeper serves the mount');
      process.kill(keepers[0]!, 'SIGKILL');
      assert.ok(await waitFor(() => !alive(keepers[0]!), 30_000));
      await fh.write('KEPT', 0);
      await fh.sync();
      assert.equal(await readFile(join(back, 'kept'), 'utf8'), 'KEPT across a killed agent\n');
      assert.ok(await waitFor(async () => (await readdir(m.mountpoint)).includes('kept'), 30_000));
    } finally {
      await fh.close();
    }
  });

  it('after its grace period the agent exits and leaves nothing behind; the mount still comes back', LONG, async t => {
    const before = await keeperPids();
    const m = await mountFor(t, dest, { o: ['agent=yes', `timeout=${TIMEOUT_S}`, 'grace=2'], extraArgs });
    await writeFile(join(back, 'short'), 'short grace\n');
    const fh = await open(join(m.mountpoint, 'short'), 'r+');
    try {
      await readAt(fh, 0, 100);
      const [keeper] = await newKeepers(before);
      assert.ok(keeper !== undefined, 'a keeper serves the mount');
      const socket = await readFile(`/proc/${keeper}/cmdline`, 'utf8').then(c => c.split('\0')[3]!);
      proxy.cut();
      try {
        assert.ok(await waitFor(() => !alive(keeper), 60_000), 'the keeper exits once its grace period is over');
        await assert.rejects(stat(socket), { code: 'ENOENT' }, 'its socket is gone');
        await assert.rejects(stat(`${socket}.lock`), { code: 'ENOENT' }, 'its lock file is gone');
      } finally {
        proxy.restore();
      }
      // A new session: the file is reopened by path, as without the agent.
      assert.ok(await waitFor(async () => {
        try {
          await fh.write('SHORT', 0);
          await fh.sync();
          return (await readFile(join(back, 'short'), 'utf8')) === 'SHORT grace\n';
        } catch {
          return false;
        }
      }, 60_000), 'the open file works again after the restore');
    } finally {
      await fh.close();
    }
  });
});

describe('a changed host key while reconnecting', { skip: fuseSkipReason() || sshdSkipReason() }, () => {
  it('is refused, and status names it', LONG, async t => {
    const cleanups: (() => Promise<void> | void)[] = [];
    const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
    t.after(async () => { for (const fn of cleanups.reverse()) await fn(); });
    const sshd = await startSshd(hook);
    const proxy = await startFaultProxy(hook, sshd.port);
    const back = await tempDir(hook, 'rmount-back-');
    const dir = await tempDir(hook, 'rmount-ssh-');
    const knownHosts = join(dir, 'known_hosts');
    await writeFile(knownHosts, `[127.0.0.1]:${proxy.port} ${sshd.hostPublicKey}\n`);
    const m = await mountFor(hook, `ssh://${sshd.user}@127.0.0.1:${proxy.port}${back}`, {
      o: [`timeout=${TIMEOUT_S}`],
      extraArgs: ['-F', sshd.sshConfigFile, '--known-hosts', knownHosts, '-i', sshd.userKey],
    });
    await writeFile(join(m.mountpoint, 'before'), 'x');
    // On the server before the key changes (the write-back journal would send it later).
    const settled = await open(m.mountpoint, 'r');
    await settled.sync();
    await settled.close();
    await sshd.restart({ newHostKey: true });
    proxy.cut();
    proxy.restore();
    await stat(join(m.mountpoint, 'not-there')).catch(() => undefined);
    assert.ok(await waitFor(async () => /HOST_KEY/i.test(JSON.stringify(await status(m))), 60_000),
      'status names the refused host key');
    assert.equal(await readFile(join(back, 'before'), 'utf8'), 'x');
    // The write-back journal takes the write (a save during an outage must not fail), and keeps
    // it: nothing goes to a host whose key changed, for as long as the key is refused.
    const r = await settleWithin(writeFile(join(m.mountpoint, 'after'), 'y'), (TIMEOUT_S + 30) * 1000);
    if (r === 'pending') assert.fail('a write to a host whose key changed settles');
    await sleep(3000);
    assert.equal(await stat(join(back, 'after')).then(() => true, () => false), false, 'nothing is written to a host whose key changed');
    if (r.ok) {
      const pending = (await status(m))['writeBack'] as { pendingOps: number } | undefined;
      assert.ok((pending?.pendingOps ?? 0) >= 1, `the journal holds the write: ${JSON.stringify(pending)}`);
    }
  });
});
