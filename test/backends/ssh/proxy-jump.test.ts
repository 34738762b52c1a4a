import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SshBackend } from '../../../src/backends/ssh/backend.ts';
import { sshdSkipReason, startSshd, type SshdFixture } from '../../helpers/sshd.ts';
import { run } from './helpers.ts';

const skip = sshdSkipReason();

/** An ssh_config whose `target` is reached by jumping through the same sshd to itself. */
async function jumpConfig(sshd: SshdFixture): Promise<string> {
  const file = join(sshd.dir, 'jump_ssh_config');
  await writeFile(file, [
    'Host target',
    '  HostName 127.0.0.1',
    `  Port ${sshd.port}`,
    `  ProxyJump ${sshd.user}@127.0.0.1:${sshd.port}`,
    'Host *',
    `  User ${sshd.user}`,
    `  IdentityFile ${sshd.userKey}`,
    '  IdentityAgent none',
    `  UserKnownHostsFile ${sshd.knownHostsFile}`,
    '',
  ].join('\n'));
  return file;
}

describe('SshBackend ProxyJump', { skip }, () => {
  it('connects through one jump host and runs commands', async t => {
    const sshd = await startSshd(t);
    const backend = new SshBackend({ type: 'ssh', host: 'target', raw: 'target' }, { configFile: await jumpConfig(sshd), homeDir: join(sshd.dir, 'home') });
    t.after(() => backend.close());
    await backend.start();
    assert.deepEqual(backend.route, [`${sshd.user}@127.0.0.1:${sshd.port}`, `${sshd.user}@127.0.0.1:${sshd.port}`]);
    assert.equal((await run(backend, ['echo', 'jumped'])).stdout.toString(), 'jumped\n');
    const files = await backend.files();
    assert.equal((await files.lstat(sshd.dir)).mode & 0o170000, 0o040000);
  });

  it('a jump host that refuses forwarding is ERR_UNREACHABLE', async t => {
    const sshd = await startSshd(t, { tcpForwarding: false });
    const backend = new SshBackend({ type: 'ssh', host: 'target', raw: 'target' }, { configFile: await jumpConfig(sshd), homeDir: join(sshd.dir, 'home') });
    t.after(() => backend.close());
    await assert.rejects(backend.start(), (e: { code: string; suggestion?: string }) => {
      assert.equal(e.code, 'ERR_UNREACHABLE');
      assert.ok(e.suggestion?.includes('AllowTcpForwarding'));
      return true;
    });
  });
});
