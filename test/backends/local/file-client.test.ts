import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { after, before, describe, it, type TestContext } from 'node:test';
import { LocalFileClient } from '../../../src/backends/local/file-client.ts';
import { NSEC_NOW, NSEC_OMIT, type PosixBinding } from '../../../src/backends/local/posix.ts';
import type { Timespec } from '../../../src/remote/file-client.ts';
import { fileClientContract } from '../../remote/file-client-contract.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { errnoContract } from './errno-contract.ts';

fileClientContract('local', async t => ({ client: new LocalFileClient(), root: await tempDir(t) }));
errnoContract('local', async t => ({ client: new LocalFileClient(), root: await tempDir(t) }));

async function subject(t: TestContext): Promise<{ client: LocalFileClient; root: string }> {
  return { client: new LocalFileClient(), root: await tempDir(t) };
}

const OLD: Timespec = { sec: 1_000_000_000, nsec: 111_111_111 };

describe('LocalFileClient exact times', () => {
  const exact: [string, Timespec][] = [
    ['with nanoseconds', { sec: 1_700_000_000, nsec: 123_456_789 }],
    ['with whole microseconds', { sec: 1_700_000_000, nsec: 123_456_000 }],
    ['a year before 1970', { sec: -86_400 * 365, nsec: 500_000_000 }],
    ['one nanosecond after the epoch', { sec: 0, nsec: 1 }],
  ];
  for (const [name, time] of exact) {
    it(`setattr atime and mtime ${name} reads back exactly`, async t => {
      const { client, root } = await subject(t);
      await fsp.writeFile(`${root}/f`, 'x');
      await client.setattr(`${root}/f`, { atime: time, mtime: time });
      const st = await client.lstat(`${root}/f`);
      assert.deepEqual([st.atime, st.mtime], [time, time]);
    });
  }

  it('setattr atime alone keeps mtime to the nanosecond', async t => {
    const { client, root } = await subject(t);
    await fsp.writeFile(`${root}/f`, 'x');
    await client.setattr(`${root}/f`, { atime: OLD, mtime: OLD });
    await client.setattr(`${root}/f`, { atime: { sec: 1_700_000_000, nsec: 987_654_321 } });
    const st = await client.lstat(`${root}/f`);
    assert.deepEqual([st.atime, st.mtime], [{ sec: 1_700_000_000, nsec: 987_654_321 }, OLD]);
  });

  it('setattr mtime alone keeps atime to the nanosecond', async t => {
    const { client, root } = await subject(t);
    await fsp.writeFile(`${root}/f`, 'x');
    await client.setattr(`${root}/f`, { atime: OLD, mtime: OLD });
    await client.setattr(`${root}/f`, { mtime: { sec: -1, nsec: 999_999_999 } });
    const st = await client.lstat(`${root}/f`);
    assert.deepEqual([st.atime, st.mtime], [OLD, { sec: -1, nsec: 999_999_999 }]);
  });

  it('setattr atime now sets the current time and keeps mtime', async t => {
    const { client, root } = await subject(t);
    await fsp.writeFile(`${root}/f`, 'x');
    await client.setattr(`${root}/f`, { atime: OLD, mtime: OLD });
    const before = Math.floor(Date.now() / 1000);
    await client.setattr(`${root}/f`, { atime: 'now' });
    const st = await client.lstat(`${root}/f`);
    assert.ok(Math.abs(st.atime.sec - before) <= 5, `atime ${st.atime.sec} is not near ${before}`);
    assert.deepEqual(st.mtime, OLD);
  });

  it('setattr noFollow on a symlink changes the link and not its target', async t => {
    const { client, root } = await subject(t);
    await fsp.writeFile(`${root}/f`, 'x');
    await client.setattr(`${root}/f`, { atime: OLD, mtime: OLD });
    await fsp.symlink('f', `${root}/l`);
    const time = { sec: 1_600_000_000, nsec: 42 };
    await client.setattr(`${root}/l`, { atime: time, mtime: time }, { noFollow: true });
    const link = await client.lstat(`${root}/l`);
    const target = await client.lstat(`${root}/f`);
    assert.deepEqual([link.atime, link.mtime], [time, time]);
    assert.deepEqual([target.atime, target.mtime], [OLD, OLD]);
  });

  it('handle setattr sets times on the open file, even after a rename', async t => {
    const { client, root } = await subject(t);
    await fsp.writeFile(`${root}/f`, 'x');
    const h = await client.open(`${root}/f`, { read: false, write: true });
    try {
      await fsp.rename(`${root}/f`, `${root}/g`);
      const atime = { sec: -86_400 * 365, nsec: 500_000_000 };
      const mtime = { sec: 1_700_000_000, nsec: 123_456_789 };
      await h.setattr({ atime, mtime });
      const st = await client.lstat(`${root}/g`);
      assert.deepEqual([st.atime, st.mtime], [atime, mtime]);
      await h.setattr({ mtime: OLD });
      assert.deepEqual((await h.stat()).atime, atime);
      assert.deepEqual((await h.stat()).mtime, OLD);
    } finally {
      await h.close();
    }
  });

  it('handle setattr times after close throws EBADF', async t => {
    const { client, root } = await subject(t);
    await fsp.writeFile(`${root}/f`, 'x');
    const h = await client.open(`${root}/f`, { read: true, write: false });
    await h.close();
    await assert.rejects(h.setattr({ mtime: OLD }), { name: 'FsError', code: 'EBADF' });
  });

  it('setattr times of a missing path throws ENOENT', async t => {
    const { client, root } = await subject(t);
    await assert.rejects(client.setattr(`${root}/nope`, { mtime: OLD }), { name: 'FsError', code: 'ENOENT', syscall: 'setattr' });
  });

  it('setattr passes omitted and now times to the addon as markers', async t => {
    const calls: unknown[][] = [];
    const posix: PosixBinding = {
      utimensat: async (...args) => { calls.push(args); },
      futimens: async () => { throw new Error('unexpected futimens'); },
      mknod: async () => { throw new Error('unexpected mknod'); },
    };
    const client = new LocalFileClient({ posix });
    const root = await tempDir(t);
    await client.setattr(`${root}/f`, { mtime: 'now' });
    await client.setattr(`${root}/f`, { atime: { sec: -5, nsec: 7 } });
    assert.deepEqual(calls, [
      [`${root}/f`, 0, NSEC_OMIT, 0, NSEC_NOW, false],
      [`${root}/f`, -5, 7, 0, NSEC_OMIT, false],
    ]);
  });

  it('setattr turns an addon error into an FsError with its errno name', async t => {
    const posix: PosixBinding = {
      utimensat: async () => { throw Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM', syscall: 'utimensat' }); },
      futimens: async () => undefined,
      mknod: async () => undefined,
    };
    const root = await tempDir(t);
    await assert.rejects(new LocalFileClient({ posix }).setattr(`${root}/f`, { mtime: OLD }), { name: 'FsError', code: 'EPERM' });
  });
});

describe('LocalFileClient exact modes under umask 022', () => {
  let saved = 0;
  before(() => { saved = process.umask(0o022); });
  after(() => { process.umask(saved); });

  for (const mode of [0o777, 0o620, 0o4755, 0o2775]) {
    for (const exclusive of [true, false]) {
      it(`open create${exclusive ? ' exclusive' : ''} with mode ${mode.toString(8)} makes exactly that mode`, async t => {
        const { client, root } = await subject(t);
        const h = await client.open(`${root}/f`, { read: false, write: true, create: true, exclusive }, mode);
        await h.close();
        assert.equal((await client.lstat(`${root}/f`)).mode & 0o7777, mode);
      });
    }
  }

  for (const mode of [0o777, 0o2775, 0o1777]) {
    it(`mkdir with mode ${mode.toString(8)} makes exactly that mode`, async t => {
      const { client, root } = await subject(t);
      await client.mkdir(`${root}/d`, mode);
      assert.equal((await client.lstat(`${root}/d`)).mode & 0o7777, mode);
    });
  }

  it('mkdir in a setgid folder keeps the inherited setgid bit', async t => {
    const { client, root } = await subject(t);
    await fsp.chmod(root, 0o2775);
    await client.mkdir(`${root}/d`, 0o777);
    assert.equal((await client.lstat(`${root}/d`)).mode & 0o7777, 0o2777);
  });

  for (const mode of [0o777, 0o4755]) {
    it(`open create of an existing file with mode ${mode.toString(8)} leaves its mode alone`, async t => {
      const { client, root } = await subject(t);
      await fsp.writeFile(`${root}/f`, 'x');
      await fsp.chmod(`${root}/f`, 0o600);
      const h = await client.open(`${root}/f`, { read: true, write: true, create: true }, mode);
      await h.close();
      assert.equal((await client.lstat(`${root}/f`)).mode & 0o7777, 0o600);
      assert.equal(await fsp.readFile(`${root}/f`, 'utf8'), 'x');
    });
  }

  it('open create exclusive of an existing file throws EEXIST', async t => {
    const { client, root } = await subject(t);
    await fsp.writeFile(`${root}/f`, 'x');
    await assert.rejects(client.open(`${root}/f`, { read: false, write: true, create: true, exclusive: true }, 0o777), { name: 'FsError', code: 'EEXIST' });
  });

  it('creating with exact modes leaves the process umask as it was', async t => {
    const { client, root } = await subject(t);
    await client.mkdir(`${root}/d`, 0o777);
    await (await client.open(`${root}/f`, { read: false, write: true, create: true }, 0o777)).close();
    assert.equal(process.umask(0o022), 0o022);
  });
});

describe('LocalFileClient special files and long paths', () => {
  it('mknod makes a FIFO and a socket file with the exact mode, EEXIST on a taken name', async t => {
    const { client, root } = await subject(t);
    await client.mknod(`${root}/p`, 0o010000 | 0o640, 0);
    await client.mknod(`${root}/s`, 0o140000 | 0o777, 0);
    const p = await fsp.lstat(`${root}/p`);
    assert.ok(p.isFIFO());
    assert.equal(p.mode & 0o7777, 0o640);
    assert.ok((await fsp.lstat(`${root}/s`)).isSocket());
    assert.equal((await fsp.lstat(`${root}/s`)).mode & 0o7777, 0o777, 'the daemon umask took nothing');
    await assert.rejects(client.mknod(`${root}/p`, 0o010000 | 0o600, 0), { name: 'FsError', code: 'EEXIST', syscall: 'mknod' });
  });

  it('a path past PATH_MAX whose names fit works for mkdir, create, stat, rename, readdir, unlink and rmdir', async t => {
    const { client, root } = await subject(t);
    const comp = 'd'.repeat(200);
    const levels: string[] = [];
    let dir = root;
    for (let i = 0; i < 22; i++) {
      dir = `${dir}/${comp}${i}`;
      levels.push(dir);
      await client.mkdir(dir, 0o755);
    }
    assert.ok(Buffer.byteLength(dir) > 4096);
    const fh = await client.open(`${dir}/f`, { read: true, write: true, create: true, exclusive: true }, 0o600);
    await fh.write(Buffer.from('deep'), 0, 4, 0);
    await fh.close();
    assert.equal((await client.lstat(`${dir}/f`)).size, 4);
    await client.rename(`${dir}/f`, `${levels[10]}/g`);
    await client.link(`${levels[10]}/g`, `${dir}/h`);
    assert.deepEqual((await client.readdir(dir)).map(e => e.name), ['h']);
    await client.setattr(`${dir}/h`, { mode: 0o640 });
    assert.equal((await client.stat(`${dir}/h`)).mode & 0o7777, 0o640);
    await client.unlink(`${dir}/h`);
    await client.unlink(`${levels[10]}/g`);
    await assert.rejects(client.lstat(`${dir}/${'x'.repeat(256)}`), { code: 'ENAMETOOLONG' });
    for (const level of levels.reverse()) await client.rmdir(level);
    assert.deepEqual(await fsp.readdir(root), []);
  });
});
