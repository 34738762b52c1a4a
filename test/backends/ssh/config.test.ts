import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { matchPattern, parseProxyJump, resolveSshConfig, type SshConfigQuery } from '../../../src/backends/ssh/config.ts';
import { tempDir } from '../../helpers/tmp.ts';

/** Writes `files` (relative to <home>/.ssh) and resolves `host` against <home>/.ssh/config. */
async function resolveWith(t: { after(fn: () => Promise<void>): void }, files: Record<string, string>, query: Partial<SshConfigQuery> & { host: string }) {
  const home = await tempDir(t, 'rmount-sshcfg-');
  for (const [name, text] of Object.entries(files)) {
    const path = join(home, '.ssh', name);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, text);
  }
  return { home, config: resolveSshConfig({ homeDir: home, localUser: 'me', localHostname: 'box', localUid: 1000, ...query }) };
}

describe('resolveSshConfig', () => {
  it('defaults apply when no config file exists', async t => {
    const { home, config } = await resolveWith(t, {}, { host: 'Example.COM' });
    assert.equal(config.hostName, 'example.com');
    assert.equal(config.user, 'me');
    assert.equal(config.port, 22);
    assert.deepEqual(config.identityFiles, []);
    assert.deepEqual(config.proxyJump, []);
    assert.deepEqual(config.userKnownHostsFiles, [join(home, '.ssh/known_hosts'), join(home, '.ssh/known_hosts2')]);
    assert.equal(config.strictHostKeyChecking, 'ask');
    // Unset, not 0 (= off): the backend applies its own 15 s default.
    assert.equal(config.serverAliveInterval, undefined);
    assert.equal(config.serverAliveCountMax, 3);
    assert.equal(config.connectTimeout, undefined);
  });

  const cases: { name: string; config: string; host: string; query?: Partial<SshConfigQuery>; expect: Record<string, unknown> }[] = [
    {
      name: 'first obtained value wins',
      config: 'Host web\n  User alice\n  Port 2200\nHost *\n  User bob\n  Port 2222\n  ServerAliveInterval 15\n',
      host: 'web',
      expect: { user: 'alice', port: 2200, serverAliveInterval: 15 },
    },
    {
      name: 'global lines before any Host apply to every host',
      config: 'User early\nHost web\n  User late\n',
      host: 'web',
      expect: { user: 'early' },
    },
    {
      name: 'the destination user and port beat the config',
      config: 'Host web\n  User alice\n  Port 2200\n',
      host: 'web',
      query: { user: 'carol', port: 2022 },
      expect: { user: 'carol', port: 2022 },
    },
    {
      name: 'HostName expands %h and %%',
      config: 'Host *.lan\n  HostName %h.example.org\nHost pct\n  HostName a%%b\n',
      host: 'Box.LAN',
      expect: { hostName: 'box.lan.example.org' },
    },
    {
      name: 'wildcards * and ? match as in OpenSSH (? is exactly one character)',
      config: 'Host db?\n  Port 1\nHost db*\n  Port 2\n',
      host: 'db',
      expect: { port: 2 },
    },
    {
      name: 'host patterns are case-insensitive',
      config: 'Host WEB\n  Port 7\n',
      host: 'web',
      expect: { port: 7 },
    },
    {
      name: 'a negated pattern vetoes the whole Host line',
      config: 'Host *.corp !bastion.corp\n  ProxyJump bastion.corp\n',
      host: 'bastion.corp',
      expect: { proxyJump: [] },
    },
    {
      name: 'a negated pattern alone never matches',
      config: 'Host !other\n  Port 9\n',
      host: 'web',
      expect: { port: 22 },
    },
    {
      name: 'ProxyJump hops parse user and port',
      config: 'Host *.corp !bastion.corp\n  ProxyJump jump@bastion.corp:2222,ssh://second:23\n',
      host: 'db.corp',
      expect: { proxyJump: [{ host: 'bastion.corp', user: 'jump', port: 2222 }, { host: 'second', port: 23 }] },
    },
    {
      name: 'ProxyJump none disables a later jump',
      config: 'Host inside\n  ProxyJump none\nHost *\n  ProxyJump gw\n',
      host: 'inside',
      expect: { proxyJump: [] },
    },
    {
      name: 'StrictHostKeyChecking, IdentitiesOnly, ConnectTimeout, ServerAliveCountMax',
      config: 'Host x\n  StrictHostKeyChecking accept-new\n  IdentitiesOnly yes\n  ConnectTimeout 5\n  ServerAliveCountMax 7\n  BatchMode yes\n',
      host: 'x',
      expect: { strictHostKeyChecking: 'accept-new', identitiesOnly: true, connectTimeout: 5, serverAliveCountMax: 7, batchMode: true },
    },
    {
      name: 'StrictHostKeyChecking off means no',
      config: 'StrictHostKeyChecking off\n',
      host: 'x',
      expect: { strictHostKeyChecking: 'no' },
    },
    {
      name: 'keywords are case-insensitive and accept =',
      config: 'host=x\n  hOsTnAmE=10.0.0.1\n  PORT=2\n',
      host: 'x',
      expect: { hostName: '10.0.0.1', port: 2 },
    },
    {
      name: 'Match host and user criteria select a block',
      config: 'Match host a,b user *,!root\n  Port 3\n',
      host: 'b',
      expect: { port: 3 },
    },
    {
      name: 'Match with a negated user that matches does not apply',
      config: 'Match host b user !me\n  Port 3\n',
      host: 'b',
      expect: { port: 22 },
    },
    {
      name: 'Match exec never runs and never matches',
      config: 'Match exec "touch /tmp/rmount-should-not-exist"\n  Port 4\n',
      host: 'b',
      expect: { port: 22 },
    },
  ];
  for (const c of cases) {
    it(c.name, async t => {
      const { config } = await resolveWith(t, { config: c.config }, { host: c.host, ...c.query });
      for (const [key, value] of Object.entries(c.expect)) assert.deepEqual(config[key as keyof typeof config], value, key);
    });
  }

  it('IdentityFile collects every value and expands ~ and %d %u %h %r %p %n %l %i %%', async t => {
    const { home, config } = await resolveWith(t, {
      config: 'Host web\n  HostName web.example\n  User deploy\n  Port 2200\n  IdentityFile ~/.ssh/id_%h_%r\n  IdentityFile "%d/keys/%u %p %n %l %i %%"\nHost *\n  IdentityFile ~/.ssh/id_fallback\n',
    }, { host: 'web' });
    assert.deepEqual(config.identityFiles, [
      join(home, '.ssh/id_web.example_deploy'),
      `${home}/keys/me 2200 web box 1000 %`,
      join(home, '.ssh/id_fallback'),
    ]);
  });

  it('UserKnownHostsFile takes several files and expands tokens', async t => {
    const { home, config } = await resolveWith(t, { config: 'Host web\n  UserKnownHostsFile ~/kh1 %d/kh_%h\n' }, { host: 'web' });
    assert.deepEqual(config.userKnownHostsFiles, [join(home, 'kh1'), `${home}/kh_web`]);
  });

  it('Include is relative to ~/.ssh, expands globs in order, and applies in place', async t => {
    const { config } = await resolveWith(t, {
      config: 'Include conf.d/*.conf\nHost web\n  Port 99\n  User main\n',
      'conf.d/10-web.conf': 'Host web\n  User included\n',
      'conf.d/20-other.conf': 'Host web\n  User too-late\n  ConnectTimeout 9\n',
      'conf.d/ignored.txt': 'Port 1\n',
    }, { host: 'web' });
    assert.equal(config.user, 'included');
    assert.equal(config.connectTimeout, 9);
    assert.equal(config.port, 99);
  });

  it('Include inside a non-matching Host block contributes nothing', async t => {
    const { config } = await resolveWith(t, {
      config: 'Host other\n  Include extra\nHost web\n  Port 5\n',
      extra: 'Port 6\nHost *\n  User x\n',
    }, { host: 'web' });
    assert.equal(config.port, 5);
    assert.equal(config.user, 'me');
  });

  it('Host lines inside an included file end with that file', async t => {
    const { config } = await resolveWith(t, {
      config: 'Include extra\nPort 8\n',
      extra: 'Host nomatch\n  User x\n',
    }, { host: 'web' });
    assert.equal(config.port, 8);
  });

  it('an explicit config file replaces ~/.ssh/config', async t => {
    const { home } = await resolveWith(t, { config: 'Port 1\n' }, { host: 'x' });
    const other = join(home, 'other_config');
    await writeFile(other, 'Port 2\n');
    assert.equal(resolveSshConfig({ homeDir: home, localUser: 'me', host: 'x', configFile: other }).port, 2);
  });

  it('the system config comes after the user config', async t => {
    const { home } = await resolveWith(t, { config: 'Host x\n  Port 1\n' }, { host: 'x' });
    const system = join(home, 'ssh_config');
    await writeFile(system, 'Port 2\nUser sys\n');
    const config = resolveSshConfig({ homeDir: home, localUser: 'me', host: 'x', systemConfigFile: system });
    assert.equal(config.port, 1);
    assert.equal(config.user, 'sys');
  });
});

describe('ssh config patterns', () => {
  const table: [string, string, boolean][] = [
    ['web', 'web', true], ['web', 'w*', true], ['web', 'w?b', true], ['wb', 'w?b', false],
    ['a.b.c', '*.c', true], ['a.b.c', 'a.*', true], ['a+b', 'a+b', true], ['a.b', 'a?b', true], ['axb', 'a.b', false],
  ];
  for (const [text, pattern, expected] of table) {
    it(`matchPattern("${text}", "${pattern}") is ${expected}`, () => assert.equal(matchPattern(text, pattern), expected));
  }
  it('parseProxyJump reads IPv6 hops', () => {
    assert.deepEqual(parseProxyJump('u@[::1]:2200'), [{ host: '::1', user: 'u', port: 2200 }]);
  });
});
