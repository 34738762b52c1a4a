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

  it('reads the folder\'s small files in readFiles batches where the client offers them', async () => {
    const { client, core, entries, attrSource, contentPrefetch } = makeParts({ contentMaxFileBytes: 100 }, { capabilities: { readFiles: true } });
    const names = Array.from({ length: 300 }, (_, i) => `f${String(i).padStart(3, '0')}`);
    for (const name of names) client.put(`/work/${name}`, `content ${name}`);
    const node = async (name: string) => {
      const n = entries.node(core.table.root, name, await client.lstat(`/work/${name}`));
      await attrSource.get(n);
      return n;
    };
    await contentPrefetch.opened(await node('f000'), '/work/f000');
    await contentPrefetch.opened(await node('f001'), '/work/f001');
    await contentPrefetch.idle();
    // 298 files: two requests (256 paths at most in one), no open or read.
    assert.equal(client.count('readFiles'), 2);
    assert.equal(client.count('open'), 0);
    client.resetCounts();
    for (const name of names.slice(2)) {
      const got = await contentPrefetch.opened(await node(name), `/work/${name}`);
      assert.equal(got?.data.toString(), `content ${name}`);
      await got!.remote.close();
    }
    assert.equal(client.count('open') + client.count('handle.read') + client.count('readFiles'), 0);
  });

  it('a file that changed after the listing is not kept from a batch', async () => {
    const { client, core, entries, attrSource, contentPrefetch } = makeParts({ contentMaxFileBytes: 100 }, { capabilities: { readFiles: true } });
    for (const name of ['a', 'b', 'c']) client.put(`/work/${name}`, `content ${name}`);
    const node = async (name: string) => {
      const n = entries.node(core.table.root, name, await client.lstat(`/work/${name}`));
      await attrSource.get(n);
      return n;
    };
    const c = await node('c');
    client.put('/work/c', 'changed since the listing');
    await contentPrefetch.opened(await node('a'), '/work/a');
    await contentPrefetch.opened(await node('b'), '/work/b');
    await contentPrefetch.idle();
    assert.equal(client.count('readFiles'), 1);
    assert.equal(await contentPrefetch.opened(c, '/work/c'), undefined);
  });

  it('a walk reads ahead the small files of the folders below, where their listings are cached', async () => {
    const { client, core, entries, attrSource, listings, contentPrefetch } = makeParts({ contentMaxFileBytes: 100 }, { capabilities: { readFiles: true } });
    for (const name of ['a', 'b']) client.put(`/work/${name}`, name);
    for (const name of ['c', 'd']) client.put(`/work/sub/${name}`, name);
    client.put('/work/sub/deeper/e', 'e');
    client.put('/work/other/f', 'f');
    await listings.listing(core.table.root);
    const sub = entries.node(core.table.root, 'sub', await client.lstat('/work/sub'));
    await listings.listing(sub);
    const node = async (dir: string, name: string) => {
      const parent = dir === '' ? core.table.root : core.table.child(core.table.root, dir)!;
      const n = entries.node(parent, name, await client.lstat(`/work/${dir === '' ? '' : `${dir}/`}${name}`));
      await attrSource.get(n);
      return n;
    };
    await contentPrefetch.opened(await node('', 'a'), '/work/a');
    await contentPrefetch.opened(await node('', 'b'), '/work/b');
    await contentPrefetch.idle();
    client.resetCounts();
    for (const name of ['c', 'd']) {
      const got = await contentPrefetch.opened(await node('sub', name), `/work/sub/${name}`);
      assert.equal(got?.data.toString(), name, `sub/${name} read ahead`);
      await got!.remote.close();
    }
    assert.equal(client.count('readFiles') + client.count('open'), 0);
  });

  it('is off with contentCacheBytes 0', async () => {
    const { client, core, entries, contentPrefetch } = makeParts({ contentCacheBytes: 0 });
    client.put('/work/a', 'x');
    assert.equal(await contentPrefetch.opened(entries.node(core.table.root, 'a', await client.lstat('/work/a')), '/work/a'), undefined);
    await contentPrefetch.idle();
  });
});
