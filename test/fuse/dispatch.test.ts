import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Dispatcher, toErrno } from '../../src/fuse/dispatch.ts';
import { decodeSetattr } from '../../src/fuse/requests.ts';
import { errnoName, errnoNumber } from '../../src/fuse/errno.ts';
import { DIRENTPLUS_STRIDE, ENTRY_LEN, OPEN_DIRECT_IO, OPEN_KEEP_CACHE, SET_ATTR, SETATTR_LEN } from '../../src/fuse/native.ts';
import { ROOT_INO, type FuseOperations } from '../../src/fuse/operations.ts';
import { FsError } from '../../src/remote/fs-error.ts';
import { FakeBinding, recordingLogger } from './fake-binding.ts';
import { MemoryFs } from './memfs.ts';

const ctx = { uid: 0, gid: 0, pid: 1, umask: 0o022 };

/** A Dispatcher over a MemoryFs whose methods `overrides` replace (undefined = not implemented). */
function setup(overrides: Partial<Record<keyof FuseOperations, unknown>> = {}) {
  const fs = new MemoryFs();
  fs.add(ROOT_INO, 'hello.txt', 'hello world\n');
  const ops = new Proxy(fs, {
    get(target, key) {
      if (Object.hasOwn(overrides, key)) return (overrides as Record<PropertyKey, unknown>)[key];
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as unknown as FuseOperations;
  const binding = new FakeBinding();
  const log = recordingLogger();
  const dispatcher = new Dispatcher(binding, ops, log);
  binding.callbacks = { request: dispatcher.request, init() {}, closed() {}, notified() {} };
  dispatcher.attach(binding.handle);
  return { fs, binding, log, dispatcher };
}

/** Every request id the fake issued got exactly one reply (the fake itself refuses a second). */
async function assertExactlyOnce(s: ReturnType<typeof setup>): Promise<void> {
  await s.dispatcher.settled();
  for (const id of s.binding.issued) assert.equal(s.binding.repliesTo(id).length, 1, `request ${id}`);
  assert.equal(s.binding.replies.length, s.binding.issued.size);
}

describe('Dispatcher', () => {
  it('lookup of an existing name replies one entry', async () => {
    const s = setup();
    const id = s.binding.request('lookup', ctx, ROOT_INO, 'hello.txt');
    await assertExactlyOnce(s);
    const [reply] = s.binding.repliesTo(id);
    assert.equal(reply!.fn, 'replyEntry');
    const entry = reply!.args[0] as Float64Array;
    assert.equal(entry.length, ENTRY_LEN);
    assert.equal(entry[0], 2); // ino
    assert.equal(entry[4 + 6], 12); // attr.size
  });

  it('lookup of a missing name replies ENOENT', async () => {
    const s = setup();
    const id = s.binding.request('lookup', ctx, ROOT_INO, 'nope');
    await assertExactlyOnce(s);
    assert.deepEqual(s.binding.repliesTo(id)[0], { fn: 'replyErr', id, args: [errnoNumber('ENOENT')] });
    assert.equal(s.log.lines.length, 0);
  });

  it('an op that throws synchronously replies EIO once and logs the stack once', async () => {
    const boom = new Error('boom');
    const s = setup({ getattr: () => { throw boom; } });
    const id = s.binding.request('getattr', ctx, ROOT_INO, undefined);
    await assertExactlyOnce(s);
    assert.deepEqual(s.binding.repliesTo(id)[0]!.args, [errnoNumber('EIO')]);
    assert.equal(s.log.lines.filter(l => l.level === 'error').length, 1);
    assert.equal(s.log.lines[0]!.err, boom);
  });

  it('an op that rejects with a non-FsError replies EIO', async () => {
    const s = setup({ statfs: async () => { throw new TypeError('bug'); } });
    const id = s.binding.request('statfs', ctx, ROOT_INO);
    await assertExactlyOnce(s);
    assert.deepEqual(s.binding.repliesTo(id)[0]!.args, [errnoNumber('EIO')]);
  });

  it('an FsError code becomes its errno', async () => {
    const s = setup({ rmdir: async () => { throw new FsError('ENOTEMPTY', 'rmdir', '/x'); } });
    const id = s.binding.request('rmdir', ctx, ROOT_INO, 'x');
    await assertExactlyOnce(s);
    assert.deepEqual(s.binding.repliesTo(id)[0]!.args, [errnoNumber('ENOTEMPTY')]);
  });

  for (const op of ['mknod', 'access', 'fsyncdir', 'readdirplus'] as const) {
    it(`${op} that the filesystem lacks replies ENOSYS`, async () => {
      const s = setup({ [op]: undefined });
      const args: Record<typeof op, unknown[]> = {
        mknod: [ROOT_INO, 'dev', 0o20644, 0], access: [ROOT_INO, 4], fsyncdir: [ROOT_INO, 1, 0], readdirplus: [ROOT_INO, 1, 0, 4096],
      };
      const id = s.binding.request(op, ctx, ...args[op]);
      await assertExactlyOnce(s);
      assert.deepEqual(s.binding.repliesTo(id)[0], { fn: 'replyErr', id, args: [errnoNumber('ENOSYS')] });
    });
  }

  it('a reply value the binding rejects is answered EIO instead', async () => {
    const s = setup();
    s.binding.rejectNext = 'replyBuf';
    const id = s.binding.request('read', ctx, 2, 1, 0, 4096);
    await assertExactlyOnce(s);
    assert.deepEqual(s.binding.repliesTo(id)[0], { fn: 'replyErr', id, args: [errnoNumber('EIO')] });
    assert.equal(s.log.lines.filter(l => l.level === 'error').length, 1);
  });

  it('read replies the bytes at the offset', async () => {
    const s = setup();
    const id = s.binding.request('read', ctx, 2, 1, 6, 5);
    await assertExactlyOnce(s);
    assert.equal(Buffer.from(s.binding.repliesTo(id)[0]!.args[0] as Uint8Array).toString(), 'world');
  });

  it('write hands the data over and replies the count', async () => {
    const s = setup();
    const id = s.binding.request('write', ctx, 2, 1, Buffer.from('HELLO'), 0);
    await assertExactlyOnce(s);
    assert.deepEqual(s.binding.repliesTo(id)[0]!.args, [5]);
    assert.equal(s.fs.nodes.get(2)!.data.toString(), 'HELLO world\n');
  });

  it('open replies the handle and its flags', async () => {
    const s = setup({ open: async () => ({ fh: 7, directIo: true, keepCache: true }) });
    const id = s.binding.request('open', ctx, 2, 0);
    await assertExactlyOnce(s);
    assert.deepEqual(s.binding.repliesTo(id)[0]!.args, [7, OPEN_DIRECT_IO | OPEN_KEEP_CACHE]);
  });

  it('void ops reply ok', async () => {
    const s = setup();
    const ids = [
      s.binding.request('flush', ctx, 2, 1), s.binding.request('release', ctx, 2, 1),
      s.binding.request('fsync', ctx, 2, 1, 1), s.binding.request('releasedir', ctx, 1, 1),
      s.binding.request('unlink', ctx, ROOT_INO, 'hello.txt'),
    ];
    await assertExactlyOnce(s);
    for (const id of ids) assert.equal(s.binding.repliesTo(id)[0]!.fn, 'replyOk');
  });

  it('forget reaches the filesystem and takes no reply', async () => {
    const s = setup();
    s.binding.request('lookup', ctx, ROOT_INO, 'hello.txt');
    await s.dispatcher.settled();
    s.binding.notice('forget', 2, 1);
    await assertExactlyOnce(s);
    assert.equal(s.fs.refs.get(2), 0);
  });

  it('readdirplus forgets the entries the kernel buffer did not take', async () => {
    const s = setup();
    s.fs.add(ROOT_INO, 'b.txt', 'b');
    s.fs.add(ROOT_INO, 'c.txt', 'c');
    s.binding.fit = 3; // ".", "..", "hello.txt"
    const id = s.binding.request('readdirplus', ctx, ROOT_INO, 1, 0, 4096);
    await assertExactlyOnce(s);
    const [names, entries] = s.binding.repliesTo(id)[0]!.args as [string[], Float64Array];
    assert.deepEqual(names, ['.', '..', 'hello.txt', 'b.txt', 'c.txt']);
    assert.equal(entries.length, 5 * DIRENTPLUS_STRIDE);
    assert.equal(s.fs.refs.get(2), 1);
    assert.equal(s.fs.refs.get(3), 0);
    assert.equal(s.fs.refs.get(4), 0);
    assert.equal(s.log.lines.filter(l => l.level === 'warn').length, 1);
  });

  it('a lookup whose reply is rejected gives its reference back', async () => {
    const s = setup();
    s.binding.rejectNext = 'replyEntry';
    s.binding.request('lookup', ctx, ROOT_INO, 'hello.txt');
    await assertExactlyOnce(s);
    assert.equal(s.fs.refs.get(2), 0);
  });

  it('a reply after the mount closed is dropped without an error log', async () => {
    let finish!: () => void;
    const s = setup({ getattr: () => new Promise<never>((_, reject) => { finish = () => reject(new FsError('EIO', 'getattr')); }) });
    s.binding.request('getattr', ctx, ROOT_INO, undefined);
    s.binding.closed = true;
    s.dispatcher.close();
    finish();
    await s.dispatcher.settled();
    assert.equal(s.binding.replies.length, 0);
    assert.equal(s.log.lines.filter(l => l.level === 'error').length, 0);
  });

  it('100 parallel mixed requests get exactly one reply each', async () => {
    const s = setup();
    for (let i = 0; i < 100; i++) {
      const pick = i % 5;
      if (pick === 0) s.binding.request('lookup', ctx, ROOT_INO, i % 2 ? 'hello.txt' : 'missing');
      if (pick === 1) s.binding.request('getattr', ctx, 2, undefined);
      if (pick === 2) s.binding.request('read', ctx, 2, 1, i, 16);
      if (pick === 3) s.binding.request('readdir', ctx, ROOT_INO, 1, 0, 4096);
      if (pick === 4) s.binding.request('statfs', ctx, ROOT_INO);
    }
    await assertExactlyOnce(s);
    assert.equal(s.binding.issued.size, 100);
  });
});

describe('decodeSetattr', () => {
  it('UTIME_NOW becomes now and omitted fields stay absent', () => {
    const v = new Float64Array(SETATTR_LEN);
    v[3] = 42;
    v[6] = 1700000000;
    v[7] = 5;
    const changes = decodeSetattr(SET_ATTR.SIZE | SET_ATTR.ATIME | SET_ATTR.ATIME_NOW | SET_ATTR.MTIME, v);
    assert.deepEqual(changes, { size: 42, atime: 'now', mtime: { sec: 1700000000, nsec: 5 } });
  });
});

describe('errno', () => {
  it('names map to the Linux numbers', () => {
    assert.equal(errnoNumber('ENOENT'), 2);
    assert.equal(errnoNumber('EIO'), 5);
    assert.equal(errnoNumber('ENOSYS'), 38);
    assert.equal(errnoNumber('ENOTEMPTY'), 39);
    assert.equal(errnoName(2), 'ENOENT');
  });

  it('toErrno maps FsError by code and anything else to EIO with one log line', () => {
    const log = recordingLogger();
    assert.equal(toErrno(new FsError('EACCES', 'open'), 'open', log), 13);
    assert.equal(toErrno('weird', 'open', log), 5);
    assert.equal(log.lines.length, 1);
  });
});
