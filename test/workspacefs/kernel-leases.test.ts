import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KernelLeases } from '../../src/workspacefs/kernel-leases.ts';

describe('KernelLeases', () => {
  it('hands back what the kernel may still hold, once, and forgets what outlived its lifetime', () => {
    let t = 1_000;
    const leases = new KernelLeases(() => t, 2000, () => true);
    leases.inode(5);
    leases.missing(1, 'old');
    t += 2500;
    leases.inode(7);
    leases.inode(7);
    leases.missing(1, 'gone');
    assert.deepEqual(leases.take(), { inodes: [7], missing: [{ parent: 1, name: 'gone', at: t }] });
    assert.deepEqual(leases.take(), { inodes: [], missing: [] });
  });

  it('asks for every node to be told when more were handed out within one lifetime than it keeps', () => {
    const leases = new KernelLeases(() => 1_000, 2000, () => true);
    for (let ino = 1; ino <= 200_001; ino++) leases.inode(ino);
    assert.equal(leases.take(), 'all');
    leases.inode(3);
    assert.deepEqual(leases.take(), { inodes: [3], missing: [] }, 'the next command is told as usual');
  });

  it('keeps nothing while a watch reports changes, or with caching off', () => {
    const leases = new KernelLeases(() => 1_000, 2000, () => false);
    leases.inode(3);
    leases.missing(1, 'x');
    assert.deepEqual(leases.take(), { inodes: [], missing: [] });
    const off = new KernelLeases(() => 1_000, 0, () => true);
    off.inode(3);
    assert.deepEqual(off.take(), { inodes: [], missing: [] });
  });
});
