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
