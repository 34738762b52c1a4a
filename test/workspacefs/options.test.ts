import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMountOptions, resolveOptions } from '../../src/workspacefs/options.ts';

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

  it('parses sshfs-style -o options and names the unknown ones', () => {
    const { options, unknown } = parseMountOptions({ cache_timeout: '3', uid: '1000', umask: '022', ro: true, idmap: 'none', reconnect: true });
    assert.deepEqual(options, { cacheTimeoutMs: 3000, uid: 1000, umask: 0o22, readOnly: true, idmap: 'none' });
    assert.deepEqual(unknown, ['reconnect']);
    assert.throws(() => parseMountOptions({ idmap: 'file' }), TypeError);
  });
});
