/**
 * `sshClient: 'openssh'`: the file channel over a child OpenSSH `ssh` against the real test sshd.
 * The same FileClient contract as the built-in client, the agent through `ssh`, a killed `ssh`
 * replaced, every failure as a stable code, and no `ssh` left behind after close().
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { SshBackend, SshBackendOptions } from '../../../src/backends/ssh/backend.ts';
import { classifyOpensshExit, renderOpensshArgs, type OpensshTarget } from '../../../src/backends/ssh/openssh-command.ts';
import { goSkipReason, testAgentDist } from '../../agent/agent-binary.ts';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.ts';
import { requirePart, which } from '../../helpers/skip.ts';
import { sshdSkipReason, startSshd, type AfterHook, type SshdFixture } from '../../helpers/sshd.ts';
import { fileClientContract } from '../../remote/file-client-contract.ts';
import { connectBackend, makeBackend, suiteCleanup } from './helpers.ts';

const skip = sshdSkipReason() || requirePart(which('ssh') === undefined ? 'ssh not installed (the OpenSSH client; Debian package openssh-client)' : false);
const OPENSSH: SshBackendOptions = { sshClient: 'openssh' };

const TARGET: OpensshTarget = { host: 'box', acceptNew: false, batchMode: true };

describe('renderOpensshArgs', () => {
  const cases: [string, OpensshTarget, Parameters<typeof renderOpensshArgs>[1], string[]][] = [
    ['an alias alone leaves everything to ssh_config', TARGET, { subsystem: 'sftp' },
      ['-x', '-a', '-T', '-o', 'ClearAllForwardings=yes', '-o', 'BatchMode=yes', '-s', '--', 'box', 'sftp']],
    ['user and port come only from the destination', { ...TARGET, user: 'ann', port: 2222 }, { subsystem: 'sftp' },
      ['-x', '-a', '-T', '-o', 'ClearAllForwardings=yes', '-o', 'BatchMode=yes', '-l', 'ann', '-p', '2222', '-s', '--', 'box', 'sftp']],
    ['rmount\'s own flags become ssh\'s', {
      ...TARGET, configFile: '/c', identityFile: '/k', knownHostsFile: '/my hosts', acceptNew: true, connectTimeoutS: 2.5, serverAliveIntervalS: 15, batchMode: false,
    }, { command: "'/a' 'sftp'" }, [
      '-x', '-a', '-T', '-o', 'ClearAllForwardings=yes', '-o', 'BatchMode=no', '-F', '/c', '-i', '/k', '-o', 'UserKnownHostsFile="/my hosts"',
      '-o', 'StrictHostKeyChecking=accept-new', '-o', 'ConnectTimeout=3', '-o', 'ServerAliveInterval=15', '--', 'box', "'/a' 'sftp'",
    ]],
    ['a host that starts with - is not an option', { ...TARGET, host: '-oProxyCommand=x' }, { subsystem: 'sftp' },
      ['-x', '-a', '-T', '-o', 'ClearAllForwardings=yes', '-o', 'BatchMode=yes', '-s', '--', '-oProxyCommand=x', 'sftp']],
  ];
  for (const [name, target, remote, want] of cases) {
    it(name, () => assert.deepEqual(renderOpensshArgs(target, remote), want));
  }
});

describe('classifyOpensshExit', () => {
  const where = { addr: 'ann@box', host: 'box' };
  const cases: [string, number | null, string, string | undefined][] = [
    ['refused login', 255, 'ann@box: Permission denied (publickey).\r\n', 'ERR_AUTH'],
    ['unknown host key', 255, 'No ED25519 host key is known for box and you have requested strict checking.\r\nHost key verification failed.\r\n', 'ERR_HOST_KEY'],
    ['changed host key', 255, '@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\nSHA256:abc+/=.\r\nHost key verification failed.\r\n', 'ERR_HOST_KEY'],
    ['refused connection', 255, 'ssh: connect to host box port 22: Connection refused\r\n', 'ERR_UNREACHABLE'],
    ['unknown name', 255, 'ssh: Could not resolve hostname box: Name or service not known\r\n', 'ERR_UNREACHABLE'],
    ['timeout', 255, 'ssh: connect to host box port 22: Connection timed out\r\n', 'ERR_TIMEOUT'],
    ['no subsystem', 255, 'subsystem request failed on channel 0\r\n', 'ERR_UNSUPPORTED'],
    ['the remote command\'s own status', 127, 'sh: 1: /x: not found\n', undefined],
    ['stopped by us', null, '', undefined],
  ];
  for (const [name, code, stderr, want] of cases) {
    it(`${name} is ${want ?? 'not ssh\'s failure'}`, () => {
      assert.equal(classifyOpensshExit({ code, signal: code === null ? 'SIGTERM' : null, stderr }, where)?.code, want);
    });
  }

  it('a changed host key carries the fingerprint ssh printed', () => {
    const e = classifyOpensshExit({ code: 255, signal: null, stderr: 'REMOTE HOST IDENTIFICATION HAS CHANGED!\nSHA256:abc+/=.\nHost key verification failed.\n' }, where);
    assert.deepEqual([e?.name, (e as { problem?: string }).problem, (e as { fingerprint?: string }).fingerprint], ['HostKeyError', 'changed', 'SHA256:abc+/=']);
  });
});

/** PIDs of the `ssh` processes this test process started. */
function sshChildren(): number[] {
  const pids: number[] = [];
  for (const task of readdirSync(`/proc/${process.pid}/task`)) {
    for (const pid of readFileSync(`/proc/${process.pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'ssh') pids.push(Number(pid));
      } catch {
        // gone meanwhile
      }
    }
  }
  return pids;
}

/** An `ssh` that puts `first` before rmount's arguments: ssh keeps the first value of an option, so these win. */
async function sshWith(sshd: SshdFixture, name: string, first: string[]): Promise<string> {
  const path = join(sshd.dir, name);
  await writeFile(path, `#!/bin/sh\nexec ${which('ssh')} ${first.join(' ')} "$@"\n`);
  await chmod(path, 0o755);
  return path;
}

describe('SshBackend with sshClient openssh', { skip, timeout: 120_000 }, () => {
  let sshd: SshdFixture;
  const cleanup = suiteCleanup();
  before(async () => {
    sshd = await startSshd(cleanup);
  });

  it('files() runs the sftp subsystem through a child ssh, and close() stops it', async t => {
    const before = new Set(sshChildren());
    const backend = await connectBackend(t, sshd, OPENSSH);
    const files = await backend.files();
    assert.equal((await files.lstat(sshd.dir)).mode & 0o170000, 0o040000);
    const mine = sshChildren().filter(pid => !before.has(pid));
    assert.equal(mine.length, 1, 'one ssh for the file channel');
    await backend.close();
    assert.deepEqual(sshChildren().filter(pid => !before.has(pid)), []);
  });

  it('a killed ssh is the transport closing: the next call runs on a new one', async t => {
    const before = new Set(sshChildren());
    const backend = await connectBackend(t, sshd, OPENSSH);
    const files = await backend.files();
    await files.lstat(sshd.dir);
    const [first] = sshChildren().filter(pid => !before.has(pid));
    assert.ok(first !== undefined);
    process.kill(first, 'SIGKILL');
    // lstat is safe to repeat: sent again on the new channel rather than failing.
    assert.equal((await files.lstat(sshd.dir)).mode & 0o170000, 0o040000);
    assert.equal((files as unknown as { reconnects: number }).reconnects, 1);
    const now = sshChildren().filter(pid => !before.has(pid));
    assert.equal(now.length, 1);
    assert.notEqual(now[0], first);
  });

  it('no ssh client rejects with ERR_SSH_CLIENT and says what to do', async t => {
    const backend = await connectBackend(t, sshd, { ...OPENSSH, sshCommand: join(sshd.dir, 'no-such-ssh') });
    await assert.rejects(backend.files(), (e: { code: string; suggestion?: string }) => {
      assert.equal(e.code, 'ERR_SSH_CLIENT');
      assert.ok(e.suggestion?.includes('ssh_client=builtin'));
      return true;
    });
  });

  it('a login OpenSSH is refused rejects with ERR_AUTH', async t => {
    const sshCommand = await sshWith(sshd, 'ssh-no-pubkey', ['-o', 'PubkeyAuthentication=no']);
    const backend = await connectBackend(t, sshd, { ...OPENSSH, sshCommand });
    await assert.rejects(backend.files(), (e: { code: string; suggestion?: string }) => {
      assert.equal(e.code, 'ERR_AUTH');
      assert.ok(e.suggestion !== undefined && e.suggestion !== '');
      return true;
    });
  });

  it('a host key OpenSSH does not know rejects with ERR_HOST_KEY', async t => {
    const sshCommand = await sshWith(sshd, 'ssh-no-known-hosts', ['-o', 'UserKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes']);
    const backend = await connectBackend(t, sshd, { ...OPENSSH, sshCommand });
    await assert.rejects(backend.files(), { code: 'ERR_HOST_KEY' });
  });

  it('a server without the sftp subsystem rejects with ERR_UNSUPPORTED', async t => {
    const bare = await startSshd(t, { sftp: false });
    const backend = await makeBackend(t, bare, OPENSSH);
    await backend.start();
    await assert.rejects(backend.files(), { code: 'ERR_UNSUPPORTED' });
  });
});

/** A started backend reaching `sshd` through a fault proxy, its host key filed under the sshd's own port. */
async function proxiedBackend(t: AfterHook, sshd: SshdFixture, options: SshBackendOptions): Promise<{ backend: SshBackend; proxy: FaultProxy }> {
  const proxy = await startFaultProxy(t, sshd.port);
  t.after(() => proxy.restore());
  const configFile = join(sshd.dir, `proxied_config_${proxy.port}`);
  await writeFile(configFile, ['Host *', '  IdentityAgent none', `  HostKeyAlias [127.0.0.1]:${sshd.port}`, '  ServerAliveCountMax 2', ''].join('\n'));
  const backend = await makeBackend(t, sshd, { configFile, reconnectBackoffMs: [200, 400], ...options }, { port: proxy.port });
  await backend.start();
  return { backend, proxy };
}

describe('SshBackend with sshClient openssh across a lost link', { skip, timeout: 120_000 }, () => {
  it('a cut link ends the ssh; after the restore the same client works on a new one', async t => {
    const sshd = await startSshd(t);
    const { backend, proxy } = await proxiedBackend(t, sshd, OPENSSH);
    const files = await backend.files();
    await files.lstat(sshd.dir);
    proxy.cut();
    const later = files.lstat(sshd.dir);
    await new Promise(resolve => setTimeout(resolve, 1000));
    proxy.restore();
    assert.equal((await later).mode & 0o170000, 0o040000);
    assert.ok((files as unknown as { reconnects: number }).reconnects >= 1);
  });

  it('a blackholed link is noticed by ssh\'s ServerAliveInterval, and the client comes back after the restore', async t => {
    const sshd = await startSshd(t);
    const before = new Set(sshChildren());
    const { backend, proxy } = await proxiedBackend(t, sshd, { ...OPENSSH, keepAliveIntervalMs: 1000 });
    const files = await backend.files();
    await files.lstat(sshd.dir);
    const [first] = sshChildren().filter(pid => !before.has(pid));
    proxy.blackhole();
    // ServerAliveInterval 1 × ServerAliveCountMax 2: ssh gives up within a few seconds.
    const deadline = Date.now() + 20_000;
    while (sshChildren().includes(first!) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100));
    assert.ok(!sshChildren().includes(first!), 'the ssh on the dead link exited');
    proxy.restore();
    assert.equal((await files.lstat(sshd.dir)).mode & 0o170000, 0o040000);
  });
});

const agentSkip = skip || goSkipReason();

describe('SshBackend with sshClient openssh and the agent', { skip: agentSkip, timeout: 120_000 }, () => {
  it('agent=yes installs and runs rmount-agent through ssh, and close() stops every ssh', async t => {
    const sshd = await startSshd(t);
    const before = new Set(sshChildren());
    const dir = await mkdtemp(join(sshd.dir, 'agent-'));
    const backend = await connectBackend(t, sshd, { ...OPENSSH, agent: 'yes', agentFrom: await testAgentDist(), agentDirs: [dir] });
    const files = await backend.files();
    // Inode numbers are the agent's, not sftp-server's.
    assert.equal(files.capabilities.inodes, true);
    assert.equal((await files.stat(sshd.dir)).mode & 0o170000, 0o040000);
    assert.equal(sshChildren().filter(pid => !before.has(pid)).length, 1, 'one ssh carries the agent');
    await backend.close();
    assert.deepEqual(sshChildren().filter(pid => !before.has(pid)), []);
  });

  it('a killed ssh under the agent is replaced: the next call runs on a new agent channel', async t => {
    const sshd = await startSshd(t);
    const before = new Set(sshChildren());
    const dir = await mkdtemp(join(sshd.dir, 'agent-'));
    const backend = await connectBackend(t, sshd, { ...OPENSSH, agent: 'yes', agentFrom: await testAgentDist(), agentDirs: [dir] });
    const files = await backend.files();
    await files.stat(sshd.dir);
    const [first] = sshChildren().filter(pid => !before.has(pid));
    assert.ok(first !== undefined);
    process.kill(first, 'SIGKILL');
    assert.equal((await files.stat(sshd.dir)).mode & 0o170000, 0o040000);
    assert.equal((files as unknown as { reconnects: number }).reconnects, 1);
    const now = sshChildren().filter(pid => !before.has(pid));
    assert.equal(now.length, 1);
    assert.notEqual(now[0], first);
  });
});

// The contract the built-in client passes (files.test.ts), over OpenSSH's client.
let contractSshd: SshdFixture | undefined;
let contractBackend: SshBackend | undefined;
const contractCleanup = skip === false ? suiteCleanup() : { after() {} };
fileClientContract('sftp subsystem through a child OpenSSH ssh (sshClient openssh)', async () => {
  contractSshd ??= await startSshd(contractCleanup);
  contractBackend ??= await connectBackend(contractCleanup, contractSshd, OPENSSH);
  const client = await contractBackend.files();
  const root = await mkdtemp(join(contractSshd.dir, 'contract-'));
  return { client, root };
}, { skip });

let agentContractSshd: SshdFixture | undefined;
let agentContractBackend: SshBackend | undefined;
const agentContractCleanup = agentSkip === false ? suiteCleanup() : { after() {} };
fileClientContract('rmount-agent through a child OpenSSH ssh (sshClient openssh, agent=yes)', async () => {
  agentContractSshd ??= await startSshd(agentContractCleanup);
  agentContractBackend ??= await connectBackend(agentContractCleanup, agentContractSshd, {
    ...OPENSSH,
    agent: 'yes',
    agentFrom: await testAgentDist(),
    agentDirs: [await mkdtemp(join(agentContractSshd.dir, 'agent-'))],
  });
  const client = await agentContractBackend.files();
  const root = await mkdtemp(join(agentContractSshd.dir, 'contract-'));
  return { client, root };
}, { skip: agentSkip });
