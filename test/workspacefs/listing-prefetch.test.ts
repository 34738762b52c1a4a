import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeParts } from './fixture.ts';

describe('ListingPrefetch', () => {
  it('a used listing gets its subfolders listed ahead, two levels for a listing read on demand', async () => {
    const { client, core, listings, listingPrefetch } = makeParts({ prefetchDepth: 3 }, { latencyMs: 1 });
    client.put('/work/a/b/c/d/f', 'x');
    await listings.listing(core.table.root);
    await listingPrefetch.idle();
    const a = core.table.child(core.table.root, 'a')!;
    const b = core.table.child(a, 'b')!;
    assert.notEqual(listings.cached(a.ino), undefined);
    assert.notEqual(listings.cached(b.ino), undefined);
    assert.equal(core.table.child(b, 'c') === undefined || listings.cached(core.table.child(b, 'c')!.ino) === undefined, true);
    assert.equal(core.counters.cache.prefetch.misses, 2);
  });

  it('idle() resolves at once when nothing is queued, and nothing is read ahead with concurrency 0', async () => {
    const { client, core, listings, listingPrefetch } = makeParts({ prefetchConcurrency: 0 });
    client.putDir('/work/a');
    await listingPrefetch.idle();
    await listings.listing(core.table.root);
    await listingPrefetch.idle();
    assert.equal(client.count('readdir'), 1);
  });
});
