import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_MOUNT_OPTIONS, MOUNT_OPTIONS, kernelChecksPermissions, parseMountOptions, renderMountOptionsHelp,
} from '../../src/mount/mount-options.ts';

describe('parseMountOptions', () => {
  it('gives the defaults for no options', () => {
    assert.deepEqual(parseMountOptions([]), DEFAULT_MOUNT_OPTIONS);
  });
  it('reads flags and values from several -o lists, later ones winning', () => {
    const o = parseMountOptions(['ro,allow_other', 'uid=1000,gid=100,umask=022', 'cache_timeout=5,attr_timeout=1.5', 'rw']);
    assert.equal(o.readOnly, false);
    assert.equal(o.allowOther, true);
    assert.equal(o.uid, 1000);
    assert.equal(o.gid, 100);
    assert.equal(o.umask, 0o022);
    assert.equal(o.entryTimeoutMs, 5000);
    assert.equal(o.attrTimeoutMs, 1500);
  });
  it('turns default_permissions on with allow_other unless no_default_permissions opts out', () => {
    assert.equal(kernelChecksPermissions(parseMountOptions([])), false);
    assert.equal(kernelChecksPermissions(parseMountOptions(['allow_other'])), true);
    assert.equal(kernelChecksPermissions(parseMountOptions(['allow_other,no_default_permissions'])), false);
    assert.equal(kernelChecksPermissions(parseMountOptions(['default_permissions'])), true);
  });
  it('lists every option it parses in the help text', () => {
    const help = renderMountOptionsHelp();
    for (const spec of MOUNT_OPTIONS) assert.ok(help.includes(spec.value === undefined ? spec.name : `${spec.name}=${spec.value}`), spec.name);
    assert.equal(parseMountOptions(['kernel_cache']).kernelCache, true);
  });
  it('rejects unknown options and bad values with a usage error', () => {
    for (const bad of ['frob', 'uid=x', 'umask=999', 'idmap=maybe', 'timeout=0', 'uid', 'cache_timeout=-1', 'ro=1']) {
      assert.throws(() => parseMountOptions([bad]), { code: 'ERR_USAGE' }, bad);
    }
  });
});

describe('write-back options', () => {
  it('writeback is on with a 1 GiB limit when not given', () => {
    const o = parseMountOptions([]);
    assert.equal(o.writeBack, 'on');
    assert.equal(o.writeBackMaxBytes, 1024 ** 3);
  });
  it('writeback=off turns the journal off and leaves the kernel writeback_cache alone', () => {
    const o = parseMountOptions(['writeback=off']);
    assert.equal(o.writeBack, 'off');
    assert.equal(o.writebackCache, false);
    assert.equal(parseMountOptions(['writeback_cache']).writeBack, 'on');
  });
  it('writeback_max takes bytes and binary K/M/G/KiB/MiB/GiB suffixes', () => {
    const cases: [string, number][] = [
      ['4096', 4096], ['64K', 64 * 1024], ['64KiB', 64 * 1024], ['512M', 512 * 1024 ** 2], ['512MiB', 512 * 1024 ** 2],
      ['2G', 2 * 1024 ** 3], ['2GiB', 2 * 1024 ** 3], ['8k', 8192],
    ];
    for (const [text, bytes] of cases) assert.equal(parseMountOptions([`writeback_max=${text}`]).writeBackMaxBytes, bytes, text);
  });
  it('a bad writeback or writeback_max value is a usage error that names the option', () => {
    for (const bad of ['writeback=yes', 'writeback', 'writeback_max=', 'writeback_max=0', 'writeback_max=1.5G', 'writeback_max=-1', 'writeback_max=10T', 'writeback_max=1 G', 'writeback_max']) {
      assert.throws(() => parseMountOptions([bad]), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_USAGE', bad);
        assert.ok(e.message.includes(bad.split('=')[0]!), `${bad}: ${e.message}`);
        return true;
      }, bad);
    }
  });
  it('the help lists both and tells writeback from writeback_cache', () => {
    const lines = renderMountOptionsHelp().split('\n');
    const line = (name: string): string => lines.find(l => l.trimStart().startsWith(`${name} `) || l.trimStart().startsWith(`${name}=`)) ?? '';
    assert.ok(line('writeback=on|off').includes('writeback_cache'));
    assert.ok(line('writeback_cache').includes('-o writeback'));
    assert.ok(line('writeback_max=SIZE').includes('1GiB'));
  });
});
