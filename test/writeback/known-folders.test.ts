import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KnownFolders } from '../../src/writeback/known-folders.ts';

describe('folders made through the mount', () => {
  it('answer any name not made in them as missing, until the grace after their mkdir ends', () => {
    let now = 1000;
    const known = new KnownFolders(2000, () => now);
    known.made('/w/d');
    known.added('/w/d', 'a');
    assert.equal(known.missing('/w/d', 'b'), true);
    assert.equal(known.missing('/w/d', 'a'), false, 'a name made there exists');
    assert.equal(known.missing('/w/other', 'b'), false, 'a folder not made here is asked');
    now += 60_000;
    assert.equal(known.missing('/w/d', 'b'), true, 'no end while the mkdir is pending');
    known.onRemote('/w/d');
    now += 1500;
    known.added('/w/d', 'c');
    now += 1500;
    assert.equal(known.missing('/w/d', 'b'), true, 'a name made there renews the grace');
    now += 2001;
    assert.equal(known.missing('/w/d', 'b'), false, 'after the grace the remote is asked');
  });

  it('a folder just listed and being filled through the mount answers names missing from it for the grace, renewed by names made in it', () => {
    let now = 0;
    const known = new KnownFolders(2000, () => now);
    known.listed('/w/src', ['a.ts', 'b.ts']);
    assert.equal(known.missing('/w/src', 'a.ts'), false);
    assert.equal(known.missing('/w/src', 'new.ts'), false, 'a folder only looked at is asked (a remote build may write there)');
    now += 1500;
    known.added('/w/src', 'new.ts');
    assert.equal(known.missing('/w/src', 'next.ts'), true, 'a folder being filled through the mount answers');
    now += 1500;
    assert.equal(known.missing('/w/src', 'new.ts'), false);
    assert.equal(known.missing('/w/src', 'other.ts'), true);
    now += 2001;
    assert.equal(known.missing('/w/src', 'other.ts'), false);
  });

  it('a barrier ends every grace, and a removed or moved folder is forgotten with what is below it', () => {
    const known = new KnownFolders(60_000);
    for (const p of ['/w/a', '/w/a/b', '/w/c']) known.made(p);
    known.onRemote('/w/a');
    known.onRemote('/w/a/b');
    known.forgetAll();
    assert.equal(known.missing('/w/a', 'x'), false);
    assert.equal(known.missing('/w/c', 'x'), true, 'a folder whose mkdir is pending stays known');
    known.forget('/w/c');
    assert.equal(known.missing('/w/c', 'x'), false);
  });
});
