import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdtemp, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { AGENT_MISSING, installAgent, quickStartArgv, runRemote } from '../../src/agent/install.ts';
import type { SshBackend } from '../../src/backends/ssh/backend.ts';
import { fileClientContract } from '../remote/file-client-contract.ts';
import { sshdSkipReason, startSshd, type SshdFixture } from '../helpers/sshd.ts';
import { connectBackend, suiteCleanup } from '../backends/ssh/helpers.ts';
import { goSkipReason, testAgentDist } from './agent-binary.ts';

const run = promisify(execFile);
const skip = goSkipReason() || sshdSkipReason();

async function sha(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** PIDs of processes running the executable at `path` (by /proc/PID/exe, exact match). */
async function pidsOf(path: string): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if ((await readlink(`/proc/${entry}/exe`)) === path) out.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

describe('agent transfer to a real sshd', { skip }, () => {
  let sshd: SshdFixture;
  let backend: SshBackend;
  let dist: string;
  const cleanup = suiteCleanup();
  before(async () => {
    sshd = await startSshd(cleanup, { sftp: false });
    backend = await connectBackend(cleanup, sshd);
    dist = await testAgentDist();
  });

  it('uploads once, skips the second upload by checksum, and replaces a corrupted copy', async () => {
    const dir = await mkdtemp(join(sshd.dir, 'agent-'));
    const first = await installAgent(backend, { from: dist, candidates: [dir] });
    assert.equal(first.uploaded, true);
    assert.equal(first.remotePath, join(dir, first.remotePath.split('/').pop()!));
    assert.match(first.remotePath, /\/agent-\d+\.\d+\.\d+[^/]*$/);
    assert.equal(await sha(first.remotePath), first.sha256);
    assert.equal((await stat(first.remotePath)).mode & 0o777, 0o755);
    const second = await installAgent(backend, { from: dist, candidates: [dir] });
    assert.equal(second.uploaded, false);
    await writeFile(first.remotePath, 'corrupted');
    const third = await installAgent(backend, { from: dist, candidates: [dir] });
    assert.equal(third.uploaded, true);
    assert.equal(await sha(first.remotePath), first.sha256);
    // No temporary files are left behind.
    assert.deepEqual((await readdir(dir)).filter(n => n.includes('.tmp-')), []);
  });

  it('the quick start runs an installed build in one exec, and says the agent is missing otherwise', async () => {
    const [empty, dir] = [await mkdtemp(join(sshd.dir, 'quick-')), await mkdtemp(join(sshd.dir, 'quick-'))];
    const quick = async (): Promise<string> => {
      const argv = await quickStartArgv(backend, ['version'], { from: dist, candidates: [join(sshd.dir, 'no-such-folder'), empty, dir] });
      assert.ok(argv !== undefined, 'the builds\' sums are at hand');
      const r = await runRemote(backend, argv);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    assert.equal(await quick(), AGENT_MISSING);
    // Made only in `dir`, as an install that found `empty` unusable would have.
    const { remotePath } = await installAgent(backend, { from: dist, candidates: [dir] });
    assert.match(await quick(), /^rmount-agent /);
    assert.deepEqual(await readdir(empty), [], 'nothing is made in a folder passed on the way');
    // A copy others could have written is not ours to run; nor one that is not one of our builds.
    await chmod(remotePath, 0o777);
    assert.equal(await quick(), AGENT_MISSING);
    await chmod(remotePath, 0o755);
    const original = `${remotePath}.orig`;
    await copyFile(remotePath, original);
    await writeFile(remotePath, '#!/bin/sh\necho impostor\n');
    assert.equal(await quick(), AGENT_MISSING);
    await copyFile(original, remotePath);
    assert.match(await quick(), /^rmount-agent /);
  });

  it('push puts a build at an exact path with the given mode', async () => {
    const dir = await mkdtemp(join(sshd.dir, 'push-'));
    const to = join(dir, 'deep/er/tool');
    const r = await installAgent(backend, { from: dist, remotePath: to, mode: 0o700 });
    assert.equal(r.remotePath, to);
    assert.equal((await stat(to)).mode & 0o777, 0o700);
  });

  it('no build for the platform names it and the builds that exist', async () => {
    await assert.rejects(installAgent(backend, { from: dist, platform: { os: 'linux', arch: 'mips64', variant: '' } }), (e: Error & { code?: string }) =>
      e.code === 'ERR_UNSUPPORTED' && /no build for linux\/mips64/.test(e.message) && /builds exist for linux\//.test(e.message));
  });

  it('skips a noexec folder for the next usable one, and says so when none is usable', async t => {
    const noexec = await mkdtemp(join(sshd.dir, 'noexec-'));
    try {
      // mode=0700: a tmpfs root is 1777 by default, which the folder check refuses before exec is tried.
      await run('mount', ['-t', 'tmpfs', '-o', 'noexec,size=16m,mode=0700', 'tmpfs', noexec]);
    } catch (error) {
      return t.skip(`cannot mount a noexec tmpfs here: ${(error as Error).message}`);
    }
    t.after(() => run('umount', [noexec]).then(() => undefined));
    const ok = await mkdtemp(join(sshd.dir, 'exec-'));
    const r = await installAgent(backend, { from: dist, candidates: [noexec, ok] });
    assert.ok(r.remotePath.startsWith(`${ok}/`));
    await assert.rejects(installAgent(backend, { from: dist, candidates: [noexec] }), (e: Error & { code?: string }) =>
      e.code === 'ERR_PERMISSION' && e.message.includes(`${noexec}: mounted noexec`));
  });
});

describe('SshBackend files() choosing the agent', { skip }, () => {
  let sshd: SshdFixture;
  let dist: string;
  const cleanup = suiteCleanup();
  before(async () => {
    sshd = await startSshd(cleanup, { sftp: false });
    dist = await testAgentDist();
  });

  it('agent=no on a server without the sftp subsystem fails with ERR_UNSUPPORTED', async () => {
    const backend = await connectBackend(cleanup, sshd, { agent: 'no' });
    await assert.rejects(backend.files(), { code: 'ERR_UNSUPPORTED' });
  });

  it('agent=auto falls back to the agent, which reports inodes and ns times', async () => {
    const dir = await mkdtemp(join(sshd.dir, 'auto-'));
    const backend = await connectBackend(cleanup, sshd, { agent: 'auto', agentFrom: dist, agentDirs: [dir] });
    const files = await backend.files();
    assert.equal(files.capabilities.inodes, true);
    const st = await files.stat(sshd.dir);
    assert.equal(BigInt(st.ino!), (await stat(sshd.dir, { bigint: true })).ino);
  });

  it('a second mount of a remote that has the agent starts it in one exec', async () => {
    const dir = await mkdtemp(join(sshd.dir, 'quick-'));
    const execs = async (): Promise<(readonly string[])[]> => {
      // Durable, as mounts are: the quick start is told apart from a missing agent by the session's first line.
      const backend = await connectBackend(cleanup, sshd, { agent: 'yes', agentFrom: dist, agentDirs: [dir], agentGraceMs: 5000 });
      const argvs: (readonly string[])[] = [];
      const exec = backend.exec.bind(backend);
      backend.exec = (argv, options) => {
        argvs.push(argv);
        return exec(argv, options);
      };
      const files = await backend.files();
      await files.stat(dir);
      await backend.close();
      return argvs;
    };
    // Nothing there yet: the quick start says so, then the platform, the probe, the upload, its check, the start.
    assert.ok((await execs()).length >= 4);
    const second = await execs();
    assert.equal(second.length, 1, JSON.stringify(second.map(a => a.slice(0, 2))));
  });

  it('a killed agent is replaced: the next operations run on a new one', async () => {
    const dir = await mkdtemp(join(sshd.dir, 'kill-'));
    const backend = await connectBackend(cleanup, sshd, { agent: 'yes', agentFrom: dist, agentDirs: [dir] });
    const files = await backend.files();
    await files.stat('/');
    const agentPath = join(dir, (await readdir(dir)).find(n => n.startsWith('agent-'))!);
    const pids = await pidsOf(agentPath);
    assert.equal(pids.length, 1, `one agent runs from ${agentPath}`);
    process.kill(pids[0]!, 'SIGKILL');
    // A stat is safe to repeat, so it is sent again on the new agent rather than failing.
    assert.equal((await files.stat(dir)).mode & 0o170000, 0o040000);
    assert.equal((files as unknown as { reconnects: number }).reconnects, 1);
    const now = await pidsOf(agentPath);
    assert.equal(now.length, 1);
    assert.notEqual(now[0], pids[0]);
  });
});

let contractSshd: SshdFixture | undefined;
let contractBackend: SshBackend | undefined;
const contractCleanup = skip === false ? suiteCleanup() : { after() {} };
fileClientContract('rmount-agent over SSH exec (sshd without sftp subsystem, agent=auto)', async () => {
  contractSshd ??= await startSshd(contractCleanup, { sftp: false });
  contractBackend ??= await connectBackend(contractCleanup, contractSshd, {
    agent: 'auto',
    agentFrom: await testAgentDist(),
    agentDirs: [await mkdtemp(join(contractSshd.dir, 'agent-'))],
  });
  const client = await contractBackend.files();
  const root = await mkdtemp(join(contractSshd.dir, 'contract-'));
  return { client, root };
}, { skip });
