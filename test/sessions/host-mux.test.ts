import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { SessionError } from '../../src/sessions/errors.ts';
import {
  encodeCredit, encodeFrame, FRAME, FrameDecoder, FrameError, HEADER_LENGTH, MAX_DATA, MAX_FRAME_LENGTH, STREAM_WINDOW, type Frame,
} from '../../src/sessions/host-frames.ts';
import { HostMux } from '../../src/sessions/host-mux.ts';
import type { HostStream } from '../../src/sessions/host-stream.ts';

/** Polls `cond` between event-loop turns; fails (after a generous bound) naming `what`. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise(resolve => setTimeout(resolve, 2));
  }
}

/** Lets every queued write and callback run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await turn();
}

/**
 * The host's side of a connection, scripted by the test: it records every frame the client
 * sends and checks on arrival that the client never sends DATA past the credit it was given.
 */
class FakeHost {
  readonly frames: Frame[] = [];
  readonly violations: string[] = [];
  readonly #decoder = new FrameDecoder();
  readonly #toClient: PassThrough;
  readonly #taken = new Set<number>();
  /** DATA bytes the client sent, and WINDOW credit we gave, per stream. */
  readonly #received = new Map<number, number>();
  readonly #given = new Map<number, number>();

  constructor(fromClient: PassThrough, toClient: PassThrough) {
    this.#toClient = toClient;
    fromClient.on('data', (chunk: Buffer) => {
      for (const frame of this.#decoder.push(chunk)) {
        this.frames.push({ ...frame, payload: Buffer.from(frame.payload) });
        if (frame.type === FRAME.DATA) {
          const total = (this.#received.get(frame.stream) ?? 0) + frame.payload.length;
          this.#received.set(frame.stream, total);
          if (total > STREAM_WINDOW + (this.#given.get(frame.stream) ?? 0)) this.violations.push(`stream ${frame.stream}: ${total} bytes`);
          if (frame.payload.length > MAX_DATA) this.violations.push(`DATA frame of ${frame.payload.length} bytes`);
        }
      }
    });
  }

  send(type: number, stream: number, payload?: Uint8Array): void {
    if (type === FRAME.WINDOW && payload !== undefined) {
      this.#given.set(stream, (this.#given.get(stream) ?? 0) + Buffer.from(payload).readUInt32BE(0));
    }
    this.#toClient.write(encodeFrame(type, stream, payload));
  }

  json(type: number, stream: number, body: unknown): void {
    this.send(type, stream, Buffer.from(JSON.stringify(body)));
  }

  /** The next REQUEST for `op` not yet taken by an earlier call. */
  async request(op: string): Promise<{ id: number; body: Record<string, unknown> }> {
    let found: Frame | undefined;
    await until(() => {
      found = this.frames.find(f => f.type === FRAME.REQUEST && !this.#taken.has(f.stream) && JSON.parse(f.payload.toString()).op === op);
      return found !== undefined;
    }, `a ${op} request`);
    this.#taken.add(found!.stream);
    return { id: found!.stream, body: JSON.parse(found!.payload.toString()) as Record<string, unknown> };
  }

  received(stream: number): number {
    return this.#received.get(stream) ?? 0;
  }

  credit(stream: number): number {
    return this.frames.filter(f => f.type === FRAME.WINDOW && f.stream === stream).reduce((n, f) => n + f.payload.readUInt32BE(0), 0);
  }

  has(type: number, stream: number): boolean {
    return this.frames.some(f => f.type === type && f.stream === stream);
  }

  /** Sends `total` bytes on `stream` as the client's credit allows, then EOF. */
  async sendAll(stream: number, total: number): Promise<void> {
    let sent = 0;
    while (sent < total) {
      const room = STREAM_WINDOW + this.credit(stream) - sent;
      if (room <= 0) {
        await new Promise(resolve => setTimeout(resolve, 1));
        continue;
      }
      const n = Math.min(room, MAX_DATA, total - sent);
      this.send(FRAME.DATA, stream, Buffer.alloc(n, sent % 251));
      sent += n;
      await turn();
    }
    this.send(FRAME.EOF, stream);
  }
}

function connect(): { mux: HostMux; host: FakeHost; transport: Duplex; toClient: PassThrough } {
  const fromClient = new PassThrough();
  const toClient = new PassThrough();
  const transport = Duplex.from({ readable: toClient, writable: fromClient });
  return { mux: new HostMux(transport), host: new FakeHost(fromClient, toClient), transport, toClient };
}

/** Opens a stream with an `attach` the fake host accepts. */
async function openStream(mux: HostMux, host: FakeHost): Promise<HostStream> {
  const { stream, reply } = mux.open('attach', { session: 's' });
  const request = await host.request('attach');
  host.json(FRAME.REPLY, request.id, { ok: true, result: null });
  await reply;
  return stream;
}

function readAll(stream: HostStream): Promise<number> {
  return new Promise(resolve => {
    let n = 0;
    stream.on('data', (chunk: Buffer) => { n += chunk.length; });
    stream.once('end', () => resolve(n));
  });
}

describe('process host frames', () => {
  it('frames round-trip with empty payloads and the largest stream id', () => {
    const frames = [encodeFrame(FRAME.EOF, 0xffffffff), encodeFrame(FRAME.DATA, 3, Buffer.from('abc')), encodeFrame(FRAME.WINDOW, 5, encodeCredit(262144))];
    const out = new FrameDecoder().push(Buffer.concat(frames));
    assert.deepEqual(out.map(f => [f.type, f.stream, [...f.payload]]), [
      [FRAME.EOF, 0xffffffff, []], [FRAME.DATA, 3, [97, 98, 99]], [FRAME.WINDOW, 5, [0, 4, 0, 0]],
    ]);
  });

  it('a frame fed one byte at a time comes out once, whole', () => {
    const frame = encodeFrame(FRAME.REQUEST, 7, Buffer.from('{"op":"hello"}'));
    const decoder = new FrameDecoder();
    const out: Frame[] = [];
    for (const byte of frame) out.push(...decoder.push(Buffer.from([byte])));
    assert.equal(out.length, 1);
    assert.equal(out[0]!.payload.toString(), '{"op":"hello"}');
    assert.equal(decoder.pending, 0);
  });

  it('a partial frame waits for the rest of it in the next chunk', () => {
    const a = encodeFrame(FRAME.DATA, 1, Buffer.alloc(100, 1));
    const b = encodeFrame(FRAME.DATA, 3, Buffer.alloc(50, 2));
    const decoder = new FrameDecoder();
    assert.equal(decoder.push(Buffer.concat([a, b.subarray(0, 4)])).length, 1);
    assert.equal(decoder.push(b.subarray(4, 20)).length, 0);
    const [last] = decoder.push(b.subarray(20));
    assert.deepEqual([last!.stream, last!.payload.length], [3, 50]);
  });

  it('a length below 5 is refused', () => {
    const bad = Buffer.from([0, 0, 0, 4, FRAME.DATA, 0, 0, 0, 1]);
    assert.throws(() => new FrameDecoder().push(bad), FrameError);
  });

  it('a length over 16 MiB is refused from its header alone', () => {
    const header = Buffer.alloc(HEADER_LENGTH);
    header.writeUInt32BE(MAX_FRAME_LENGTH + 1, 0);
    assert.throws(() => new FrameDecoder().push(header), FrameError);
  });

  it('a frame of exactly 16 MiB is accepted; one byte more cannot be encoded', () => {
    const payload = Buffer.alloc(MAX_FRAME_LENGTH - 5, 7);
    const [frame] = new FrameDecoder().push(encodeFrame(FRAME.DATA, 1, payload));
    assert.equal(frame!.payload.length, MAX_FRAME_LENGTH - 5);
    assert.throws(() => encodeFrame(FRAME.DATA, 1, Buffer.alloc(MAX_FRAME_LENGTH - 4)), FrameError);
  });
});

describe('process host multiplexer', () => {
  it('replies in any order settle their own requests', async () => {
    const { mux, host } = connect();
    const a = mux.request('list');
    const b = mux.request('ports');
    const [ra, rb] = [await host.request('list'), await host.request('ports')];
    host.json(FRAME.REPLY, rb.id, { ok: true, result: 'b' });
    host.json(FRAME.REPLY, ra.id, { ok: true, result: 'a' });
    assert.deepEqual([await a, await b], ['a', 'b']);
    assert.notEqual(ra.id, rb.id);
    mux.close();
  });

  it('an error reply rejects with the host code upper-cased', async () => {
    const { mux, host } = connect();
    const pending = mux.request('attach', { session: 'x' });
    const { id } = await host.request('attach');
    host.json(FRAME.REPLY, id, { ok: false, error: { code: 'session-not-found', title: 'No such session', message: 'no x', retryable: false } });
    await assert.rejects(pending, (e: unknown) => e instanceof SessionError && e.code === 'ERR_SESSION_NOT_FOUND' && !e.retryable);
    mux.close();
  });

  it('the transport ending fails pending requests with ERR_HOST_LOST and resets streams', async () => {
    const { mux, host, toClient } = connect();
    const stream = await openStream(mux, host);
    const reset = new Promise(resolve => stream.once('reset', resolve));
    const pending = mux.request('list');
    await host.request('list');
    toClient.end();
    await assert.rejects(pending, { code: 'ERR_HOST_LOST', retryable: true });
    await reset;
    await mux.closed;
    await assert.rejects(mux.request('list'), { code: 'ERR_HOST_LOST' });
  });

  it('bytes that are not frames end the connection', async () => {
    const { mux, toClient } = connect();
    const pending = mux.request('hello');
    toClient.write(Buffer.from('Usage: rmount-agent sftp|host|connect\n'));
    await assert.rejects(pending, { code: 'ERR_HOST_LOST' });
  });

  it('the client never sends past the window and goes on as credit comes', async () => {
    const { mux, host } = connect();
    const stream = await openStream(mux, host);
    stream.write(Buffer.alloc(1 << 20, 9));
    stream.end();
    await until(() => host.received(stream.id) === STREAM_WINDOW, 'a full window');
    await settle();
    assert.equal(host.received(stream.id), STREAM_WINDOW);
    host.send(FRAME.WINDOW, stream.id, encodeCredit(100_000));
    await until(() => host.received(stream.id) === STREAM_WINDOW + 100_000, 'the credit used');
    await settle();
    assert.equal(host.received(stream.id), STREAM_WINDOW + 100_000);
    assert.equal(host.has(FRAME.EOF, stream.id), false);
    host.send(FRAME.WINDOW, stream.id, encodeCredit(1 << 20));
    await until(() => host.has(FRAME.EOF, stream.id), 'EOF after the last byte');
    assert.equal(host.received(stream.id), 1 << 20);
    assert.deepEqual(host.violations, []);
    mux.close();
  });

  it('a stream nobody reads gives no credit, and DATA past its window resets it', async () => {
    const { mux, host } = connect();
    const stream = await openStream(mux, host);
    for (let sent = 0; sent < STREAM_WINDOW; sent += MAX_DATA) host.send(FRAME.DATA, stream.id, Buffer.alloc(MAX_DATA));
    await settle();
    assert.equal(host.credit(stream.id), 0);
    const reset = new Promise<string>(resolve => stream.once('reset', resolve));
    host.send(FRAME.DATA, stream.id, Buffer.alloc(1));
    await reset;
    await until(() => host.has(FRAME.CLOSE, stream.id), 'CLOSE');
    mux.close();
  });

  it('credit comes back as the consumer reads, in batches, summing to what was read', async () => {
    const { mux, host } = connect();
    const stream = await openStream(mux, host);
    const total = 4 << 20;
    const read = readAll(stream);
    await host.sendAll(stream.id, total);
    assert.equal(await read, total);
    const windows = host.frames.filter(f => f.type === FRAME.WINDOW && f.stream === stream.id);
    assert.ok(host.credit(stream.id) <= total && host.credit(stream.id) >= total - STREAM_WINDOW);
    assert.ok(windows.length <= total / 1024, `${windows.length} WINDOW frames`);
    mux.close();
  });

  it('a stalled stream holds up neither another stream nor the replies', async () => {
    const { mux, host } = connect();
    const stalled = await openStream(mux, host);
    const live = await openStream(mux, host);
    for (let sent = 0; sent < STREAM_WINDOW; sent += MAX_DATA) host.send(FRAME.DATA, stalled.id, Buffer.alloc(MAX_DATA));
    stalled.write(Buffer.alloc(2 * STREAM_WINDOW)); // and our side of it waits for credit
    const read = readAll(live);
    await host.sendAll(live.id, 2 << 20);
    assert.equal(await read, 2 << 20);
    live.end(Buffer.alloc(100_000, 1));
    await until(() => host.has(FRAME.EOF, live.id), 'EOF on the live stream');
    assert.equal(host.received(live.id), 100_000);
    const list = mux.request('list');
    host.json(FRAME.REPLY, (await host.request('list')).id, { ok: true, result: [] });
    assert.deepEqual(await list, []);
    assert.equal(host.credit(stalled.id), 0);
    assert.equal(host.received(stalled.id), STREAM_WINDOW);
    mux.close();
  });

  it('EOF both ways ends the stream; later DATA for it is answered with CLOSE', async () => {
    const { mux, host } = connect();
    const stream = await openStream(mux, host);
    const read = readAll(stream);
    host.send(FRAME.DATA, stream.id, Buffer.from('bye'));
    host.send(FRAME.EOF, stream.id);
    assert.equal(await read, 3);
    stream.end();
    await new Promise(resolve => stream.once('close', resolve));
    assert.equal(host.has(FRAME.CLOSE, stream.id), false);
    host.send(FRAME.DATA, stream.id, Buffer.from('late'));
    await until(() => host.has(FRAME.CLOSE, stream.id), 'CLOSE for the forgotten stream');
    mux.close();
  });

  it('a CLOSE from the host resets the stream; writes after it are dropped', async () => {
    const { mux, host } = connect();
    const stream = await openStream(mux, host);
    const reset = new Promise<string>(resolve => stream.once('reset', resolve));
    host.send(FRAME.CLOSE, stream.id);
    await reset;
    stream.write('ignored');
    await settle();
    assert.equal(host.received(stream.id), 0);
    assert.equal(host.has(FRAME.CLOSE, stream.id), false);
    mux.close();
  });

  it('destroying a stream sends CLOSE', async () => {
    const { mux, host } = connect();
    const stream = await openStream(mux, host);
    stream.destroy();
    await until(() => host.has(FRAME.CLOSE, stream.id), 'CLOSE');
    mux.close();
  });

  it('the replay, an EVENT and EOF in the reply chunk all reach the stream', async () => {
    const { mux, host, toClient } = connect();
    const { stream, reply } = mux.open('attach', { session: 's' });
    const events: unknown[] = [];
    stream.on('event', (body: unknown) => events.push(body));
    const { id, body } = await host.request('attach');
    assert.equal(body.stream, stream.id);
    assert.equal(stream.id % 2, 1);
    toClient.write(Buffer.concat([
      encodeFrame(FRAME.REPLY, id, Buffer.from('{"ok":true,"result":{}}')),
      encodeFrame(FRAME.DATA, stream.id, Buffer.from('out')),
      encodeFrame(FRAME.EVENT, stream.id, Buffer.from('{"exit":3}')),
      encodeFrame(FRAME.EOF, stream.id),
    ]));
    await reply;
    assert.equal(await readAll(stream), 3);
    assert.deepEqual(events, [{ exit: 3 }]);
    mux.close();
  });

  it('an error reply to a stream-opening request resets the stream without a CLOSE', async () => {
    const { mux, host } = connect();
    const { stream, reply } = mux.open('dial', { network: 'tcp', address: '127.0.0.1:1' });
    host.json(FRAME.REPLY, (await host.request('dial')).id, { ok: false, error: { code: 'dial-failed', message: 'refused' } });
    await assert.rejects(reply, { code: 'ERR_DIAL_FAILED' });
    assert.ok(stream.destroyed);
    await settle();
    assert.equal(host.has(FRAME.CLOSE, stream.id), false);
    mux.close();
  });

  it('connections accepted before the listen reply reach the handler; unwanted ones are closed', async () => {
    const { mux, host } = connect();
    const got: { stream: HostStream; remote: string }[] = [];
    const listening = mux.listen('tcp', '127.0.0.1:0', (stream, from) => got.push({ stream, remote: from.remote }));
    const { id } = await host.request('listen');
    host.json(FRAME.EVENT, 0, { accepted: 1, stream: 2, remote: '127.0.0.1:5000' });
    host.send(FRAME.DATA, 2, Buffer.from('early'));
    host.json(FRAME.REPLY, id, { ok: true, result: { listener: 1, address: '127.0.0.1:4000' } });
    assert.deepEqual(await listening, { listener: 1, address: '127.0.0.1:4000' });
    assert.deepEqual(got.map(g => [g.stream.id, g.remote]), [[2, '127.0.0.1:5000']]);
    const chunks: Buffer[] = [];
    got[0]!.stream.on('data', (c: Buffer) => chunks.push(c));
    await until(() => Buffer.concat(chunks).toString() === 'early', 'the early DATA');
    host.json(FRAME.EVENT, 0, { accepted: 9, stream: 4, remote: 'x' });
    await until(() => host.has(FRAME.CLOSE, 4), 'CLOSE of a stream for an unknown listener');
    mux.close();
  });

  it('other stream-0 events go to onEvent', async () => {
    const { mux, host } = connect();
    const events: unknown[] = [];
    mux.onEvent = body => events.push(body);
    host.json(FRAME.EVENT, 0, { notice: 'hi' });
    await until(() => events.length === 1, 'the event');
    assert.deepEqual(events, [{ notice: 'hi' }]);
    mux.close();
  });
});
