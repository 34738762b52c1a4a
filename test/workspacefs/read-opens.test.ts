import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import type { WorkspaceFilesystem } from '../../src/workspacefs/workspace-filesystem.ts';
import { ctx, makeFs, O_RDONLY } from './fixture.ts';
import type { MemoryFileClient } from '../helpers/memory-file-client.ts';

async function cat(fs: WorkspaceFilesystem, name: string): Promise<string> {
  const entry = await fs.lookup(ROOT_INO, name, ctx);
  const { fh } = await fs.open(entry.ino, O_RDONLY, ctx);
  try {
    return Buffer.from(await fs.read(entry.ino, fh, 0, 1 << 20, ctx)).toString();
  } finally {
    await fs.release(entry.ino, fh, ctx);
  }
}

function calls(client: MemoryFileClient): Record<string, number> {
  return Object.fromEntries(client.calls);
}

describe('read-only opens', () => {
  it('a small file comes whole with its attributes in one request where the client reads files whole', async () => {
    const { client, fs } = makeFs({}, { capabilities: { readFiles: true } });
    client.put('/work/f', 'small');
    await fs.lookup(ROOT_INO, 'f', ctx);
    client.resetCounts();
    assert.equal(await cat(fs, 'f'), 'small');
    assert.deepEqual(calls(client), { readFiles: 1 });
  });

  it('a small file that grew past the bound is opened and read as before, at its new size', async () => {
    const { client, fs } = makeFs({ contentMaxFileBytes: 8 }, { capabilities: { readFiles: true } });
    client.put('/work/f', 'small');
    await fs.lookup(ROOT_INO, 'f', ctx);
    client.put('/work/f', 'not small any more');
    assert.equal(await cat(fs, 'f'), 'not small any more');
  });

  it('fstat of a file read whole and then unlinked answers from what is known, nlink 0, without reaching for its name', async () => {
    const { client, fs } = makeFs({}, { capabilities: { readFiles: true } });
    client.put('/work/f', 'small');
    const entry = await fs.lookup(ROOT_INO, 'f', ctx);
    const { fh } = await fs.open(entry.ino, O_RDONLY, ctx);
    await fs.unlink(ROOT_INO, 'f', ctx);
    const { attr } = await fs.getattr(entry.ino, fh, ctx);
    assert.equal(attr.nlink, 0);
    assert.equal(attr.size, 5);
    assert.equal(Buffer.from(await fs.read(entry.ino, fh, 0, 100, ctx)).toString(), 'small');
    await fs.release(entry.ino, fh, ctx);
  });

  it('a missing file fails the open as before', async () => {
    const { client, fs } = makeFs({}, { capabilities: { readFiles: true } });
    client.put('/work/f', 'x');
    const entry = await fs.lookup(ROOT_INO, 'f', ctx);
    await client.unlink('/work/f');
    await assert.rejects(fs.open(entry.ino, O_RDONLY, ctx), { code: 'ENOENT' });
  });

  it('while the watch keeps the caches an open still asks, in that one request: a remote command may have just changed the file', async () => {
    const { client, fs } = makeFs({}, { capabilities: { readFiles: true } });
    client.put('/work/f', 'kept');
    fs.watched(() => true);
    await fs.lookup(ROOT_INO, 'f', ctx);
    // Changed before its watch event came.
    client.put('/work/f', 'changed!');
    client.resetCounts();
    assert.equal(await cat(fs, 'f'), 'changed!');
    assert.deepEqual(calls(client), { readFiles: 1 });
  });
});
