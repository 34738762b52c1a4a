import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { suiteCleanup } from '../backends/ssh/helpers.ts';
import { runCli } from '../helpers/cli.ts';
import { freePort, sshdSkipReason, startSshd, type SshdFixture } from '../helpers/sshd.ts';
import { tempDir } from '../helpers/tmp.ts';

const skip = sshdSkipReason();

describe('rmount CLI against a real sshd', { skip }, () => {
  const hook = suiteCleanup();
  let sshd: SshdFixture;
  let home: string;
  let emptyConfig: string;
  let emptyKnownHosts: string;
  // HOME is a temp folder and there is no agent, so only the keys a test names are tried.
  let env: NodeJS.ProcessEnv;

  before(async () => {
    sshd = await startSshd(hook);
    home = await tempDir(hook);
    emptyConfig = join(home, 'ssh_config');
    emptyKnownHosts = join(home, 'known_hosts_empty');
    await writeFile(emptyConfig, '');
    await writeFile(emptyKnownHosts, '');
    env = { HOME: home, SSH_AUTH_SOCK: '' };
  });

  const dest = (path = '/tmp'): string => `ssh://${sshd.user}@127.0.0.1:${sshd.port}${path}`;
  const opts = (knownHosts: string, key = sshd.userKey): string[] => ['-F', emptyConfig, '--known-hosts', knownHosts, '-i', key];

  it('exec over ssh passes the exit code through', async () => {
    const r = await runCli(['exec', ...opts(sshd.knownHostsFile), dest(), '--', 'sh', '-c', 'exit 42'], { env });
    assert.equal(r.code, 42, r.stderr);
  });

  it('platform over ssh names the remote GOOS/GOARCH', async () => {
    const r = await runCli(['platform', '--json', ...opts(sshd.knownHostsFile), dest()], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout.toString()) as { os: string }).os, 'linux');
  });

  it('an unknown host key exits 1 with ERR_HOST_KEY and its fingerprint', async () => {
    const r = await runCli(['ls', ...opts(emptyKnownHosts), dest()], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ERR_HOST_KEY\]/);
    assert.ok(r.stderr.includes(sshd.hostKeyFingerprint), r.stderr);
  });

  it('--accept-new records an unknown key and later connects without it', async () => {
    const kh = join(home, 'known_hosts_tofu');
    await writeFile(kh, '');
    const first = await runCli(['ls', '--accept-new', ...opts(kh), dest()], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.match(await readFile(kh, 'utf8'), new RegExp(`\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `));
    const second = await runCli(['ls', ...opts(kh), dest()], { env });
    assert.equal(second.code, 0, second.stderr);
  });

  it('a key the server does not accept exits 1 with ERR_AUTH', async () => {
    const r = await runCli(['ls', ...opts(sshd.knownHostsFile, sshd.strangerKey), dest()], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ERR_AUTH\]/);
  });

  it('a closed port exits 1 with ERR_UNREACHABLE', async () => {
    const port = await freePort();
    const r = await runCli(['ls', ...opts(sshd.knownHostsFile), `ssh://${sshd.user}@127.0.0.1:${port}/tmp`], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ERR_UNREACHABLE\]/);
  });

  it('a missing remote path exits 1 with ENOENT', async () => {
    const r = await runCli(['ls', ...opts(sshd.knownHostsFile), dest('/no/such/rmount/path')], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ENOENT\]/);
  });

  it('a changed host key exits 1 with ERR_HOST_KEY and the new fingerprint', async () => {
    const kh = join(home, 'known_hosts_old');
    await copyFile(sshd.knownHostsFile, kh);
    await sshd.restart({ newHostKey: true });
    const r = await runCli(['ls', ...opts(kh), dest()], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[ERR_HOST_KEY\]/);
    assert.ok(r.stderr.includes(sshd.hostKeyFingerprint), r.stderr);
  });
});
