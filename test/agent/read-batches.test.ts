import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { READ_FILES_MAX } from '../../src/remote/file-client.ts';
import { tempDir } from '../helpers/tmp.ts';
import { goSkipReason, startAgentClient } from './agent-binary.ts';

/** Each folder's entry names, sorted, by absolute path, in the order of the answer. */
function names(folders: { path: string; entries: { name: string }[] }[]): [string, string[]][] {
  return folders.map(f => [f.path, f.entries.map(e => e.name).sort()]);
}

describe('subtree and readFiles through SftpFileClient against rmount-agent', { skip: goSkipReason() }, () => {
  it('advertises subtree and readFiles', async t => {
    const client = await startAgentClient(t);
    assert.equal(client.capabilities.subtree, true);
    assert.equal(client.capabilities.readFiles, true);
  });

  it('subtree answers every folder breadth first by absolute path, symlinks not followed', async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    await mkdir(join(dir, 'a/b'), { recursive: true });
    await writeFile(join(dir, 'a/b/f'), 'hello');
    await symlink('a', join(dir, 'link'));
    const got = await client.subtree(dir, { maxEntries: 100 });
    assert.equal(got.truncated, false);
    assert.deepEqual(names(got.folders), [[dir, ['a', 'link']], [join(dir, 'a'), ['b']], [join(dir, 'a/b'), ['f']]]);
    const f = got.folders[2]!.entries[0]!;
    assert.equal(f.stat.size, 5);
    assert.equal(typeof f.stat.ino, 'number');
    assert.equal(got.folders[0]!.entries.find(e => e.name === 'link')!.stat.mode & 0o170000, 0o120000);
  });

  it('subtree keeps to maxDepth, and cuts at a folder boundary past maxEntries', async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    await mkdir(join(dir, 'a/b'), { recursive: true });
    for (const n of ['1', '2', '3']) await writeFile(join(dir, 'a/b', n), n);
    const shallow = await client.subtree(dir, { maxEntries: 100, maxDepth: 2 });
    assert.deepEqual(names(shallow.folders), [[dir, ['a']], [join(dir, 'a'), ['b']]]);
    assert.equal(shallow.truncated, false);
    const cut = await client.subtree(dir, { maxEntries: 3 });
    assert.deepEqual(names(cut.folders), [[dir, ['a']], [join(dir, 'a'), ['b']]]);
    assert.equal(cut.truncated, true);
  });

  it('subtree of a missing path throws ENOENT, of a file ENOTDIR', async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    await writeFile(join(dir, 'f'), 'x');
    await assert.rejects(client.subtree(join(dir, 'nope'), { maxEntries: 10 }), { name: 'FsError', code: 'ENOENT', syscall: 'subtree' });
    await assert.rejects(client.subtree(join(dir, 'f'), { maxEntries: 10 }), { name: 'FsError', code: 'ENOTDIR', syscall: 'subtree' });
  });

  it('readFiles answers data and attributes in order, and each failure as an FsError', async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    await writeFile(join(dir, 'small'), 'small file');
    await writeFile(join(dir, 'big'), 'x'.repeat(100));
    await mkdir(join(dir, 'sub'));
    const got = await client.readFiles(['small', 'nope', 'big', 'sub'].map(n => join(dir, n)), 10);
    assert.deepEqual(got.map(f => f.path), ['small', 'nope', 'big', 'sub'].map(n => join(dir, n)));
    assert.equal(got[0]!.data!.toString(), 'small file');
    assert.equal(got[0]!.stat!.size, 10);
    assert.equal(got[1]!.error?.code, 'ENOENT');
    assert.equal(got[1]!.error?.name, 'FsError');
    assert.equal(got[1]!.error?.path, join(dir, 'nope'));
    assert.equal(got[2]!.data!.length, 10);
    assert.equal(got[2]!.stat!.size, 100);
    assert.equal(got[3]!.error?.code, 'EISDIR');
  });

  it('readFiles of more than READ_FILES_MAX paths throws EINVAL', async t => {
    const client = await startAgentClient(t);
    const paths = Array.from({ length: READ_FILES_MAX + 1 }, (_, i) => `/nope/${i}`);
    await assert.rejects(client.readFiles(paths, 16), { name: 'FsError', code: 'EINVAL', syscall: 'readFiles' });
    assert.equal((await client.readFiles(paths.slice(1), 16)).length, READ_FILES_MAX);
  });

  it('readFiles whose answer passes the agent\'s 32 MiB gets every file, in order, by smaller requests', async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    const mib = 1024 * 1024;
    const paths: string[] = [];
    for (let i = 0; i < 34; i++) {
      paths.push(join(dir, `f${i}`));
      await writeFile(paths[i]!, Buffer.alloc(mib, i));
    }
    const got = await client.readFiles(paths, mib);
    assert.deepEqual(got.map(f => f.path), paths);
    got.forEach((f, i) => {
      assert.equal(f.error, undefined);
      assert.equal(f.data!.length, mib);
      assert.equal(f.data![mib - 1], i);
    });
  });
});
