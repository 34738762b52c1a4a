import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeParts } from './fixture.ts';

describe('ContentPrefetch', () => {
  it('two read-only opens in one folder read its other small files ahead; idle() says when', async () => {
    const { client, core, entries, attrSource, contentPrefetch } = makeParts({ contentMaxFileBytes: 100 });
    for (const name of ['a', 'b', 'c', 'd']) client.put(`/work/${name}`, `content ${name}`);
    client.put('/work/big', Buffer.alloc(1000));
    const node = async (name: string) => {
      const n = entries.node(core.table.root, name, await client.lstat(`/work/${name}`));
      await attrSource.get(n);
      return n;
    };
    assert.equal(await contentPrefetch.opened(await node('a'), '/work/a'), undefined);
    assert.equal(await contentPrefetch.opened(await node('b'), '/work/b'), undefined);
    await contentPrefetch.idle();
    client.resetCounts();
    const c = await contentPrefetch.opened(await node('c'), '/work/c');
    assert.equal(c?.data.toString(), 'content c');
    assert.equal(await contentPrefetch.opened(await node('big'), '/work/big'), undefined);
    assert.equal(client.count('open') + client.count('handle.read'), 0);
    await c!.remote.close();
  });

  it('is off with contentCacheBytes 0', async () => {
    const { client, core, entries, contentPrefetch } = makeParts({ contentCacheBytes: 0 });
    client.put('/work/a', 'x');
    assert.equal(await contentPrefetch.opened(entries.node(core.table.root, 'a', await client.lstat('/work/a')), '/work/a'), undefined);
    await contentPrefetch.idle();
  });
});
