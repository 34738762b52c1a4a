/**
 * The Docker backend's link health against a real dockerd: a stopped container is `reconnecting`
 * until it runs again, a restart between two looks counts as a reconnect, and a removed container
 * closes the link with the reason, after which operations fail at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DockerBackend } from '../../../src/backends/docker/backend.ts';
import type { LinkState } from '../../../src/remote/backend.ts';
import { parseDestination } from '../../../src/remote/destination.ts';
import { dockerdSkipReason, type DockerdFixture } from '../../helpers/dockerd.ts';
import { collect, suiteCleanup, suiteDockerd } from './helpers.ts';

async function until(what: string, test: () => boolean, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}

describe('DockerBackend link health against a real dockerd', { skip: dockerdSkipReason(), timeout: 300_000 }, () => {
  const dockerd = suiteDockerd();
  const hook = suiteCleanup();

  /** A started backend that looks at its container often and retries quickly. */
  async function watched(d: DockerdFixture, name: string): Promise<DockerBackend> {
    const backend = new DockerBackend(parseDestination(`docker://${name}`), {
      endpoint: { kind: 'unix', socketPath: d.socketPath, source: 'test' },
      env: {}, agent: 'no', pollMs: 200, reconnectBackoffMs: [200],
    });
    hook.after(() => backend.close());
    await backend.start();
    return backend;
  }
  const stateIs = (b: DockerBackend, s: LinkState) => () => b.health().state === s;

  it('a stopped container is reconnecting, and ready again once it runs', async () => {
    const d = dockerd();
    const name = await d.run();
    const backend = await watched(d, name);
    assert.equal(backend.health().state, 'ready');
    await d.docker(['stop', '-t', '1', name]);
    await until('the stop is noticed', stateIs(backend, 'reconnecting'));
    assert.equal(backend.isConnected(), false);
    assert.equal(backend.health().lastError?.code, 'ERR_STATE');
    await assert.rejects(backend.exec(['true']), { code: 'ERR_UNREACHABLE' });
    await d.docker(['start', name]);
    await backend.waitReady(AbortSignal.timeout(30_000));
    assert.equal(backend.health().reconnects, 1);
    const s = await backend.exec(['echo', 'back']);
    s.stdin.end();
    assert.equal((await collect(s)).stdout.toString(), 'back\n');
  });

  it('a restart between two looks counts as a reconnect', async () => {
    const d = dockerd();
    const name = await d.run();
    const backend = await watched(d, name);
    await d.docker(['restart', '-t', '1', name]);
    await until('the restart is counted', () => backend.health().reconnects === 1 && backend.health().state === 'ready');
  });

  it('a removed container closes the link, and operations fail at once with its reason', async () => {
    const d = dockerd();
    const name = await d.run();
    const backend = await watched(d, name);
    await d.docker(['rm', '-f', name]);
    await until('the removal is noticed', stateIs(backend, 'closed'));
    assert.equal(backend.health().lastError?.code, 'ERR_STATE');
    await assert.rejects(backend.waitReady(AbortSignal.timeout(5000)), { code: 'ERR_STATE' });
    await assert.rejects(backend.exec(['true'], { signal: AbortSignal.timeout(5000) }), { code: 'ERR_STATE' });
  });
});
