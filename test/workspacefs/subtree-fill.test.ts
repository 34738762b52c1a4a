import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import type { WorkspaceFilesystem } from '../../src/workspacefs/workspace-filesystem.ts';
import { ctx, makeFs, O_CREAT, O_EXCL, O_WRONLY } from './fixture.ts';
import type { MemoryFileClient } from '../helpers/memory-file-client.ts';

/** `find -ls` through the VFS: a listing of each folder, a lookup and a getattr of each name. */
async function find(fs: WorkspaceFilesystem, ino = ROOT_INO, prefix = ''): Promise<string[]> {
  const { fh } = await fs.opendir(ino, 0, ctx);
  const names = (await fs.readdir(ino, fh, 0, 1 << 20, ctx)).map(e => e.name).filter(n => n !== '.' && n !== '..');
  await fs.releasedir(ino, fh, ctx);
  const seen: string[] = [];
  for (const name of names) {
    const entry = await fs.lookup(ino, name, ctx);
    await fs.getattr(entry.ino, undefined, ctx);
    seen.push(prefix + name);
    if ((entry.attr.mode & 0o170000) === 0o040000) seen.push(...await find(fs, entry.ino, `${prefix}${name}/`));
  }
  return seen;
}

/** `folders` folders of `files` files each, in a tree three levels deep. */
function tree(client: MemoryFileClient, folders: number, files: number): void {
  for (let d = 0; d < folders; d++) {
    const dir = `/work/m${d % 3}/s${d % 7}/d${d}`;
    for (let f = 0; f < files; f++) client.put(`${dir}/f${f}.c`, 'x');
  }
}

function total(client: MemoryFileClient): number {
  return [...client.calls.values()].reduce((a, b) => a + b, 0);
}

describe('subtree fill', () => {
  it('a walk of a whole tree costs one listing and one subtree read', async () => {
    const { client, fs } = makeFs({}, { capabilities: { subtree: true }, latencyMs: 1 });
    tree(client, 30, 5);
    client.resetCounts();
    const seen = await find(fs);
    await fs.readAheadIdle();
    assert.equal(seen.length, 3 + 21 + 30 + 150);
    assert.equal(client.count('subtree'), 1, JSON.stringify([...client.calls]));
    // The root's own listing on demand; the walk may outrun the subtree read for a folder or two.
    assert.ok(client.count('readdir') <= 3, JSON.stringify([...client.calls]));
    assert.ok(client.count('lstat') <= 1, JSON.stringify([...client.calls]));
  });

  it('where a subtree read stops at its bound, the walk reads each folder left out in one request of its own', async () => {
    const { client, fs } = makeFs({ subtreeMaxEntries: 40 }, { capabilities: { subtree: true }, latencyMs: 1 });
    tree(client, 30, 5);
    client.resetCounts();
    const seen = await find(fs);
    await fs.readAheadIdle();
    assert.equal(seen.length, 204);
    // Far fewer requests than the 55 folders, and still a lookup never costs an lstat.
    assert.ok(total(client) < 40, JSON.stringify([...client.calls]));
    assert.ok(client.count('subtree') >= 2);
    assert.ok(client.count('lstat') <= 1, JSON.stringify([...client.calls]));
  });

  it('a folder changed through us while its subtree was read keeps what we did', async () => {
    const { client, fs } = makeFs({}, { capabilities: { subtree: true } });
    client.put('/work/a/b/old.txt', 'x');
    let release!: () => void;
    const held = new Promise<void>(r => { release = r; });
    // The answer is made at once (without new.txt) and held on its way back.
    const answer = client.subtree.bind(client);
    client.subtree = async (path, bounds) => {
      const tree = await answer(path, bounds);
      await held;
      return tree;
    };
    // Looking up a name in the root lists it on demand and starts the subtree read of it.
    await fs.lookup(ROOT_INO, 'a', ctx);
    const made = await fs.create(ROOT_INO, 'new.txt', 0o644, O_WRONLY | O_CREAT | O_EXCL, ctx);
    await fs.release(made.entry.ino, made.open.fh, ctx);
    release();
    await fs.readAheadIdle();
    assert.equal(client.count('subtree'), 1, 'the read was under way across the create');
    const { fh } = await fs.opendir(ROOT_INO, 0, ctx);
    const names = (await fs.readdir(ROOT_INO, fh, 0, 1 << 20, ctx)).map(e => e.name).filter(n => n !== '.' && n !== '..');
    await fs.releasedir(ROOT_INO, fh, ctx);
    assert.deepEqual(names.sort(), ['a', 'new.txt']);
  });

  it('without the capability the read-ahead lists folder by folder as before', async () => {
    const { client, fs } = makeFs({}, { latencyMs: 1 });
    tree(client, 30, 5);
    client.resetCounts();
    await find(fs);
    await fs.readAheadIdle();
    assert.equal(client.count('subtree'), 0);
    assert.ok(client.count('readdir') >= 30);
  });
});
