/**
 * The SSH link supervisor against a real sshd behind the fault proxy: a cut or a blackholed link
 * is noticed, reconnected with back-off, and reported through health(); a host key that changed
 * meanwhile is refused. The backend reaches the proxy's port and files the host key under
 * HostKeyAlias `[127.0.0.1]:<sshd port>`, the name the fixture's known_hosts uses.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SshBackend, SshBackendOptions } from '../../../src/backends/ssh/backend.ts';
import type { LinkState } from '../../../src/remote/backend.ts';
import { collectOutput } from '../../../src/remote/session-output.ts';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.ts';
import { sshdSkipReason, startSshd, type AfterHook, type SshdFixture } from '../../helpers/sshd.ts';
import { makeBackend, run } from './helpers.ts';

const skip = sshdSkipReason();
/** Short waits between attempts, so a test does not sit out the 1-2-4 s default. */
const FAST_BACKOFF = [200, 400];

/** A backend that reaches `sshd` through a fault proxy, with `extra` ssh_config lines. */
async function proxiedBackend(t: AfterHook, sshd: SshdFixture, extra: string[] = [], options: SshBackendOptions = {}): Promise<{ backend: SshBackend; proxy: FaultProxy }> {
  const proxy = await startFaultProxy(t, sshd.port);
  const configFile = join(sshd.dir, `proxied_config_${proxy.port}`);
  await writeFile(configFile, ['Host *', '  IdentityAgent none', `  HostKeyAlias [127.0.0.1]:${sshd.port}`, ...extra.map(l => `  ${l}`), ''].join('\n'));
  const backend = await makeBackend(t, sshd, { configFile, reconnectBackoffMs: FAST_BACKOFF, ...options }, { port: proxy.port });
  await backend.start();
  return { backend, proxy };
}

/** Polls until `test()` holds; fails with `what` after `limitMs` (generous: shared CI cores). */
async function until(what: string, test: () => boolean, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}

function stateIs(backend: SshBackend, state: LinkState): () => boolean {
  return () => backend.health().state === state;
}

describe('SshBackend reconnects', { skip, timeout: 120_000 }, () => {
  it('a cut link goes reconnecting, then ready after the restore, and counts one reconnect', async t => {
    const sshd = await startSshd(t);
    const { backend, proxy } = await proxiedBackend(t, sshd);
    assert.equal(backend.health().state, 'ready');
    assert.equal(backend.health().reconnects, 0);
    proxy.cut();
    await until('the loss is noticed', stateIs(backend, 'reconnecting'));
    const down = backend.health();
    assert.equal(backend.isConnected(), false);
    assert.ok(down.downSince !== undefined);
    assert.equal(down.lastError?.code, 'ERR_UNREACHABLE');
    proxy.restore();
    await backend.waitReady(AbortSignal.timeout(20_000));
    const up = backend.health();
    assert.equal(up.state, 'ready');
    assert.equal(up.reconnects, 1);
    assert.equal(up.downSince, undefined);
    assert.equal((await run(backend, ['echo', 'back'])).stdout.toString(), 'back\n');
  });

  it('a blackholed link is noticed through ServerAliveInterval 1 × ServerAliveCountMax 2', async t => {
    const sshd = await startSshd(t);
    const { backend, proxy } = await proxiedBackend(t, sshd, ['ServerAliveInterval 1', 'ServerAliveCountMax 2']);
    assert.equal(backend.keepAliveInterval, 1000);
    proxy.blackhole();
    // ~3 s by the settings; the bound is loose on purpose.
    await until('unanswered keepalives are noticed', stateIs(backend, 'reconnecting'), 15_000);
    assert.equal(backend.health().lastError?.code, 'ERR_TIMEOUT');
    proxy.restore();
    await backend.waitReady(AbortSignal.timeout(30_000));
    assert.equal((await run(backend, ['echo', 'ok'])).stdout.toString(), 'ok\n');
  });

  it('waitReady with an aborted signal rejects with ERR_TIMEOUT while the link is down', async t => {
    const sshd = await startSshd(t);
    const { backend, proxy } = await proxiedBackend(t, sshd);
    await backend.waitReady(AbortSignal.abort());
    proxy.cut();
    await until('the loss is noticed', stateIs(backend, 'reconnecting'));
    await assert.rejects(backend.waitReady(AbortSignal.abort()), { code: 'ERR_TIMEOUT' });
    await assert.rejects(backend.waitReady(AbortSignal.timeout(300)), { code: 'ERR_TIMEOUT' });
  });

  it('exec while the link is down fails at once without a signal, and waits with one', async t => {
    const sshd = await startSshd(t);
    const { backend, proxy } = await proxiedBackend(t, sshd);
    proxy.cut();
    await until('the loss is noticed', stateIs(backend, 'reconnecting'));
    await assert.rejects(backend.exec(['true']), { code: 'ERR_UNREACHABLE' });
    const started = run(backend, ['echo', 'waited'], { signal: AbortSignal.timeout(30_000) });
    setTimeout(() => proxy.restore(), 300).unref();
    assert.equal((await started).stdout.toString(), 'waited\n');
  });

  it('a command running when the link dies ends with 255 and says the connection was lost', async t => {
    const sshd = await startSshd(t);
    const { backend, proxy } = await proxiedBackend(t, sshd);
    const session = await backend.exec(['sleep', '60']);
    const output = collectOutput(session);
    proxy.cut();
    const result = await output;
    assert.equal(result.code, 255);
    assert.match(result.stderr.toString(), /connection to .* lost/);
  });

  it('the sftp file client works again after a reconnect', async t => {
    const sshd = await startSshd(t);
    const { backend, proxy } = await proxiedBackend(t, sshd);
    const files = await backend.files();
    assert.equal((await files.stat('/')).mode & 0o170000, 0o040000);
    proxy.cut();
    await until('the loss is noticed', stateIs(backend, 'reconnecting'));
    proxy.restore();
    await backend.waitReady(AbortSignal.timeout(20_000));
    // The first call may still meet the dead channel; the wrapper opens a new one.
    await files.stat('/').catch(() => undefined);
    assert.equal((await files.stat('/')).mode & 0o170000, 0o040000);
  });

  it('close() during a blackhole returns promptly and the state is closed', async t => {
    const sshd = await startSshd(t);
    const { backend, proxy } = await proxiedBackend(t, sshd);
    await backend.files();
    proxy.blackhole();
    // close() must not wait for the dead link (a hang is the failure; how fast is a benchmark's job).
    const closed = await Promise.race([backend.close().then(() => 'closed'), sleep(60_000, undefined, { ref: false }).then(() => 'pending')]);
    assert.equal(closed, 'closed');
    assert.equal(backend.health().state, 'closed');
    await assert.rejects(backend.exec(['true']), { code: 'ERR_UNREACHABLE' });
  });

  it('a host key that changed while the link was down is refused and named in lastError', async t => {
    const sshd = await startSshd(t);
    const { backend, proxy } = await proxiedBackend(t, sshd);
    proxy.cut();
    await sshd.restart({ newHostKey: true });
    proxy.restore();
    await until('the new key is refused', () => backend.health().lastError?.code === 'ERR_HOST_KEY');
    assert.equal(backend.health().state, 'reconnecting');
    assert.equal(backend.isConnected(), false);
    assert.equal((backend.lastError() as { problem?: string }).problem, 'changed');
  });

  it('sshd killed and started again on the same port: the link comes back', async t => {
    const sshd = await startSshd(t);
    const backend = await makeBackend(t, sshd, { reconnectBackoffMs: FAST_BACKOFF });
    await backend.start();
    // The shell's parent is the sshd process serving this connection; killing it and the
    // listener is what a crashed or restarted server looks like.
    const ppid = Number((await run(backend, ['sh', '-c', 'echo $PPID'])).stdout.toString().trim());
    assert.ok(ppid > 1);
    await sshd.stop();
    process.kill(ppid, 'SIGKILL');
    await until('the loss is noticed', stateIs(backend, 'reconnecting'));
    await sshd.restart();
    await backend.waitReady(AbortSignal.timeout(30_000));
    assert.equal(backend.health().reconnects, 1);
    assert.equal((await run(backend, ['echo', 'again'])).stdout.toString(), 'again\n');
  });
});
