import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalMountpoint, findMount, parseMountInfo } from '../../src/system/mountinfo.ts';

describe('parseMountInfo', () => {
  it('reads device, mountpoint with escaped spaces, type and source', () => {
    const text = '36 35 0:32 / /tmp/a\\040b rw,nosuid - fuse.rmount rmount:local:/x rw,user_id=0\n'
      + '22 1 8:1 / / rw shared:1 master:2 - ext4 /dev/vda rw\n';
    assert.deepEqual(parseMountInfo(text), [
      { device: '0:32', mountpoint: '/tmp/a b', fstype: 'fuse.rmount', source: 'rmount:local:/x' },
      { device: '8:1', mountpoint: '/', fstype: 'ext4', source: '/dev/vda' },
    ]);
  });
  it('keeps the kernel order, so the last entry of a stacked mountpoint is the top one', () => {
    const text = '40 22 0:50 / /m rw - tmpfs a rw\n41 40 0:51 / /m rw - fuse.rmount b rw\n';
    assert.deepEqual(parseMountInfo(text).map(e => e.device), ['0:50', '0:51']);
  });
  it('skips blank and truncated lines', () => {
    assert.deepEqual(parseMountInfo('\n1 2 3\n'), []);
  });
});

describe('findMount', () => {
  it('finds / and nothing at a path that is no mountpoint', async () => {
    assert.equal((await findMount('/'))?.mountpoint, '/');
    assert.equal(await findMount('/no/such/rmount/mountpoint'), undefined);
  });
});

describe('canonicalMountpoint', () => {
  it('makes a relative path absolute without resolving the last component', async () => {
    assert.equal(await canonicalMountpoint('/'), '/');
    assert.equal(await canonicalMountpoint('/no-such-dir-rmount/x'), '/no-such-dir-rmount/x');
  });
});
