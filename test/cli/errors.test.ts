import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exitCodeForError, renderError, stableCode } from '../../src/cli/errors.ts';
import { NotFoundError, UsageError } from '../../src/remote/errors.ts';
import { FsError } from '../../src/remote/fs-error.ts';

/** An error of a layer that keeps its own class, as fuse's mount errors do today. */
class LayerError extends Error {
  readonly code = 'ERR_FUSE_MOUNT';
}

describe('renderError', () => {
  it('prints the code and the suggestion of an RmountError', () => {
    const text = renderError(new NotFoundError('x is gone', { suggestion: 'make x' }));
    assert.deepEqual(text.split('\n').map(l => /\[(\w+)\]$/.exec(l)?.[1] ?? l.trim()), ['ERR_NOT_FOUND', 'make x']);
  });
  it('prints the errno of an FsError', () => {
    assert.match(renderError(new FsError('ENOENT', 'stat', '/x')), /\[ENOENT\]$/);
  });
  it('prints the stable code of an error that does not extend RmountError', () => {
    assert.match(renderError(new LayerError('no INIT')), /\[ERR_FUSE_MOUNT\]$/);
    assert.equal(stableCode(new LayerError('x')), 'ERR_FUSE_MOUNT');
  });
  it('prints no code where there is none', () => {
    assert.equal(stableCode(new Error('plain')), undefined);
    assert.equal(stableCode({ code: 'commander.unknownOption' }), undefined);
    assert.doesNotMatch(renderError(new Error('plain')), /\[/);
  });
  it('exits 2 for usage errors and 1 for the rest', () => {
    assert.deepEqual([exitCodeForError(new UsageError('u')), exitCodeForError(new LayerError('m'))], [2, 1]);
  });
});
