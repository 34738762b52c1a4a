import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRequest } from '../../src/fuse/requests.ts';

describe('decodeRequest', () => {
  it('names every ranged op offset before size, in the binding\'s order', () => {
    for (const op of ['read', 'readdir', 'readdirplus'] as const) {
      assert.deepEqual(decodeRequest(op, [2, 7, 4096, 512]), { op, ino: 2, fh: 7, offset: 4096, size: 512 });
    }
    const data = Buffer.from('x');
    assert.deepEqual(decodeRequest('write', [2, 7, data, 10]), { op: 'write', ino: 2, fh: 7, data, offset: 10 });
  });

  it('keeps an absent file handle absent and knows no unknown op', () => {
    assert.deepEqual(decodeRequest('getattr', [1, undefined]), { op: 'getattr', ino: 1, maybeFh: undefined });
    assert.equal(decodeRequest('ioctl', [1]), undefined);
    assert.equal(decodeRequest('toString', []), undefined);
  });
});
