import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { SshBackend } from '../../../src/backends/ssh/backend.ts';
import { requirePart, which } from '../../helpers/skip.ts';
import { sshdSkipReason, startSshd, type AfterHook, type SshdFixture } from '../../helpers/sshd.ts';
import { run, suiteCleanup } from './helpers.ts';

const execFileP = promisify(execFile);
const skip = sshdSkipReason() || requirePart(which('ssh-agent') && which('ssh-add') ? false : 'ssh-agent not installed (Debian package openssh-client)');

/** Starts an ssh-agent on a socket in `dir` holding `keys`; stopped by its PID afterwards. */
async function startAgent(t: AfterHook, dir: string, keys: string[]): Promise<string> {
  const socket = join(dir, 'agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  const exited = new Promise(resolve => agent.once('exit', resolve));
  t.after(async () => { if (agent.exitCode === null) { agent.kill('SIGTERM'); await exited; } });
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise(resolve => setTimeout(resolve, 20));
  for (const key of keys) await execFileP('ssh-add', ['-q', key], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
  return socket;
}

describe('SshBackend with ssh-agent', { skip }, () => {
  let sshd: SshdFixture;
  let socket: string;
  const cleanup = suiteCleanup();
  before(async () => {
    sshd = await startSshd(cleanup);
    socket = await startAgent(cleanup, sshd.dir, [sshd.strangerKey, sshd.userKey]);
  });

  async function agentBackend(t: AfterHook, name: string, extra: string[]): Promise<SshBackend> {
    const configFile = join(sshd.dir, `${name}_ssh_config`);
    await writeFile(configFile, ['Host *', `  IdentityAgent ${socket}`, ...extra.map(l => `  ${l}`), ''].join('\n'));
    const backend = new SshBackend(
      { type: 'ssh', host: '127.0.0.1', port: sshd.port, user: sshd.user, raw: name },
      { configFile, homeDir: join(sshd.dir, 'home'), knownHostsFile: sshd.knownHostsFile },
    );
    t.after(() => backend.close());
    return backend;
  }

  it('logs in with a key the agent holds, no key file needed', async t => {
    const backend = await agentBackend(t, 'agent', []);
    await backend.start();
    assert.equal((await run(backend, ['echo', 'agent'])).stdout.toString(), 'agent\n');
  });

  it('IdentitiesOnly offers only agent keys matching an IdentityFile (.pub beside it)', async t => {
    const pubOnly = join(sshd.dir, 'user_pub_only');
    await copyFile(sshd.userPubKey, `${pubOnly}.pub`);
    const backend = await agentBackend(t, 'only-user', ['IdentitiesOnly yes', `IdentityFile ${pubOnly}`]);
    await backend.start();
    assert.equal(backend.isConnected(), true);
  });

  it('IdentitiesOnly with a non-authorised IdentityFile fails even though the agent holds a good key', async t => {
    const backend = await agentBackend(t, 'only-stranger', ['IdentitiesOnly yes', `IdentityFile ${sshd.strangerKey}`]);
    await assert.rejects(backend.start(), { code: 'ERR_AUTH' });
  });

  it('IdentityAgent none ignores the agent', async t => {
    const configFile = join(sshd.dir, 'no_agent_ssh_config');
    await writeFile(configFile, 'Host *\n  IdentityAgent none\n');
    const backend = new SshBackend(
      { type: 'ssh', host: '127.0.0.1', port: sshd.port, user: sshd.user, raw: 'none' },
      { configFile, homeDir: join(sshd.dir, 'home'), knownHostsFile: sshd.knownHostsFile },
    );
    t.after(() => backend.close());
    await assert.rejects(backend.start(), { code: 'ERR_AUTH' });
  });
});
