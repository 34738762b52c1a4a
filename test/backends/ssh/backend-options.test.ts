import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SshBackend } from '../../../src/backends/ssh/backend.ts';
import { tempDir } from '../../helpers/tmp.ts';

describe('SshBackend settings before connecting', () => {
  it('addr, user and keepAliveInterval come from ssh_config; options and the destination win', async t => {
    const home = await tempDir(t);
    await mkdir(join(home, '.ssh'));
    const configFile = join(home, '.ssh', 'config');
    await writeFile(configFile, 'Host box\n  HostName 10.9.8.7\n  User cfg\n  Port 2201\n  ServerAliveInterval 7\n  ServerAliveCountMax 2\n');
    const dest = { type: 'ssh' as const, host: 'box', raw: 'box:' };
    const fromConfig = new SshBackend(dest, { configFile, homeDir: home, localUser: 'me' });
    assert.equal(fromConfig.addr, 'cfg@10.9.8.7:2201');
    assert.equal(fromConfig.user, 'cfg');
    assert.equal(fromConfig.keepAliveInterval, 7000);
    assert.equal(fromConfig.config.serverAliveCountMax, 2);
    assert.equal(fromConfig.isConnected(), false);
    const overridden = new SshBackend({ ...dest, user: 'dest', port: 22 }, { configFile, homeDir: home, keepAliveIntervalMs: 1500 });
    assert.equal(overridden.addr, 'dest@10.9.8.7');
    assert.equal(overridden.keepAliveInterval, 1500);
  });

  it('exec before start rejects with ERR_UNREACHABLE', async t => {
    const home = await tempDir(t);
    const backend = new SshBackend({ type: 'ssh', host: 'box', raw: 'box:' }, { configFile: join(home, 'none'), homeDir: home });
    await assert.rejects(backend.exec(['true']), { code: 'ERR_UNREACHABLE' });
    await backend.close();
  });
});
