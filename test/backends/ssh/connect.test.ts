import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { SshBackend } from '../../../src/backends/ssh/backend.ts';
import { parseKnownHosts, verifyHostKey } from '../../../src/backends/ssh/known-hosts.ts';
import { HostKeyError } from '../../../src/remote/errors.ts';
import { ENCRYPTED_KEY_PASSPHRASE, freePort, SSHD_HOST_ALIAS, sshdSkipReason, startSshd, type SshdFixture } from '../../helpers/sshd.ts';
import { makeBackend, run, suiteCleanup } from './helpers.ts';

const skip = sshdSkipReason();

describe('SshBackend connect against a real sshd', { skip }, () => {
  let sshd: SshdFixture;
  const cleanup = suiteCleanup();
  before(async () => {
    sshd = await startSshd(cleanup);
  });

  it('an unknown host key is refused with ERR_HOST_KEY, its fingerprint and the command to trust it', async t => {
    const empty = join(sshd.dir, 'empty_known_hosts');
    await writeFile(empty, '');
    const backend = await makeBackend(t, sshd, { knownHostsFile: empty });
    const error = await backend.start().then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof HostKeyError, String(error));
    assert.equal(error.code, 'ERR_HOST_KEY');
    assert.equal(error.problem, 'unknown');
    assert.equal(error.fingerprint, sshd.hostKeyFingerprint);
    assert.ok(error.message.includes(sshd.hostKeyFingerprint));
    assert.ok(error.suggestion?.includes(`ssh-keyscan -p ${sshd.port} -t ssh-ed25519 127.0.0.1`));
    assert.ok(error.suggestion?.includes('--accept-new'));
    assert.equal(backend.isConnected(), false);
    assert.equal(backend.lastError(), error);
  });

  it('--accept-new records the key, and a second connect passes without it', async t => {
    const file = join(sshd.dir, 'tofu_known_hosts');
    await writeFile(file, '');
    const first = await makeBackend(t, sshd, { knownHostsFile: file, acceptNew: true });
    await first.start();
    const recorded = await readFile(file, 'utf8');
    assert.equal(recorded, `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
    const second = await makeBackend(t, sshd, { knownHostsFile: file });
    await second.start();
    assert.equal((await run(second, ['true'])).code, 0);
  });

  it('a wrong user key is refused with ERR_AUTH naming the key tried', async t => {
    const backend = await makeBackend(t, sshd, { identityFile: sshd.strangerKey });
    await assert.rejects(backend.start(), (e: { code: string; suggestion?: string }) => {
      assert.equal(e.code, 'ERR_AUTH');
      assert.ok(e.suggestion?.includes(sshd.strangerKey));
      assert.ok(e.suggestion?.includes('ssh-copy-id'));
      return true;
    });
  });

  it('an encrypted key without a prompt is skipped and auth fails with ERR_AUTH', async t => {
    const backend = await makeBackend(t, sshd, { identityFile: sshd.encryptedUserKey });
    await assert.rejects(backend.start(), (e: { code: string; suggestion?: string }) => {
      assert.equal(e.code, 'ERR_AUTH');
      assert.ok(e.suggestion?.includes('encrypted'));
      return true;
    });
  });

  it('an encrypted key is unlocked through the prompt', async t => {
    const questions: string[] = [];
    const backend = await makeBackend(t, sshd, {
      identityFile: sshd.encryptedUserKey,
      prompt: async (question, echo) => {
        questions.push(question);
        assert.equal(echo, false);
        return ENCRYPTED_KEY_PASSPHRASE;
      },
    });
    await backend.start();
    assert.deepEqual(questions, [`Enter passphrase for key '${sshd.encryptedUserKey}': `]);
  });

  it('a closed port is ERR_UNREACHABLE', async t => {
    const backend = await makeBackend(t, sshd, {}, { port: await freePort() });
    await assert.rejects(backend.start(), { code: 'ERR_UNREACHABLE' });
  });

  it('an unknown host name is ERR_UNREACHABLE', async t => {
    const backend = await makeBackend(t, sshd, {}, { host: 'no-such-host.invalid' });
    await assert.rejects(backend.start(), { code: 'ERR_UNREACHABLE' });
  });

  it('a listener that never answers is ERR_TIMEOUT after the connect timeout', async t => {
    const sockets = new Set<Socket>();
    const server = createServer(socket => { sockets.add(socket); });
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>(resolve => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }));
    const port = (server.address() as { port: number }).port;
    const backend = await makeBackend(t, sshd, { connectTimeoutMs: 300 }, { port });
    const started = Date.now();
    await assert.rejects(backend.start(), { code: 'ERR_TIMEOUT' });
    assert.ok(Date.now() - started < 5000);
  });

  it('aborting the start signal rejects with ERR_TIMEOUT', async t => {
    const backend = await makeBackend(t, sshd);
    await assert.rejects(backend.start(AbortSignal.abort()), { code: 'ERR_TIMEOUT' });
  });

  it('a Host alias resolves HostName, Port, User, IdentityFile and UserKnownHostsFile from the config', async t => {
    const backend = new SshBackend({ type: 'ssh', host: SSHD_HOST_ALIAS, raw: SSHD_HOST_ALIAS }, { configFile: sshd.sshConfigFile, homeDir: join(sshd.dir, 'home') });
    t.after(() => backend.close());
    await backend.start();
    assert.equal(backend.addr, `${sshd.user}@127.0.0.1:${sshd.port}`);
    assert.equal((await run(backend, ['echo', 'via alias'])).stdout.toString(), 'via alias\n');
  });

  it('close is idempotent and later calls reject with ERR_UNREACHABLE', async t => {
    const backend = await makeBackend(t, sshd);
    await backend.start();
    await backend.close();
    await backend.close();
    assert.equal(backend.isConnected(), false);
    await assert.rejects(backend.exec(['true']), { code: 'ERR_UNREACHABLE' });
    await assert.rejects(backend.files(), { code: 'ERR_UNREACHABLE' });
  });
});

describe('SshBackend host key changes', { skip }, () => {
  it('a changed host key is refused with problem "changed" and the ssh-keygen -R command', async t => {
    const sshd = await startSshd(t);
    const backend = await makeBackend(t, sshd);
    await backend.start();
    await backend.close();
    const oldFingerprint = sshd.hostKeyFingerprint;
    await sshd.restart({ newHostKey: true });
    assert.notEqual(sshd.hostKeyFingerprint, oldFingerprint);
    const again = await makeBackend(t, sshd, { acceptNew: true });
    await assert.rejects(again.start(), (e: unknown) => {
      assert.ok(e instanceof HostKeyError);
      assert.equal(e.code, 'ERR_HOST_KEY');
      assert.equal(e.problem, 'changed');
      assert.equal(e.fingerprint, sshd.hostKeyFingerprint);
      assert.ok(e.suggestion?.includes(`ssh-keygen -R "[127.0.0.1]:${sshd.port}"`));
      return true;
    });
  });

  it('a revoked host key is refused with problem "revoked"', async t => {
    const sshd = await startSshd(t);
    await writeFile(sshd.knownHostsFile, `${await readFile(sshd.knownHostsFile, 'utf8')}@revoked * ${sshd.hostPublicKey}\n`);
    const backend = await makeBackend(t, sshd, { acceptNew: true });
    await assert.rejects(backend.start(), { code: 'ERR_HOST_KEY', problem: 'revoked' });
  });

  it('a server with several host keys shows the one known_hosts lists (RSA only here)', async t => {
    const sshd = await startSshd(t, { rsa: true });
    const rsaOnly = join(sshd.dir, 'rsa_known_hosts');
    const lines = (await readFile(sshd.knownHostsFile, 'utf8')).split('\n').filter(l => l.includes(' ssh-rsa '));
    await writeFile(rsaOnly, `${lines.join('\n')}\n`);
    const backend = await makeBackend(t, sshd, { knownHostsFile: rsaOnly });
    await backend.start();
    assert.equal(backend.isConnected(), true);
    assert.equal(verifyHostKey(parseKnownHosts(await readFile(rsaOnly, 'utf8')), '127.0.0.1', sshd.port, Buffer.from(sshd.hostPublicKey.split(' ')[1]!, 'base64')).status, 'unknown');
  });
});
