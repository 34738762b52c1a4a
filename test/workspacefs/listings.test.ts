import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeParts } from './fixture.ts';

describe('Listings', () => {
  it('concurrent fetches of one folder share one readdir, which refreshes known children', async () => {
    const { client, core, listings, attrs } = makeParts({}, { latencyMs: 2 });
    client.put('/work/a', 'xyz');
    const root = core.table.root;
    const a = core.table.resolve(root, 'a', (await client.lstat('/work/a'))).node;
    client.resetCounts();
    const [one, two] = await Promise.all([listings.fetch(root, '/work'), listings.fetch(root, '/work')]);
    assert.equal(one, two);
    assert.equal(client.count('readdir'), 1);
    assert.equal(attrs.fresh(a), true);
    assert.equal(listings.cached(root.ino), one);
  });

  it('a listing is as old as its request: one that took long expires a lifetime after it was asked for', async () => {
    const { client, core, listings, clock } = makeParts({ dirTimeoutMs: 1000 }, { latencyMs: 2 });
    client.put('/work/a', 'x');
    const fetching = listings.fetch(core.table.root, '/work');
    clock.advance(800); // the answer comes 0.8 s after the question
    await fetching;
    assert.notEqual(listings.cached(core.table.root.ino), undefined);
    clock.advance(300);
    assert.equal(listings.cached(core.table.root.ino), undefined, '1.1 s after the request, not 0.3 s after the answer');
  });

  it('a listing read while the folder changed through us is returned, not kept', async () => {
    const { client, core, listings } = makeParts({}, { latencyMs: 2 });
    client.put('/work/a', 'x');
    const fetching = listings.fetch(core.table.root, '/work');
    listings.changed(core.table.root.ino);
    assert.equal((await fetching).entries.length, 1);
    assert.equal(listings.cached(core.table.root.ino), undefined);
  });

  it('find answers from one listing, and remembers a missing name', async () => {
    const { client, core, listings } = makeParts({ prefetchConcurrency: 0 });
    client.put('/work/a', 'x');
    client.resetCounts();
    assert.equal((await listings.find(core.table.root, 'a', 'lookup'))?.stat.size, 1);
    assert.equal(await listings.find(core.table.root, 'nope', 'lookup'), undefined);
    assert.equal(await listings.find(core.table.root, 'nope', 'lookup'), undefined);
    assert.equal(client.count('readdir'), 1);
    assert.equal(client.count('lstat'), 1, 'a name missing from an older listing is asked once');
    assert.equal(core.counters.cache.negative.hits, 1);
  });

  it('without a watch, where lifetimes are trusted, a name missing from a listing within its lifetime is missing unasked', async () => {
    const { client, core, listings, clock } = makeParts({ prefetchConcurrency: 0, cacheTimeoutMs: 2000 });
    core.watch.trustLifetimes();
    client.put('/work/a', 'x');
    const root = core.table.root;
    assert.notEqual(await listings.find(root, 'a', 'lookup'), undefined);
    client.resetCounts();
    for (const name of ['.gitignore', '.editorconfig', 'Makefile']) assert.equal(await listings.find(root, name, 'lookup'), undefined);
    assert.equal(client.count('lstat'), 0, JSON.stringify([...client.calls]));
    // Past the listing's lifetime the name is asked for again, as a lookup with nothing cached.
    clock.advance(2001);
    client.put('/work/Makefile', 'all:');
    assert.equal((await listings.find(root, 'Makefile', 'lookup'))?.stat.size, 4);
  });

  it('a remote command that ended makes older listings and names found missing answer no missing name', async () => {
    const { client, core, listings, clock } = makeParts({ prefetchConcurrency: 0, cacheTimeoutMs: 2000 });
    core.watch.trustLifetimes();
    const root = core.table.root;
    assert.equal(await listings.find(root, 'out.o', 'lookup'), undefined);
    assert.equal(await listings.find(root, 'log.txt', 'lookup'), undefined);
    // `rmount exec make` made both, and ended.
    clock.advance(5);
    client.put('/work/out.o', 'obj');
    client.put('/work/log.txt', 'ok');
    core.watch.commandEnded();
    client.resetCounts();
    assert.equal((await listings.find(root, 'out.o', 'lookup'))?.stat.size, 3, 'listed before the command ended');
    assert.equal((await listings.find(root, 'log.txt', 'lookup'))?.stat.size, 2, 'remembered missing before it ended');
    assert.equal(client.count('readdir') + client.count('lstat'), 2, JSON.stringify([...client.calls]));
    // A listing asked for after the command ended is trusted again.
    clock.advance(5);
    await listings.fetch(root, '/work');
    client.resetCounts();
    assert.equal(await listings.find(root, 'core', 'lookup'), undefined);
    assert.equal(client.count('lstat'), 0);
  });

  it('with close-to-open (-o cto), a name missing from an older listing is asked for once', async () => {
    const { client, core, listings } = makeParts({ prefetchConcurrency: 0 });
    const root = core.table.root;
    await listings.fetch(root, '/work');
    client.resetCounts();
    assert.equal(await listings.find(root, 'nope', 'lookup'), undefined);
    assert.equal(await listings.find(root, 'nope', 'lookup'), undefined);
    assert.equal(client.count('lstat'), 1);
  });

  it('a vanished name is unlinked, remembered missing, and the kernel told', async () => {
    const { client, core, listings, notices, kernel } = makeParts();
    client.put('/work/a', 'x');
    const a = core.table.resolve(core.table.root, 'a', await client.lstat('/work/a')).node;
    listings.vanished(a);
    assert.equal(core.table.child(core.table.root, 'a'), undefined);
    assert.equal(await listings.find(core.table.root, 'a', 'lookup'), undefined);
    notices.sendSoon();
    await new Promise(resolve => setImmediate(resolve));
    assert.deepEqual(kernel.calls, [`entry ${core.table.root.ino} a`]);
  });

  it('a folder the kernel forgot takes the names known missing in it along', async () => {
    const { client, core, listings } = makeParts({ prefetchConcurrency: 0 });
    listings.markMissing(core.table.root.ino, 'x');
    listings.forgotten(core.table.root.ino);
    client.put('/work/x', '1');
    assert.notEqual(await listings.find(core.table.root, 'x', 'lookup'), undefined);
  });

  it('reset forgets listings and missing names', async () => {
    const { client, core, listings } = makeParts();
    await listings.fetch(core.table.root, '/work');
    listings.markMissing(core.table.root.ino, 'x');
    listings.reset();
    assert.equal(listings.cached(core.table.root.ino), undefined);
    client.put('/work/x', '1');
    assert.notEqual(await listings.find(core.table.root, 'x', 'lookup'), undefined);
  });
});
