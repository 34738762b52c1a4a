import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { describe, it, type TestContext } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import type { FsError } from '../../src/remote/fs-error.ts';
import { FXP, STATUS } from '../../src/sftp/constants.ts';
import { PacketWriter, SftpProtocolError } from '../../src/sftp/packet.ts';
import { sftpInitPacket } from '../../src/sftp/sftp-connection.ts';
import { SftpFileClient, SftpFileHandle, type SftpFileClientOptions } from '../../src/sftp/sftp-file-client.ts';
import { tempDir } from '../helpers/tmp.ts';
import { FakeSftpServer, type FakeRequest, type FakeServerOptions } from './fake-server.ts';
import { sftpServerSkipReason, startSftpClient } from './sftp-server.ts';

async function fakeClient(
  t: TestContext,
  options: FakeServerOptions = {},
  clientOptions: SftpFileClientOptions = {},
): Promise<{ fake: FakeSftpServer; client: SftpFileClient }> {
  const fake = new FakeSftpServer(options);
  const client = await SftpFileClient.over(fake.clientStream, clientOptions);
  t.after(() => client.close());
  return { fake, client };
}

/** Answers OPEN with a handle, READ with bytes equal to (offset & 0xff), WRITE and CLOSE with OK. */
function fileServer(record: { reads: number[]; writes: Array<[number, Buffer]> }) {
  return (req: FakeRequest, s: FakeSftpServer): void => {
    if (req.type === FXP.OPEN) s.send(s.handle(req.id, 'h1'));
    else if (req.type === FXP.READ) {
      req.r.bytes();
      const offset = req.r.u64();
      const len = req.r.u32();
      record.reads.push(len);
      s.send(s.data(req.id, Buffer.from(Array.from({ length: len }, (_, i) => (offset + i) & 0xff))));
    } else if (req.type === FXP.WRITE) {
      req.r.bytes();
      record.writes.push([req.r.u64(), Buffer.from(req.r.bytes())]);
      s.send(s.status(req.id));
    } else s.send(s.status(req.id));
  };
}

const readOnly = { read: true, write: false } as const;

describe('SftpClient framing and ordering (scripted peer)', () => {
  it('sends INIT itself, or only waits for VERSION when the caller wrote INIT ahead', async t => {
    const own = await fakeClient(t);
    assert.equal(own.fake.inits, 1);
    const fake = new FakeSftpServer({ onRequest: (req, s) => s.send(s.attrs(req.id, { size: 7 })) });
    fake.clientStream.write(sftpInitPacket());
    const client = await SftpFileClient.over(fake.clientStream, { initSent: true });
    t.after(() => client.close());
    assert.equal((await client.lstat('/x')).size, 7);
    assert.equal(fake.inits, 1);
  });

  it('requests answered out of order settle their own promises', async t => {
    const held: FakeRequest[] = [];
    const { client } = await fakeClient(t, {
      onRequest: (req, s) => {
        held.push(req);
        if (held.length === 3) for (const h of [...held].reverse()) s.send(s.attrs(h.id, { size: h.r.string().length }));
      },
    });
    const sizes = await Promise.all(['a', 'bb', 'ccc'].map(p => client.lstat(p).then(st => st.size)));
    assert.deepEqual(sizes, [1, 2, 3]);
  });

  it('a reply split into single-byte chunks is decoded', async t => {
    let sending: Promise<void> | undefined;
    const { client } = await fakeClient(t, {
      onRequest: (req, s) => {
        const reply = s.attrs(req.id, { size: 1234, permissions: 0o100644, atime: 5, mtime: 6 });
        // One byte per event-loop turn, so that each arrives as its own chunk.
        sending = (async () => {
          for (const byte of reply) {
            s.send(Buffer.from([byte]));
            await tick();
          }
        })();
      },
    });
    const st = await client.lstat('x');
    await sending;
    assert.deepEqual([st.size, st.mode, st.atime.sec, st.mtime.sec], [1234, 0o100644, 5, 6]);
  });

  it('several replies in one chunk are all decoded', async t => {
    const held: FakeRequest[] = [];
    const { client } = await fakeClient(t, {
      onRequest: (req, s) => {
        held.push(req);
        if (held.length === 3) s.send(Buffer.concat(held.map(h => s.attrs(h.id, { size: h.id }))));
      },
    });
    const sizes = await Promise.all(['a', 'b', 'c'].map(p => client.lstat(p).then(st => st.size)));
    assert.equal(new Set(sizes).size, 3);
  });

  it('stream end with requests in flight rejects them all with ENOTCONN promptly', async t => {
    const { fake, client } = await fakeClient(t, {
      onRequest: (_req, s) => {
        if (s.requests.length === 5) s.end();
      },
    });
    const started = Date.now();
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => client.lstat(`/p${i}`)));
    assert.ok(Date.now() - started < 1000);
    assert.equal(fake.requests.length, 5);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      assert.equal((r as PromiseRejectedResult).reason.code, 'ENOTCONN');
    }
  });

  it('stream error with requests in flight rejects them with ENOTCONN', async t => {
    const { fake, client } = await fakeClient(t, {
      onRequest: (_req, s) => s.clientStream.destroy(new Error('boom')),
    });
    await assert.rejects(client.stat('/x'), { name: 'FsError', code: 'ENOTCONN' });
    assert.equal(fake.requests.length, 1);
  });

  it('a call after the stream ended rejects with ENOTCONN', async t => {
    const { fake, client } = await fakeClient(t);
    fake.end();
    await tick();
    await assert.rejects(client.readdir('/'), { name: 'FsError', code: 'ENOTCONN', syscall: 'readdir' });
  });

  it('client close rejects pending requests with ENOTCONN', async t => {
    const { client } = await fakeClient(t);
    const pending = client.stat('/x');
    await tick();
    await client.close();
    await assert.rejects(pending, { name: 'FsError', code: 'ENOTCONN' });
  });

  it('a reply with an unknown request id drops the connection', async t => {
    const { client } = await fakeClient(t, { onRequest: (req, s) => s.send(s.status(req.id + 1000)) });
    await assert.rejects(client.unlink('/x'), { name: 'FsError', code: 'ENOTCONN' });
  });

  it('a server speaking another version is refused with ENOTCONN', async () => {
    const fake = new FakeSftpServer({ version: 6 });
    await assert.rejects(SftpFileClient.over(fake.clientStream), { name: 'FsError', code: 'ENOTCONN' });
  });

  it('a stream that ends before VERSION fails the handshake with ENOTCONN', async () => {
    const fake = new FakeSftpServer();
    fake.toServer.removeAllListeners('data');
    fake.toServer.resume();
    fake.end();
    await assert.rejects(SftpFileClient.over(fake.clientStream), { name: 'FsError', code: 'ENOTCONN' });
  });

  it('text before the VERSION packet fails the handshake with ENOTCONN', async () => {
    const fake = new FakeSftpServer();
    fake.toServer.removeAllListeners('data');
    fake.toServer.resume();
    fake.send(Buffer.from('Welcome to the box!\n'));
    await assert.rejects(SftpFileClient.over(fake.clientStream), (error: FsError) =>
      error.code === 'ENOTCONN' && (error.cause as Error).cause instanceof SftpProtocolError);
  });

  it('an aborted handshake rejects with ENOTCONN', async () => {
    const fake = new FakeSftpServer();
    fake.toServer.removeAllListeners('data');
    fake.toServer.resume();
    // A plain timer, unlike AbortSignal.timeout's, keeps the loop alive while nothing else does.
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 20);
    await assert.rejects(SftpFileClient.over(fake.clientStream, { signal: abort.signal }), {
      name: 'FsError',
      code: 'ENOTCONN',
    });
  });

  it('small requests issued in one turn go out in one write', async t => {
    const { fake, client } = await fakeClient(t, { onRequest: (req, s) => s.send(s.attrs(req.id, { size: 1 })) });
    const stream = fake.clientStream;
    const write = stream.write.bind(stream) as (chunk: Buffer) => boolean;
    let writes = 0;
    stream.write = ((chunk: Buffer) => {
      writes++;
      return write(chunk);
    }) as typeof stream.write;
    await Promise.all(Array.from({ length: 10 }, (_, i) => client.lstat(`/p${i}`)));
    assert.equal(writes, 1);
    assert.equal(fake.requests.length, 10);
  });

  it('writes wait for drain once the stream reports backpressure', async t => {
    const record = { reads: [] as number[], writes: [] as Array<[number, Buffer]> };
    const { fake, client } = await fakeClient(t, { highWaterMark: 1024, onRequest: fileServer(record) });
    const h = await client.open('/f', { read: false, write: true });
    fake.toServer.pause();
    const stream = fake.clientStream;
    const write = stream.write.bind(stream) as (chunk: Buffer) => boolean;
    let writesWhileFull = 0;
    let refusals = 0;
    stream.write = ((chunk: Buffer) => {
      if (stream.writableNeedDrain) writesWhileFull++;
      const ok = write(chunk);
      if (!ok) refusals++;
      return ok;
    }) as typeof stream.write;
    const data = Buffer.alloc(200_000, 7);
    const done = Promise.all(Array.from({ length: 20 }, (_, i) => h.write(data, i * 10_000, 10_000, i * 10_000)));
    await tick();
    fake.toServer.resume();
    await done;
    assert.ok(refusals > 0, 'the stream never reported backpressure');
    assert.equal(writesWhileFull, 0);
    assert.equal(record.writes.length, 20);
  });
});

describe('SftpClient negotiation and splitting (scripted peer)', () => {
  it('limits are taken from limits@openssh.com', async t => {
    const { client } = await fakeClient(t, { extensions: [['limits@openssh.com', '1']], limits: [4096, 1000, 1500, 64] });
    assert.equal(client.capabilities.maxRead, 1000);
    assert.equal(client.capabilities.maxWrite, 1500);
    assert.equal(client.sftp.limits.maxOpenHandles, 64);
  });

  it('without limits@openssh.com reads are split at 32 KiB', async t => {
    const record = { reads: [] as number[], writes: [] as Array<[number, Buffer]> };
    const { client } = await fakeClient(t, { onRequest: fileServer(record) });
    const h = await client.open('/f', readOnly);
    assert.equal(await h.read(Buffer.alloc(100_000), 0, 100_000, 0), 100_000);
    assert.deepEqual(record.reads, [32768, 32768, 32768, 1696]);
  });

  it('a read larger than the limit is split into pieces and reassembled', async t => {
    const record = { reads: [] as number[], writes: [] as Array<[number, Buffer]> };
    const { client } = await fakeClient(t, {
      extensions: [['limits@openssh.com', '1']],
      limits: [4096, 1000, 1000, 0],
      onRequest: fileServer(record),
    });
    const h = await client.open('/f', readOnly);
    const buf = Buffer.alloc(2500);
    assert.equal(await h.read(buf, 0, 2500, 10), 2500);
    assert.deepEqual(record.reads, [1000, 1000, 500]);
    assert.ok(buf.every((b, i) => b === ((10 + i) & 0xff)));
  });

  it('a write larger than the limit resolves only once every piece is acknowledged', async t => {
    const held: FakeRequest[] = [];
    const { fake, client } = await fakeClient(t, {
      extensions: [['limits@openssh.com', '1']],
      limits: [4096, 1000, 1000, 0],
      onRequest: (req, s) => {
        if (req.type === FXP.OPEN) s.send(s.handle(req.id, 'h'));
        else if (req.type === FXP.WRITE) held.push(req);
        else s.send(s.status(req.id));
      },
    });
    const h = await client.open('/f', { read: false, write: true });
    let settled = false;
    const write = h.write(Buffer.alloc(2500, 1), 0, 2500, 0).finally(() => (settled = true));
    while (held.length < 3) await tick();
    const offsets = held.map(req => (req.r.bytes(), req.r.u64()));
    assert.deepEqual(offsets, [0, 1000, 2000]);
    fake.send(fake.status(held[2]!.id));
    fake.send(fake.status(held[1]!.id));
    await tick();
    await tick();
    assert.equal(settled, false);
    fake.send(fake.status(held[0]!.id));
    await write;
  });

  it('bytes in flight stay within maxBytesInFlight', async t => {
    let outstanding = 0;
    let peak = 0;
    const { client } = await fakeClient(t, {
      extensions: [['limits@openssh.com', '1']],
      limits: [4096, 1000, 1000, 0],
      onRequest: (req, s) => {
        if (req.type === FXP.OPEN) return s.send(s.handle(req.id, 'h'));
        if (req.type !== FXP.READ) return s.send(s.status(req.id));
        req.r.bytes();
        req.r.u64();
        const len = req.r.u32();
        outstanding += len;
        peak = Math.max(peak, outstanding);
        setTimeout(() => {
          outstanding -= len;
          s.send(s.data(req.id, Buffer.alloc(len)));
        }, 1);
      },
    }, { maxBytesInFlight: 3000 });
    const h = await client.open('/f', readOnly);
    assert.equal(await h.read(Buffer.alloc(20_000), 0, 20_000, 0), 20_000);
    assert.ok(peak <= 3000, `peak ${peak} bytes in flight`);
    assert.ok(peak >= 2000, `peak ${peak}: reads were not pipelined`);
  });

  it('an fstat called after writes goes out after them, also after those waiting for the bytes-in-flight budget', async t => {
    const sent: string[] = [];
    const { client } = await fakeClient(t, {
      extensions: [['limits@openssh.com', '1']],
      limits: [4096, 1000, 1000, 0],
      onRequest: (req, s) => {
        if (req.type === FXP.OPEN) return s.send(s.handle(req.id, 'h'));
        if (req.type === FXP.FSTAT) {
          sent.push('fstat');
          return s.send(s.attrs(req.id, { size: 3 }));
        }
        if (req.type === FXP.WRITE) {
          req.r.bytes();
          sent.push(`write ${req.r.u64()}`);
          setTimeout(() => s.send(s.status(req.id)), 1);
          return;
        }
        s.send(s.status(req.id));
      },
    }, { maxBytesInFlight: 2000 });
    const h = await client.open('/f', { read: true, write: true });
    assert.equal(h.inOrder, true);
    // 5 pieces of 1000 bytes: two go out at once, three wait for the budget; the fstat waits behind them.
    const writing = h.write(Buffer.alloc(5000), 0, 5000, 0);
    const stat = h.stat();
    await Promise.all([writing, stat]);
    assert.deepEqual(sent, ['write 0', 'write 1000', 'write 2000', 'write 3000', 'write 4000', 'fstat']);
  });

  it('a short read before end of file is completed by another read', async t => {
    const { client } = await fakeClient(t, {
      onRequest: (req, s) => {
        if (req.type === FXP.OPEN) return s.send(s.handle(req.id, 'h'));
        if (req.type !== FXP.READ) return s.send(s.status(req.id));
        req.r.bytes();
        const offset = req.r.u64();
        const len = req.r.u32();
        if (offset >= 100) return s.send(s.status(req.id, STATUS.EOF));
        // Never more than 30 bytes at once, as a server with a small buffer might answer.
        s.send(s.data(req.id, Buffer.alloc(Math.min(len, 30, 100 - offset), 1)));
      },
    });
    const h = await client.open('/f', readOnly);
    assert.equal(await h.read(Buffer.alloc(200), 0, 200, 0), 100);
  });

  it('extension capabilities reflect the VERSION packet', async t => {
    const { client } = await fakeClient(t, { extensions: [['fsync@openssh.com', '1'], ['hardlink@openssh.com', '1']] });
    const c = client.capabilities;
    assert.deepEqual(
      [c.fsync, c.hardlink, c.posixRename, c.statvfs, c.noFollowSetattr, c.expandPath, c.copyData],
      [true, true, false, false, false, false, false],
    );
    assert.deepEqual([...client.extensions.keys()], ['fsync@openssh.com', 'hardlink@openssh.com']);
  });

  it('a status message naming an errno wins over the status table', async t => {
    const { fake, client } = await fakeClient(t, { onRequest: (req, s) => s.send(s.status(req.id, STATUS.FAILURE, 'ENOSPC')) });
    await assert.rejects(client.mkdir('/d'), { name: 'FsError', code: 'ENOSPC', syscall: 'mkdir' });
    assert.equal(fake.requests.length, 1, 'no lstat to refine an exact errno');
  });

  it('setattr noFollow without lsetstat throws ENOTSUP without a request', async t => {
    const { fake, client } = await fakeClient(t);
    await assert.rejects(client.setattr('/l', { mode: 0o600 }, { noFollow: true }), { name: 'FsError', code: 'ENOTSUP' });
    assert.equal(fake.requests.length, 0);
  });

  it('sync without fsync@openssh.com is a successful no-op', async t => {
    const { fake, client } = await fakeClient(t, { onRequest: fileServer({ reads: [], writes: [] }) });
    const h = await client.open('/f', { read: false, write: true });
    await h.sync();
    assert.deepEqual(fake.requests.map(r => r.type), [FXP.OPEN]);
  });
});

describe('SftpFileClient against OpenSSH sftp-server', { skip: sftpServerSkipReason() }, () => {
  it('limits are negotiated above the v3 minimum', async t => {
    const client = await startSftpClient(t);
    assert.ok(client.capabilities.maxRead > 32 * 1024);
    assert.equal(client.capabilities.maxRead, client.sftp.limits.maxRead);
    assert.equal(client.capabilities.maxWrite, client.sftp.limits.maxWrite);
  });

  it('capabilities reflect the advertised extensions', async t => {
    const client = await startSftpClient(t);
    const c = client.capabilities;
    assert.deepEqual(
      [c.fsync, c.hardlink, c.posixRename, c.statvfs, c.noFollowSetattr, c.expandPath, c.copyData, c.inodes, c.nanoseconds],
      [true, true, true, true, true, true, true, false, false],
    );
  });

  it('stat leaves ino, nlink and ctime absent', async t => {
    const client = await startSftpClient(t);
    const st = await client.stat('/');
    assert.deepEqual([st.ino, st.nlink, st.ctime], [undefined, undefined, undefined]);
  });

  it('killing the server with requests in flight rejects them with ENOTCONN', async t => {
    const client = await startSftpClient(t);
    const root = await tempDir(t, 'rmount-sftp-');
    await writeFile(`${root}/f`, Buffer.alloc(8 << 20));
    const h = await client.open(`${root}/f`, readOnly);
    const reads = Array.from({ length: 8 }, (_, i) => h.read(Buffer.alloc(1 << 20), 0, 1 << 20, i << 20));
    client.server.child.kill('SIGKILL');
    const started = Date.now();
    const results = await Promise.allSettled(reads);
    assert.ok(Date.now() - started < 2000);
    for (const r of results) {
      if (r.status === 'rejected') assert.equal(r.reason.code, 'ENOTCONN');
    }
    await assert.rejects(client.lstat(root), { name: 'FsError', code: 'ENOTCONN' });
  });

  it('copyData copies between two open handles on the server', async t => {
    const client = await startSftpClient(t);
    const root = await tempDir(t, 'rmount-sftp-');
    await writeFile(`${root}/a`, 'copy me please');
    const from = await client.open(`${root}/a`, readOnly);
    const to = await client.open(`${root}/b`, { read: false, write: true, create: true });
    await client.copyData(from, 5, 2, to, 0);
    await Promise.all([from.close(), to.close()]);
    assert.equal(await readFile(`${root}/b`, 'utf8'), 'me');
  });

  it('handle statfs answers through fstatvfs', async t => {
    const client = await startSftpClient(t);
    const root = await tempDir(t, 'rmount-sftp-');
    const h = await client.open(`${root}/f`, { read: false, write: true, create: true });
    assert.ok(h instanceof SftpFileHandle);
    const s = await h.statfs();
    await h.close();
    const p = await client.statfs(root);
    assert.deepEqual([s.bsize, s.blocks, s.namemax], [p.bsize, p.blocks, p.namemax]);
  });

  it('realpath of ~/x is the login folder joined with x', async t => {
    const client = await startSftpClient(t);
    assert.equal(await client.realpath('~/x'), `${(await client.realpath('.')).replace(/\/$/, '')}/x`);
  });
});

describe('SftpFileClient.readdir over plain SFTP (scripted peer)', () => {
  /** Answers OPENDIR, collects READDIRs and answers them together (first a batch, then EOF); never answers CLOSE. */
  function dirServer(record: { readdirsBeforeAnswer: number; closes: number }) {
    const pending: number[] = [];
    let answered = false;
    return (req: FakeRequest, s: FakeSftpServer): void => {
      if (req.type === FXP.OPENDIR) s.send(s.handle(req.id, 'd1'));
      else if (req.type === FXP.READDIR) {
        if (answered) return;
        pending.push(req.id);
        if (pending.length === 1) {
          setTimeout(() => {
            answered = true;
            record.readdirsBeforeAnswer = pending.length;
            const [first, ...rest] = pending;
            const names = new PacketWriter(FXP.NAME).u32(first!).u32(3);
            for (const name of ['.', '..', 'a']) names.string(name).string(name).attrs({ size: 1, permissions: 0o100644 });
            s.send(names.finish());
            // Only the next one answers (EOF); the others never do: nothing may wait for them.
            s.send(s.status(rest[0]!, STATUS.EOF));
          }, 20);
        }
      } else if (req.type === FXP.CLOSE) record.closes++;
      else s.send(s.status(req.id));
    };
  }

  it('keeps several READDIRs in flight and answers at the first EOF, without waiting for the rest or for CLOSE', async t => {
    const record = { readdirsBeforeAnswer: 0, closes: 0 };
    const { client } = await fakeClient(t, { onRequest: dirServer(record) });
    const entries = await client.readdir('/d');
    assert.deepEqual(entries.map(e => e.name), ['a']);
    assert.ok(record.readdirsBeforeAnswer > 1, `READDIRs in flight before the first answer: ${record.readdirsBeforeAnswer}`);
    await tick();
    assert.equal(record.closes, 1, 'CLOSE is sent (and never answered)');
    // client.close() in t.after rejects the unanswered CLOSE: that must not be an unhandled rejection.
  });
});
