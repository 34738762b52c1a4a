import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeParts } from './fixture.ts';

describe('DirReader', () => {
  it('offsets are entry cookies over one snapshot; "." and ".." come first', async () => {
    const { client, core, dirs, clock } = makeParts({ prefetchConcurrency: 0 });
    for (const n of ['a', 'b', 'c']) client.put(`/work/${n}`, n);
    const fh = await dirs.open(core.table.root);
    const first = await dirs.plain(fh, 0, 4096);
    assert.deepEqual(first.map(e => [e.name, e.offset]), [['.', 1], ['..', 2], ['a', 3], ['b', 4], ['c', 5]]);
    client.put('/work/d', 'd');
    assert.deepEqual((await dirs.plain(fh, 3, 4096)).map(e => e.name), ['b', 'c'], 'the snapshot holds');
    clock.advance(2000);
    assert.deepEqual((await dirs.plain(fh, 0, 4096)).map(e => e.name).slice(2), ['a', 'b', 'c', 'd'], 'rewinddir takes the listing now');
    dirs.release(fh);
    assert.throws(() => dirs.release(fh), { code: 'EBADF' });
  });

  it('readdirplus entries are kernel references, "." and ".." are not', async () => {
    const { client, core, dirs } = makeParts();
    client.put('/work/a', 'a');
    const fh = await dirs.open(core.table.root);
    const out = await dirs.plus(fh, 0, 4096);
    assert.deepEqual(out.map(e => e.name), ['.', '..', 'a']);
    assert.equal(core.table.get(out[2]!.entry.ino)!.lookups, 1);
    assert.equal(core.table.root.lookups, 0);
    dirs.release(fh);
  });
});
