import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveOptions } from '../../src/workspacefs/options.ts';

describe('workspace options', () => {
  it('cache_timeout sets every cache lifetime not given on its own', () => {
    const o = resolveOptions({ root: '/w/', cacheTimeoutMs: 5000, negativeTimeoutMs: 0 });
    assert.deepEqual([o.attrTimeoutMs, o.entryTimeoutMs, o.dirTimeoutMs, o.negativeTimeoutMs], [5000, 5000, 5000, 0]);
    assert.equal(o.root, '/w');
    assert.equal(o.opTimeoutMs, 30_000);
    assert.equal(o.idmap, 'user');
  });

  it('a relative root is refused', () => {
    assert.throws(() => resolveOptions({ root: 'w' }), TypeError);
  });
});
