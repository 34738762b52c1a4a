/**
 * Network faults under a real mount: rmount talks to a real sshd through a TCP proxy that can cut
 * the link, blackhole it (a sleeping laptop) and restore it. Over the sftp subsystem and through
 * rmount-agent. The mount must come back by itself, keep open files working, never lose a byte a
 * program was told was written, and fail (EIO) rather than hang while the link is down.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile, open, readdir, stat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { goSkipReason } from '../agent/agent-binary.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { alive, cliFor, fuseSkipReason, mountFor, waitFor, type TestMount } from '../helpers/mount.ts';
import { renderClientConfig, sshdSkipReason, startSshd, type AfterHook, type SshdFixture } from '../helpers/sshd.ts';
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
      sshd = await startSshd(hook);
      proxy = await startFaultProxy(hook, sshd.port);
      back = await tempDir(hook, 'rmount-back-');
      const dir = await tempDir(hook, 'rmount-ssh-');
      const knownHosts = join(dir, 'known_hosts');
      await writeFile(knownHosts, `[127.0.0.1]:${proxy.port} ${sshd.hostPublicKey}\n`);
      const config = join(dir, 'ssh_config');
      // Short keepalives, so a blackhole is noticed in seconds rather than OpenSSH-style never.
      await writeFile(config, `${renderClientConfig({ hosts: '127.0.0.1', port: proxy.port, user: sshd.user, identityFile: sshd.userKey, knownHostsFile: knownHosts })}`
        + '  ServerAliveInterval 1\n  ServerAliveCountMax 3\n');
      dest = `ssh://${sshd.user}@127.0.0.1:${proxy.port}${back}`;
      extraArgs = ['-F', config, '--known-hosts', knownHosts, '-i', sshd.userKey];
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
      await stat(join(m.mountpoint, 'known'));
      proxy.blackhole();
      try {
        const uncached = await settleWithin(stat(join(m.mountpoint, 'never-seen-before')), (TIMEOUT_S + 30) * 1000);
        if (uncached === 'pending') assert.fail('an uncached stat during a blackhole settles (bounded by -o timeout)');
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
    await sshd.restart({ newHostKey: true });
    proxy.cut();
    proxy.restore();
    await stat(join(m.mountpoint, 'not-there')).catch(() => undefined);
    assert.ok(await waitFor(async () => /HOST_KEY/i.test(JSON.stringify(await status(m))), 60_000),
      'status names the refused host key');
    assert.equal(await readFile(join(back, 'before'), 'utf8'), 'x');
    const r = await settleWithin(writeFile(join(m.mountpoint, 'after'), 'y'), (TIMEOUT_S + 30) * 1000);
    if (r === 'pending') assert.fail('a write to a host whose key changed settles');
    assert.equal(r.ok, false, 'nothing is written to a host whose key changed');
  });
});
