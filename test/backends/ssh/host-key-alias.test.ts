/**
 * HostKeyAlias and GlobalKnownHostsFile: which name a host key is looked up and recorded under,
 * and the read-only system files checked after the user's. Tables over HostKeyCheck with
 * synthetic key blobs; ssh_config parsing of both settings; the alias end to end against sshd.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { DEFAULT_GLOBAL_KNOWN_HOSTS, resolveSshConfig } from '../../../src/backends/ssh/config.ts';
import { HostKeyCheck, type HostKeyPolicy } from '../../../src/backends/ssh/host-key-check.ts';
import { sshdSkipReason, startSshd } from '../../helpers/sshd.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { makeBackend, run } from './helpers.ts';

/** A syntactically valid public key blob: string(type) string(body). */
function blob(type: string, seed: number): Buffer {
  const t = Buffer.from(type);
  const out = Buffer.alloc(8 + t.length + 32, seed);
  out.writeUInt32BE(t.length, 0);
  t.copy(out, 4);
  out.writeUInt32BE(32, 4 + t.length);
  return out;
}
const KEY = blob('ssh-ed25519', 1);
const OTHER = blob('ssh-ed25519', 2);
const line = (name: string, key: Buffer): string => `${name} ssh-ed25519 ${key.toString('base64')}\n`;

/** Runs one host key check; resolves with ssh2's verdict and the refusal, if any. */
async function check(policy: HostKeyPolicy, key: Buffer): Promise<{ ok: boolean; problem?: string }> {
  const hk = new HostKeyCheck(policy);
  await hk.load();
  const ok = await new Promise<boolean>(resolve => hk.verify(key, resolve));
  return hk.failure ? { ok, problem: hk.failure.problem } : { ok };
}

async function files(t: TestContext, user: string, global: string): Promise<{ userFile: string; globalFile: string }> {
  const dir = await tempDir(t);
  const userFile = join(dir, 'known_hosts');
  const globalFile = join(dir, 'ssh_known_hosts');
  await writeFile(userFile, user);
  await writeFile(globalFile, global);
  return { userFile, globalFile };
}

describe('host key lookup name and files', () => {
  const table: { name: string; user: string; global: string; alias?: string; port?: number; key: Buffer; expect: { ok: boolean; problem?: string } }[] = [
    { name: 'the alias is looked up instead of [host]:port', user: line('jumpbox', KEY), global: '', alias: 'jumpbox', port: 2222, key: KEY, expect: { ok: true } },
    { name: 'with an alias, a key filed under [host]:port does not count', user: line('[10.0.0.5]:2222', KEY), global: '', alias: 'jumpbox', port: 2222, key: KEY, expect: { ok: false, problem: 'unknown' } },
    { name: 'the alias is used verbatim, without a port', user: line('[jumpbox]:2222', KEY), global: '', alias: 'jumpbox', port: 2222, key: KEY, expect: { ok: false, problem: 'unknown' } },
    { name: 'a different key under the alias has changed', user: line('jumpbox', OTHER), global: '', alias: 'jumpbox', key: KEY, expect: { ok: false, problem: 'changed' } },
    { name: 'a key in the global file is trusted', user: '', global: line('10.0.0.5', KEY), key: KEY, expect: { ok: true } },
    { name: 'a changed key in the global file is refused', user: '', global: line('10.0.0.5', OTHER), key: KEY, expect: { ok: false, problem: 'changed' } },
    { name: 'the global file is consulted under the alias too', user: '', global: line('jumpbox', KEY), alias: 'jumpbox', key: KEY, expect: { ok: true } },
  ];
  for (const c of table) {
    it(c.name, async t => {
      const { userFile, globalFile } = await files(t, c.user, c.global);
      const policy: HostKeyPolicy = {
        host: '10.0.0.5', port: c.port ?? 22, knownHostsFiles: [userFile], globalKnownHostsFiles: [globalFile], strict: 'yes', acceptNew: false,
        ...(c.alias === undefined ? {} : { hostKeyAlias: c.alias }),
      };
      assert.deepEqual(await check(policy, c.key), c.expect);
    });
  }

  it('accept-new records the key under the alias, in the user file only', async t => {
    const { userFile, globalFile } = await files(t, '', '');
    const policy: HostKeyPolicy = { host: '10.0.0.5', port: 2222, hostKeyAlias: 'jumpbox', knownHostsFiles: [userFile], globalKnownHostsFiles: [globalFile], strict: 'accept-new', acceptNew: false };
    assert.deepEqual(await check(policy, KEY), { ok: true });
    assert.equal(await readFile(userFile, 'utf8'), line('jumpbox', KEY));
    assert.equal(await readFile(globalFile, 'utf8'), '');
  });
});

describe('ssh_config HostKeyAlias and GlobalKnownHostsFile', () => {
  const cases: { name: string; config: string; expect: { hostKeyAlias: string | undefined; global: (home: string) => string[] } }[] = [
    { name: 'defaults: no alias, the two system files', config: '', expect: { hostKeyAlias: undefined, global: () => [...DEFAULT_GLOBAL_KNOWN_HOSTS] } },
    { name: 'HostKeyAlias is lower-cased', config: 'Host web\n  HostKeyAlias Bastion-Web\n', expect: { hostKeyAlias: 'bastion-web', global: () => [...DEFAULT_GLOBAL_KNOWN_HOSTS] } },
    { name: 'GlobalKnownHostsFile takes several files and ~', config: 'Host web\n  GlobalKnownHostsFile /etc/corp_hosts ~/g2\n', expect: { hostKeyAlias: undefined, global: home => ['/etc/corp_hosts', join(home, 'g2')] } },
    { name: 'GlobalKnownHostsFile none turns them off', config: 'Host web\n  GlobalKnownHostsFile none\n', expect: { hostKeyAlias: undefined, global: () => [] } },
  ];
  for (const c of cases) {
    it(c.name, async t => {
      const home = await tempDir(t);
      await mkdir(join(home, '.ssh'));
      await writeFile(join(home, '.ssh', 'config'), c.config);
      const config = resolveSshConfig({ host: 'web', homeDir: home, localUser: 'me' });
      assert.equal(config.hostKeyAlias, c.expect.hostKeyAlias);
      assert.deepEqual(config.globalKnownHostsFiles, c.expect.global(home));
    });
  }
});

describe('HostKeyAlias against sshd', { skip: sshdSkipReason() }, () => {
  it('a key filed only under the alias lets the backend connect', async t => {
    const sshd = await startSshd(t);
    const knownHostsFile = join(sshd.dir, 'alias_known_hosts');
    await writeFile(knownHostsFile, `test-alias ${sshd.hostPublicKey}\n`);
    const configFile = join(sshd.dir, 'alias_config');
    await writeFile(configFile, 'Host *\n  IdentityAgent none\n  HostKeyAlias test-alias\n  GlobalKnownHostsFile none\n');
    const backend = await makeBackend(t, sshd, { configFile, knownHostsFile });
    await backend.start();
    assert.equal((await run(backend, ['echo', 'aliased'])).stdout.toString(), 'aliased\n');
  });
});
