import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeParts } from './fixture.ts';

describe('OpenFiles', () => {
  it('fsync on a remote without fsync waits for writes and says so once', async () => {
    const infos: string[] = [];
    const log = { error() {}, warn() {}, debug() {}, info: (m: string) => { infos.push(m); } };
    const { client, core, entries, files } = makeParts({ log, writeFlushDelayMs: 1000 }, { capabilities: { fsync: false } });
    client.put('/work/f', '');
    const node = entries.node(core.table.root, 'f', await client.lstat('/work/f'));
    const remote = await client.open('/work/f', { read: true, write: true });
    const fh = files.add(node, remote, { read: true, write: true, append: false });
    await core.handles.file(fh, 'write').write(Buffer.from('data'), 0);
    await files.fsync(fh);
    await files.fsync(fh);
    assert.equal(client.content('/work/f').toString(), 'data');
    assert.equal(infos.length, 1);
    await files.release(fh);
    assert.equal(node.opens, 0);
    await assert.rejects(files.flush(fh), { code: 'EBADF' });
  });
});
