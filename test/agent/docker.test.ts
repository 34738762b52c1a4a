import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { agentFiles, agentOrFallback } from '../../src/backends/agent-files.ts';
import { installAgent } from '../../src/agent/install.ts';
import type { DockerBackend } from '../../src/backends/docker/backend.ts';
import type { FileClient } from '../../src/remote/file-client.ts';
import { dockerdSkipReason } from '../helpers/dockerd.ts';
import { fileClientContract } from '../remote/file-client-contract.ts';
import { backendFor, collect, suiteCleanup, suiteDockerd } from '../backends/docker/helpers.ts';
import { goSkipReason, testAgentDist } from './agent-binary.ts';

const skip = goSkipReason() || dockerdSkipReason();

describe('rmount-agent in a container', { skip, timeout: 900_000 }, () => {
  const dockerd = suiteDockerd();
  const hook = suiteCleanup();
  let backend: DockerBackend;
  let dist: string;
  let n = 0;
  before(async () => {
    dist = await testAgentDist();
    backend = await backendFor(hook, dockerd(), `docker://${await dockerd().run()}`);
  }, { timeout: 120_000 });

  async function sh(b: DockerBackend, script: string): Promise<string> {
    const r = await collect(await b.exec(['sh', '-c', script]));
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.toString();
  }

  it('uploads through the archive API to /tmp/.rmount-0 (root\'s own), skips a matching copy, replaces a corrupted one', async () => {
    const first = await installAgent(backend, { from: dist });
    assert.equal(first.uploaded, true);
    assert.match(first.remotePath, /^\/tmp\/\.rmount-0\/agent-/);
    assert.equal((await sh(backend, `sha256sum ${first.remotePath}`)).split(' ')[0], first.sha256);
    assert.equal((await installAgent(backend, { from: dist })).uploaded, false);
    await sh(backend, `echo corrupted > ${first.remotePath}`);
    const third = await installAgent(backend, { from: dist });
    assert.equal(third.uploaded, true);
    assert.equal((await sh(backend, `sha256sum ${first.remotePath}`)).split(' ')[0], first.sha256);
    assert.match(await sh(backend, `${first.remotePath} version`), /^rmount-agent test /);
  });

  it('a noexec /tmp sends the agent to the next candidate folder', async t => {
    const name = await dockerd().run({ args: ['--tmpfs', '/tmp:rw,noexec,size=32m'] });
    const b = await backendFor(t, dockerd(), `docker://${name}`);
    const r = await installAgent(b, { from: dist });
    assert.match(r.remotePath, /^\/var\/tmp\/\.rmount-0\/agent-/);
    const files = await agentFiles(b, { from: dist });
    t.after(() => files.close());
    assert.equal(files.capabilities.inodes, true);
  });

  it('the agent over docker exec watches the container', async t => {
    const files = await agentFiles(backend, { from: dist });
    t.after(() => files.close());
    assert.equal(files.capabilities.watch, true);
    await files.mkdir('/tmp/watched');
    const seen: string[] = [];
    const sub = await files.watch!('/tmp/watched', events => { for (const e of events) seen.push(e.path); });
    await sh(backend, 'echo hi > /tmp/watched/made-by-exec');
    const deadline = Date.now() + 5000;
    while (!seen.includes('/tmp/watched/made-by-exec') && Date.now() < deadline) await new Promise(r => setTimeout(r, 50));
    await sub.close();
    assert.ok(seen.includes('/tmp/watched/made-by-exec'), JSON.stringify(seen));
  });

  it('agentOrFallback uses the agent where it runs, and the agentless client on a read-only root or without a build', async t => {
    const agentless = (b: DockerBackend) => () => b.files();
    const ok = await agentOrFallback(() => agentFiles(backend, { from: dist }), agentless(backend));
    t.after(() => ok.close());
    assert.equal(ok.capabilities.inodes, true);

    const ro = await backendFor(t, dockerd(), `docker://${await dockerd().run({ args: ['--read-only'] })}`);
    const reasons: string[] = [];
    const fb = await agentOrFallback(() => agentFiles(ro, { from: dist }), agentless(ro), e => reasons.push(e.message));
    assert.equal(fb.capabilities.inodes, (await ro.files()).capabilities.inodes);
    assert.match(reasons[0] ?? '', /no folder .* can hold an executable agent/);
    assert.ok((await fb.readdir('/bin')).length > 10);

    const reasons2: string[] = [];
    await agentOrFallback(() => agentFiles(backend, { from: dist, platform: { os: 'linux', arch: 'mips64', variant: '' } }), agentless(backend), e => reasons2.push(e.message));
    assert.match(reasons2[0] ?? '', /no build for linux\/mips64/);
  });

  // A client per test: the contract closes clients.
  let setup: FileClient | undefined;
  fileClientContract('rmount-agent over docker exec (busybox)', async t => {
    setup ??= await agentFiles(backend, { from: dist });
    const root = `/tmp/agent-contract-${++n}`;
    await setup.mkdir(root, 0o755);
    const client = await agentFiles(backend, { from: dist });
    t.after(() => client.close());
    return { client, root };
  });
  hook.after(async () => { await setup?.close(); });
});
