/**
 * The CLI with docker:// and compose:// destinations against a private dockerd: exec, platform,
 * ls, mount, and a container stopped or removed under a mount.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import Dockerode from 'dockerode';
import { runCli } from '../helpers/cli.ts';
import { BUSYBOX_IMAGE, dockerdSkipReason, startDockerd, type DockerdFixture } from '../helpers/dockerd.ts';
import { fuseSkipReason, isMounted, mountFor, waitFor } from '../helpers/mount.ts';
import { suiteCleanup } from '../backends/docker/helpers.ts';

/** How an operation settled within `ms`: its error code, 'ok', or 'pending'. */
async function settleWithin(op: Promise<unknown>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<string>(resolve => { timer = setTimeout(() => resolve('pending'), ms); });
  const r = await Promise.race([op.then(() => 'ok', (e: NodeJS.ErrnoException) => e.code ?? String(e)), pending]);
  clearTimeout(timer);
  return r;
}

describe('rmount CLI with Docker destinations', { skip: dockerdSkipReason(), timeout: 600_000 }, () => {
  const hook = suiteCleanup();
  let d: DockerdFixture;
  let name = '';
  let back = '';
  let env: NodeJS.ProcessEnv;

  before(async () => {
    d = await startDockerd(hook);
    back = await mkdtemp(join(tmpdir(), 'rmount-back-'));
    hook.after(() => rm(back, { recursive: true, force: true }));
    await writeFile(join(back, 'hello.txt'), 'hello\n');
    name = await d.run({ args: ['-v', `${back}:/work`, '-w', '/work'] });
    env = { DOCKER_HOST: d.host };
    process.env.DOCKER_HOST = d.host;
    const docker = new Dockerode({ socketPath: d.socketPath });
    for (const n of [1, 2]) {
      const c = await docker.createContainer({
        name: `proj-svc-${n}`, Image: BUSYBOX_IMAGE, Cmd: ['sleep', '1000000'],
        Labels: { 'com.docker.compose.project': 'proj', 'com.docker.compose.service': 'svc', 'com.docker.compose.container-number': String(n), 'com.docker.compose.oneoff': 'False' },
        HostConfig: { NetworkMode: 'none', Init: true, Binds: [`${back}:/work`] },
      });
      await c.start();
      hook.after(() => c.remove({ force: true }).catch(() => {}));
    }
  }, { timeout: 180_000 });

  it('exec passes stdout and the exit code through', async () => {
    const r = await runCli(['exec', `docker://${name}`, '--', 'sh', '-c', 'echo "hi $(pwd)"; exit 3'], { env });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout.toString(), 'hi /work\n');
  });

  it('exec forwards stdin to the command', async () => {
    const r = await runCli(['exec', `docker://${name}`, '--', 'cat'], { env, input: 'piped\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'piped\n');
  });

  it('platform prints linux/<arch>', async () => {
    const r = await runCli(['platform', `docker://${name}`], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), `linux/${process.arch === 'x64' ? 'amd64' : process.arch}\n`);
  });

  it('ls of a Compose replica path lists the folder', async () => {
    const r = await runCli(['ls', 'compose://proj/svc/2/work'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /hello\.txt/);
  });

  it('exec on a Compose service with two replicas and no number fails (not usage, not found)', async () => {
    const r = await runCli(['exec', 'compose://proj/svc', '--', 'true'], { env });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /proj\/svc\/1/);
  });

  it('a missing container makes exec fail with ERR_NOT_FOUND on stderr', async () => {
    const r = await runCli(['exec', 'docker://no-such-box', '--', 'true'], { env });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ERR_NOT_FOUND|no container/);
  });

  it('mount of a container folder reads and writes through to the container', { skip: fuseSkipReason() }, async t => {
    const m = await mountFor(t, `docker://${name}/work`);
    assert.equal(await readFile(join(m.mountpoint, 'hello.txt'), 'utf8'), 'hello\n');
    await writeFile(join(m.mountpoint, 'new.txt'), 'written\n');
    // The upload happens at release, which the kernel sends just after close(2) returned.
    assert.ok(await waitFor(async () => (await readFile(join(back, 'new.txt'), 'utf8').catch(() => '')) === 'written\n', 5000));
    assert.equal(await readFile(join(m.mountpoint, 'new.txt'), 'utf8'), 'written\n');
  });

  for (const how of ['stopped', 'removed'] as const) {
    it(`a container ${how} while mounted fails operations within the timeout, and unmount works`, { skip: fuseSkipReason() }, async t => {
      const victim = await d.run({ args: ['-v', `${back}:/work`] });
      const m = await mountFor(t, `docker://${victim}/work`, { o: ['timeout=5', 'cache_timeout=0'] });
      await stat(join(m.mountpoint, 'hello.txt'));
      const docker = new Dockerode({ socketPath: d.socketPath });
      if (how === 'stopped') await docker.getContainer(victim).stop({ t: 0 });
      else await docker.getContainer(victim).remove({ force: true });
      const started = Date.now();
      const outcome = await settleWithin(readFile(join(m.mountpoint, 'other-name.txt')), 20_000);
      assert.notEqual(outcome, 'pending', 'an operation hung on the dead container');
      assert.notEqual(outcome, 'ok');
      assert.ok(Date.now() - started < 20_000);
      const r = await runCli(['unmount', m.mountpoint], { env: m.env, timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await isMounted(m.mountpoint), false);
    });
  }
});
