import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { LocalBackend } from '../../src/backends/local/backend.ts';
import { parseDestination } from '../../src/remote/destination.ts';
import { collectOutput } from '../../src/remote/session-output.ts';

describe('collectOutput', () => {
  const backend = new LocalBackend(parseDestination('local:/'));
  it('gathers stdout and stderr whole and the exit status, with stdin at end-of-file', async () => {
    const r = await collectOutput(await backend.exec(['sh', '-c', 'cat; printf out; printf err >&2; exit 3']));
    assert.deepEqual([r.code, r.signal, r.stdout.toString(), r.stderr.toString()], [3, null, 'out', 'err']);
  });
  it('feeds a buffer or a stream to stdin', async () => {
    const a = await collectOutput(await backend.exec(['cat']), Buffer.from('from a buffer'));
    assert.equal(a.stdout.toString(), 'from a buffer');
    const b = await collectOutput(await backend.exec(['cat']), Readable.from([Buffer.from('from '), Buffer.from('a stream')]));
    assert.equal(b.stdout.toString(), 'from a stream');
  });
  it('reports a signal that ended the command', async () => {
    const r = await collectOutput(await backend.exec(['sh', '-c', 'kill -TERM $$']));
    assert.deepEqual([r.code, r.signal], [null, 'SIGTERM']);
  });
});
