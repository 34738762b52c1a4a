import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BATCH_MAX_BYTES, BATCH_MAX_OPS, canBatch, type BatchOp } from '../../src/remote/file-client.ts';
import { tempDir } from '../helpers/tmp.ts';
import { goSkipReason, startAgentClient } from './agent-binary.ts';

const times = { atime: { sec: 1_000_000, nsec: 1 }, mtime: { sec: 2_000_000, nsec: 2 } };

describe('batch@rmount through SftpFileClient', { skip: goSkipReason() }, () => {
  it('batch does mkdir, put, symlink, rename, setattr, link, unlink and rmdir in order in one request', async t => {
    const client = await startAgentClient(t);
    assert.equal(canBatch(client), true);
    const dir = await tempDir(t, 'rmount-agent-');
    const d = join(dir, 'd');
    const ops: BatchOp[] = [
      { kind: 'mkdir', path: d, mode: 0o777 },
      { kind: 'put', path: join(d, 'f'), data: Buffer.from('in a batch'), options: { mode: 0o640, ...times } },
      { kind: 'symlink', target: 'g', path: join(d, 'l') },
      { kind: 'rename', from: join(d, 'f'), to: join(d, 'g'), noReplace: true },
      { kind: 'setattr', path: join(d, 'g'), attrs: { mtime: { sec: 1_700_000_000, nsec: 123_456_789 } } },
      { kind: 'setattr', path: join(d, 'l'), attrs: { atime: { sec: 5, nsec: 6 }, mtime: { sec: 7, nsec: 8 } }, noFollow: true },
      { kind: 'link', existing: join(d, 'g'), path: join(d, 'h') },
      { kind: 'unlink', path: join(d, 'h') },
      { kind: 'mkdir', path: join(dir, 'e'), mode: 0o755 },
      { kind: 'rmdir', path: join(dir, 'e') },
    ];
    assert.deepEqual(await client.batch(ops), ops.map(() => undefined));
    assert.equal((await stat(d)).mode & 0o7777, 0o777);
    const g = await lstat(join(d, 'g'), { bigint: true });
    assert.equal(Number(g.mode & 0o7777n), 0o640);
    assert.equal(g.mtimeNs, 1_700_000_000_123_456_789n);
    assert.equal(g.nlink, 1n);
    assert.equal(await readFile(join(d, 'g'), 'utf8'), 'in a batch');
    assert.equal(await readlink(join(d, 'l')), 'g');
    if (process.platform === 'linux') assert.equal((await lstat(join(d, 'l'), { bigint: true })).mtimeNs, 7_000_000_008n);
    await assert.rejects(lstat(join(dir, 'e')), { code: 'ENOENT' });
  });

  it('batch answers each failed item with its exact errno, in order, and carries on after it', async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    await mkdir(join(dir, 'full', 'x'), { recursive: true });
    await writeFile(join(dir, 'there'), 'theirs');
    const results = await client.batch([
      { kind: 'rmdir', path: join(dir, 'full') },
      { kind: 'mkdir', path: join(dir, 'a'), mode: 0o700 },
      { kind: 'unlink', path: join(dir, 'missing') },
      { kind: 'rename', from: join(dir, 'a'), to: join(dir, 'there'), noReplace: true },
      { kind: 'put', path: join(dir, 'there'), data: Buffer.from('ours'), options: { mode: 0o644, exclusive: true, ...times } },
      { kind: 'mkdir', path: join(dir, 'a'), mode: 0o700 },
      { kind: 'rename', from: join(dir, 'a'), to: join(dir, 'b') },
    ]);
    assert.deepEqual(results.map(e => e === undefined ? 'ok' : `${e.name} ${e.code} ${e.syscall} ${e.path}`), [
      `FsError ENOTEMPTY rmdir ${join(dir, 'full')}`,
      'ok',
      `FsError ENOENT unlink ${join(dir, 'missing')}`,
      `FsError EEXIST rename ${join(dir, 'a')}`,
      `FsError EEXIST put ${join(dir, 'there')}`,
      `FsError EEXIST mkdir ${join(dir, 'a')}`,
      'ok',
    ]);
    assert.equal((await stat(join(dir, 'b'))).isDirectory(), true);
    assert.equal(await readFile(join(dir, 'there'), 'utf8'), 'theirs');
  });

  it('batch of nothing resolves with nothing; past the limits it fails EINVAL and does nothing', async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    assert.deepEqual(await client.batch([]), []);
    const many: BatchOp[] = Array.from({ length: BATCH_MAX_OPS + 1 }, (_, i) => ({ kind: 'mkdir', path: join(dir, `m${i}`), mode: 0o755 }));
    await assert.rejects(client.batch(many), { name: 'FsError', code: 'EINVAL', syscall: 'batch' });
    const big: BatchOp[] = [{ kind: 'put', path: join(dir, 'big'), data: Buffer.alloc(BATCH_MAX_BYTES), options: { mode: 0o644, ...times } }];
    await assert.rejects(client.batch(big), { name: 'FsError', code: 'EINVAL', syscall: 'batch' });
    await assert.rejects(lstat(join(dir, 'm0')), { code: 'ENOENT' });
    await assert.rejects(lstat(join(dir, 'big')), { code: 'ENOENT' });
  });

  it('batch at the limits fits in one agent request', async t => {
    const client = await startAgentClient(t);
    const dir = await tempDir(t, 'rmount-agent-');
    const path = join(dir, 'big');
    const data = Buffer.alloc(BATCH_MAX_BYTES - 64 - Buffer.byteLength(path), 'x');
    assert.deepEqual(await client.batch([{ kind: 'put', path, data, options: { mode: 0o644, ...times } }]), [undefined]);
    assert.equal((await stat(path)).size, data.length);
    const many: BatchOp[] = Array.from({ length: BATCH_MAX_OPS }, (_, i) => ({ kind: 'mkdir', path: join(dir, `m${i}`), mode: 0o755 }));
    const results = await client.batch(many);
    assert.equal(results.length, BATCH_MAX_OPS);
    assert.ok(results.every(r => r === undefined));
  });
});
