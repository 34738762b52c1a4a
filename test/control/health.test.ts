/**
 * The link health a mount's control socket reports (`health`, and `link` in `status`), and exec
 * through the socket waiting for a link that is down. A real control server over a local backend
 * whose link health the test sets; no FUSE mount needed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { LocalBackend } from '../../src/backends/local/backend.ts';
import { connectControl } from '../../src/control/client.ts';
import type { HealthPayload, MountStatusPayload } from '../../src/control/protocol.ts';
import { serveControl } from '../../src/control/server.ts';
import type { LinkHealth } from '../../src/remote/backend.ts';
import { TimeoutError } from '../../src/remote/errors.ts';
import { silentLogger } from '../../src/remote/log.ts';
import { collectOutput } from '../../src/remote/session-output.ts';
import { Counters } from '../../src/workspacefs/stats.ts';

/** A local backend whose link the test drives: `down()`, then `up()`. */
class SwitchedBackend extends LocalBackend {
  link: LinkHealth = { state: 'ready', since: new Date().toISOString(), reconnects: 0 };
  #waiters: (() => void)[] = [];

  health(): LinkHealth {
    return this.link;
  }

  waitReady(signal?: AbortSignal): Promise<void> {
    if (this.link.state === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push(resolve);
      signal?.addEventListener('abort', () => reject(new TimeoutError('link still down')), { once: true });
    });
  }

  down(error: { code: string; message: string }, downForMs = 0): void {
    const downSince = new Date(Date.now() - downForMs).toISOString();
    this.link = { state: 'reconnecting', since: downSince, downSince, reconnects: this.link.reconnects, lastError: error };
  }

  up(): void {
    this.link = { state: 'ready', since: new Date().toISOString(), reconnects: this.link.reconnects + 1, ...(this.link.lastError ? { lastError: this.link.lastError } : {}) };
    for (const w of this.#waiters.splice(0)) w();
  }
}

async function serve(t: TestContext, linkTimeoutMs = 30_000): Promise<{ backend: SwitchedBackend; socketPath: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'rmount-ctl-health-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const backend = new SwitchedBackend({ type: 'local', host: '', raw: `local:${dir}`, path: dir });
  await backend.start();
  const counters = new Counters();
  const server = await serveControl({
    destination: `local:${dir}`, mountpoint: join(dir, 'mnt'), remotePath: dir, startedAt: new Date().toISOString(),
    backend, filesystem: { stats: () => counters.snapshot({ inodes: 1, openFiles: 0, openDirs: 0, listings: 0, listingEntries: 0 }), flushCaches() {} },
    watching: false, linkTimeoutMs, stop: async () => {},
  }, { socketPath: join(dir, 'control.sock'), log: silentLogger });
  t.after(() => server.close());
  return { backend, socketPath: server.socketPath };
}

async function request<T>(socketPath: string, type: string): Promise<T> {
  const client = await connectControl(socketPath);
  try {
    return await client.request<T>(type);
  } finally {
    client.close();
  }
}

describe('control socket link health', () => {
  it('health and status report a ready link with its reconnect count', async t => {
    const { socketPath } = await serve(t);
    const health = await request<HealthPayload>(socketPath, 'health');
    assert.equal(health.state, 'ready');
    assert.equal(health.reason, undefined);
    assert.equal(health.link.state, 'ready');
    assert.equal(health.link.reconnects, 0);
    assert.equal(typeof health.link.since, 'string');
  });

  it('status while reconnecting: state, how long down, the last error and reconnects', async t => {
    const { backend, socketPath } = await serve(t);
    backend.down({ code: 'ERR_HOST_KEY', message: 'the host key has CHANGED' }, 12_000);
    const status = await request<MountStatusPayload>(socketPath, 'status');
    assert.equal(status.health, 'reconnecting');
    assert.equal(typeof status.reason, 'string');
    assert.deepEqual(Object.keys(status.link).sort(), ['downSeconds', 'downSince', 'lastError', 'reconnects', 'since', 'state']);
    assert.equal(status.link.state, 'reconnecting');
    assert.ok(status.link.downSeconds! >= 11 && status.link.downSeconds! <= 60, `downSeconds ${status.link.downSeconds}`);
    assert.deepEqual(status.link.lastError, { code: 'ERR_HOST_KEY', message: 'the host key has CHANGED' });
    assert.equal(status.link.reconnects, 0);
  });

  it('a closed link is reported closed with its reason', async t => {
    const { backend, socketPath } = await serve(t);
    backend.link = { state: 'closed', since: new Date().toISOString(), reconnects: 2, lastError: { code: 'ERR_STATE', message: 'container web was removed' } };
    const health = await request<HealthPayload>(socketPath, 'health');
    assert.equal(health.state, 'closed');
    assert.equal(health.link.reconnects, 2);
    assert.equal(health.link.lastError?.code, 'ERR_STATE');
  });

  it('exec through the socket waits for a link that is down, then runs', async t => {
    const { backend, socketPath } = await serve(t);
    backend.down({ code: 'ERR_UNREACHABLE', message: 'connection lost' });
    const client = await connectControl(socketPath);
    const session = client.exec({ argv: ['echo', 'after the outage'] });
    setTimeout(() => backend.up(), 200).unref();
    const result = await collectOutput(await session);
    assert.equal(result.code, 0);
    assert.equal(result.stdout.toString(), 'after the outage\n');
  });

  it('exec through the socket fails with ERR_TIMEOUT when the link stays down past the timeout', async t => {
    const { backend, socketPath } = await serve(t, 200);
    backend.down({ code: 'ERR_UNREACHABLE', message: 'connection lost' });
    const client = await connectControl(socketPath);
    await assert.rejects(client.exec({ argv: ['true'] }), { code: 'ERR_TIMEOUT' });
  });
});
