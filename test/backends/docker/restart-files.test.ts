/**
 * The Docker backend's file clients while their container stops, restarts or is removed, against a
 * real dockerd: the agentless client waits for the container instead of failing at once, keeps
 * what an open handle wrote across a restart, tells the caller (EIO) what it could not deliver and
 * delivers it later; a removed container fails every call with EIO at once, with and without the
 * agent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DockerBackend } from '../../../src/backends/docker/backend.ts';
import type { FileClient } from '../../../src/remote/file-client.ts';
import { parseDestination } from '../../../src/remote/destination.ts';
import { goSkipReason, testAgentDist } from '../../agent/agent-binary.ts';
import { dockerdSkipReason } from '../../helpers/dockerd.ts';
import { suiteCleanup, suiteDockerd } from './helpers.ts';

async function until(what: string, test: () => boolean, limitMs = 30_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

/** 'pending' when `p` has not settled after `ms`, else how it settled. */
async function stateAfter(p: Promise<unknown>, ms: number): Promise<'pending' | 'resolved' | 'rejected'> {
  return Promise.race([p.then(() => 'resolved' as const, () => 'rejected' as const), sleep(ms, 'pending' as const)]);
}

describe('Docker file clients across a stop, a restart and a removal', { skip: dockerdSkipReason(), timeout: 600_000 }, () => {
  const dockerd = suiteDockerd();
  const hook = suiteCleanup();

  /** A started backend on a new container that looks at it often; `waitMs` bounds a wait for a stopped one. */
  async function started(options: { waitMs?: number; agent?: 'yes' | 'no' } = {}): Promise<{ name: string; backend: DockerBackend; files: FileClient }> {
    const d = dockerd();
    const name = await d.run();
    const backend = new DockerBackend(parseDestination(`docker://${name}`), {
      endpoint: { kind: 'unix', socketPath: d.socketPath, source: 'test' },
      env: {}, agent: options.agent ?? 'no', pollMs: 200, reconnectBackoffMs: [200],
      connectTimeoutMs: options.waitMs ?? 60_000,
    });
    hook.after(() => backend.close());
    await backend.start();
    return { name, backend, files: await backend.files() };
  }

  const cat = async (name: string, path: string): Promise<string> => dockerd().docker(['exec', name, 'cat', path]);

  it('a handle open for writing across a restart sends the bytes written before and after it', async () => {
    const { name, files } = await started();
    const h = await files.open('/tmp/across', { read: false, write: true, create: true, truncate: true });
    await h.write(Buffer.from('before\n'), 0, 7, 0);
    await dockerd().docker(['restart', '-t', '1', name]);
    await h.write(Buffer.from('after\n'), 0, 6, 7);
    await h.sync();
    await h.close();
    assert.equal(await cat(name, '/tmp/across'), 'before\nafter\n');
  });

  it('a call while the container is stopped waits for it and succeeds once it runs', async () => {
    const { name, backend, files } = await started();
    await dockerd().docker(['exec', name, 'sh', '-c', 'echo hi > /tmp/hello']);
    await dockerd().docker(['stop', '-t', '1', name]);
    const st = files.stat('/tmp/hello');
    assert.equal(await stateAfter(st, 1500), 'pending', 'the stat waits for the stopped container');
    await dockerd().docker(['start', name]);
    assert.equal((await st).size, 3);
    assert.equal(backend.health().state, 'ready');
  });

  it('linkUp is false while the container is stopped and true once it runs again', async () => {
    const { name, files } = await started();
    assert.equal(files.linkUp?.(), true);
    await dockerd().docker(['stop', '-t', '1', name]);
    await until('the stop is seen', () => files.linkUp?.() === false);
    await dockerd().docker(['start', name]);
    await until('the start is seen', () => files.linkUp?.() === true);
  });

  it('a call while the container stays down longer than the backend waits fails with EIO', async () => {
    const { name, files } = await started({ waitMs: 2000 });
    await dockerd().docker(['stop', '-t', '1', name]);
    await assert.rejects(files.stat('/tmp'), { name: 'FsError', code: 'EIO', syscall: 'stat' });
  });

  it('a sync that cannot reach the stopped container fails with EIO, and the same bytes go out once it runs', async () => {
    const { name, backend, files } = await started({ waitMs: 2000 });
    const h = await files.open('/tmp/later', { read: false, write: true, create: true, truncate: true });
    await h.write(Buffer.from('kept\n'), 0, 5, 0);
    await dockerd().docker(['stop', '-t', '1', name]);
    await assert.rejects(h.sync(), { name: 'FsError', code: 'EIO' });
    await dockerd().docker(['start', name]);
    await backend.waitReady(AbortSignal.timeout(30_000));
    await h.sync();
    await h.close();
    assert.equal(await cat(name, '/tmp/later'), 'kept\n');
  });

  it('a removed container fails calls with EIO at once, not after the wait', async () => {
    const { name, backend, files } = await started();
    await dockerd().docker(['rm', '-f', name]);
    await until('the removal is seen', () => backend.health().state === 'closed');
    const t0 = Date.now();
    await assert.rejects(files.stat('/tmp'), { name: 'FsError', code: 'EIO' });
    await assert.rejects(files.mkdir('/tmp/x'), { name: 'FsError', code: 'EIO' });
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms (the backend would wait 60 s for a stopped one)`);
  });

  describe('with rmount-agent', { skip: goSkipReason() }, () => {
    // The agent built from this checkout's sources, not whatever dist/agent holds.
    before(async () => { process.env.RMOUNT_AGENT_DIST = await testAgentDist(); }, { timeout: 300_000 });
    after(() => { delete process.env.RMOUNT_AGENT_DIST; });

    it('a removed container fails calls with EIO at once, not after the wait', async () => {
      const { name, backend, files } = await started({ agent: 'yes' });
      assert.ok((await files.stat('/tmp')).size >= 0);
      await dockerd().docker(['rm', '-f', name]);
      await until('the removal is seen', () => backend.health().state === 'closed');
      const t0 = Date.now();
      await assert.rejects(files.stat('/tmp/never-seen'), { name: 'FsError', code: 'EIO' });
      await assert.rejects(files.open('/tmp/new', { read: false, write: true, create: true }), { name: 'FsError', code: 'EIO' });
      assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms (the agent's connect would wait 60 s for a stopped one)`);
    });
  });
});
