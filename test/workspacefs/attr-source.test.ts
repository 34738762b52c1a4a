import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeParts } from './fixture.ts';

describe('AttrSource', () => {
  it('answers from the cache, then from the parent\'s listing, with no lstat', async () => {
    const { client, core, entries, attrSource, clock } = makeParts({ attrTimeoutMs: 1000, prefetchConcurrency: 0 });
    client.put('/work/f', 'abc');
    const node = entries.node(core.table.root, 'f', await client.lstat('/work/f'));
    client.resetCounts();
    assert.equal((await attrSource.get(node)).size, 3);
    clock.advance(1000);
    client.put('/work/f', 'abcd');
    assert.equal((await attrSource.get(node)).size, 4);
    assert.equal(client.count('lstat'), 0);
  });

  it('a node gone on the server is ENOENT; a root owner stat stores the root\'s attributes', async () => {
    const { client, core, entries, attrSource, attrs } = makeParts();
    client.put('/work/f', 'x');
    const node = entries.node(core.table.root, 'f', await client.lstat('/work/f'));
    client.removeBehind('/work/f');
    await assert.rejects(attrSource.get(node), { code: 'ENOENT' });
    await attrSource.rootStat();
    assert.equal(attrs.fresh(core.table.root), true);
  });

  it('a symlink target is read once while fresh', async () => {
    const { client, core, entries, attrSource } = makeParts();
    await client.symlink('there', '/work/l');
    const node = entries.node(core.table.root, 'l', await client.lstat('/work/l'));
    assert.equal(await attrSource.linkTarget(node), 'there');
    assert.equal(await attrSource.linkTarget(node), 'there');
    assert.equal(client.count('readlink'), 1);
  });
});
