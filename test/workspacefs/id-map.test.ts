import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdMap } from '../../src/workspacefs/id-map.ts';

const zero = { sec: 0, nsec: 0 };
const rootStat = { mode: 0o40755, size: 0, uid: 1000, gid: 100, atime: zero, mtime: zero };
const base = { idmap: 'user' as const, uid: undefined, gid: undefined, localUid: 501, localGid: 20 };

describe('IdMap', () => {
  it('shows the root owner as the local user and maps chown back', async () => {
    const ids = new IdMap(base);
    assert.equal(ids.needsRootOwner, true);
    await ids.load(async () => rootStat);
    assert.equal(ids.needsRootOwner, false);
    assert.deepEqual(ids.toLocal({ uid: 1000, gid: 100 }), { uid: 501, gid: 20 });
    assert.deepEqual(ids.toLocal({ uid: 0, gid: 0 }), { uid: 0, gid: 0 });
    assert.equal(ids.toRemote(501, 'uid'), 1000);
    assert.equal(ids.toRemote(20, 'gid'), 100);
    assert.equal(ids.toRemote(7, 'uid'), 7);
  });

  it('fixed ids win and map back to the root owner', async () => {
    const ids = new IdMap({ ...base, uid: 42, gid: 43 });
    assert.equal(ids.needsRootOwner, false);
    assert.deepEqual(ids.toLocal({ uid: 0, gid: 0 }), { uid: 42, gid: 43 });
    await ids.load(async () => rootStat);
    assert.equal(ids.toRemote(42, 'uid'), 1000);
    assert.equal(ids.toRemote(41, 'uid'), 41);
  });

  it('idmap=none shows remote ids as they are', () => {
    const ids = new IdMap({ ...base, idmap: 'none' });
    assert.equal(ids.needsRootOwner, false);
    assert.deepEqual(ids.toLocal({ uid: 1000, gid: 100 }), { uid: 1000, gid: 100 });
    assert.equal(ids.toRemote(501, 'uid'), 501);
  });

  it('concurrent loads share one call; a failed load is retried', async () => {
    const ids = new IdMap(base);
    let calls = 0;
    await assert.rejects(ids.load(async () => { calls++; throw new Error('down'); }));
    await Promise.all([1, 2, 3].map(() => ids.load(async () => { calls++; return rootStat; })));
    assert.equal(calls, 2);
  });

  it('a setattr carries only what changes, ids mapped back', async () => {
    const ids = new IdMap(base);
    await ids.load(async () => rootStat);
    assert.deepEqual(ids.toRemoteSetAttr({ mode: 0o100644, uid: 501, mtime: 'now' }), { mode: 0o644, uid: 1000, mtime: 'now' });
  });
});
