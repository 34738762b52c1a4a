import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FsError } from '../../src/remote/fs-error.ts';
import { makeParts } from './fixture.ts';

/** An open file /work/f registered with the VFS's open files, writes gathered until sent. */
async function openWritable(options: Parameters<typeof makeParts>[0] = {}) {
  const parts = makeParts({ writeFlushDelayMs: 1000, ...options });
  const { client, core, entries, files } = parts;
  client.put('/work/f', '');
  const node = entries.node(core.table.root, 'f', await client.lstat('/work/f'));
  const remote = await client.open('/work/f', { read: true, write: true });
  const fh = files.add(node, remote, { read: true, write: true, append: false });
  return { ...parts, fh, file: core.handles.file(fh, 'write') };
}

describe('writes the remote did not acknowledge', () => {
  it('a write whose remote never answers within the op timeout fails fsync with EIO', async () => {
    const { client, files, fh, file } = await openWritable({ opTimeoutMs: 50 });
    client.hook = method => method === 'handle.write' ? new Promise<void>(() => undefined) : undefined;
    await file.write(Buffer.from('data'), 0);
    await assert.rejects(files.fsync(fh), { code: 'EIO', syscall: 'handle.write' });
  });

  it('a write the transport could not deliver fails fsync with EIO, not ENOTCONN', async () => {
    const { client, files, fh, file } = await openWritable();
    client.hook = method => { if (method === 'handle.write') throw new FsError('ENOTCONN', 'write', '/work/f'); };
    await file.write(Buffer.from('data'), 0);
    await assert.rejects(files.fsync(fh), (error: FsError) => error.code === 'EIO' && (error.cause as FsError).code === 'ENOTCONN');
  });

  it('a failed write that no flush or fsync reported fails the last close', async () => {
    const { client, files, fh, file } = await openWritable();
    client.hook = method => { if (method === 'handle.write') throw new FsError('ENOTCONN', 'write', '/work/f'); };
    await file.write(Buffer.from('data'), 0);
    await assert.rejects(files.release(fh), { code: 'EIO' });
  });
});
