/**
 * The ready fd between `rmount mount` and the daemon it starts: replay reports, then the ready
 * message, however the pipe cuts them into chunks; and the throttle on the daemon's side.
 */
import assert from 'node:assert/strict';
import { openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import {
  DaemonMessageReader, DaemonMessageWriter, readReadyMessage, renderDaemonMessage, throttleReplay, type DaemonMessage,
} from '../../src/cli/daemon-messages.ts';
import type { ReplayProgress } from '../../src/mount/daemon.ts';

const progress = (pendingOps: number, done = false, refused = 0): ReplayProgress => ({ total: 10, pendingOps, pendingBytes: pendingOps * 100, refused, done });

const stream: DaemonMessage[] = [
  { replay: progress(10) },
  { replay: progress(4) },
  { replay: progress(0, true) },
  { ok: true },
];
const text = stream.map(renderDaemonMessage).join('');

describe('DaemonMessageReader', () => {
  it('several lines in one chunk give every message in order', () => {
    assert.deepEqual(new DaemonMessageReader().push(text), stream);
  });

  it('lines cut at every byte give the same messages', () => {
    const reader = new DaemonMessageReader();
    const got = [...text].flatMap(c => reader.push(c));
    assert.deepEqual([...got, ...reader.end()], stream);
  });

  it('a last line without its newline is read at the end', () => {
    const reader = new DaemonMessageReader();
    assert.deepEqual(reader.push('{"ok":false,"error":"no","code":"ERR_USAGE"}'), []);
    assert.deepEqual(reader.end(), [{ ok: false, error: 'no', code: 'ERR_USAGE' }]);
  });

  it('lines that are no message are skipped', () => {
    const lines = ['garbage', '{"replay":{"total":"x"}}', '{"something":"newer"}', '42', '', renderDaemonMessage({ ok: true })];
    assert.deepEqual(new DaemonMessageReader().push(lines.join('\n')), [{ ok: true }]);
  });
});

describe('readReadyMessage', () => {
  it('hands on the replay reports and resolves with the ready message', async () => {
    const pipe = new PassThrough();
    const seen: ReplayProgress[] = [];
    const ready = readReadyMessage(pipe, p => seen.push(p));
    // A split inside a line and two lines in one chunk, as a pipe may deliver them.
    pipe.write(text.slice(0, 30));
    pipe.write(text.slice(30, text.length - 5));
    pipe.write(text.slice(text.length - 5));
    assert.deepEqual(await ready, { ok: true });
    assert.deepEqual(seen, [progress(10), progress(4), progress(0, true)]);
  });

  it('a stream that ends without a ready message resolves undefined', async () => {
    const pipe = new PassThrough();
    const seen: ReplayProgress[] = [];
    const ready = readReadyMessage(pipe, p => seen.push(p));
    pipe.end(renderDaemonMessage({ replay: progress(7) }));
    assert.equal(await ready, undefined);
    assert.deepEqual(seen, [progress(7)]);
  });
});

describe('throttleReplay', () => {
  it('passes the first and final reports and at most one per interval between', () => {
    let now = 0;
    const out: ReplayProgress[] = [];
    const report = throttleReplay(p => out.push(p), 250, () => now);
    report(progress(10));
    now = 100;
    report(progress(9));
    now = 300;
    report(progress(8));
    now = 320;
    report(progress(7));
    report(progress(0, true));
    assert.deepEqual(out.map(p => p.pendingOps), [10, 8, 0]);
  });

  it('drops a report that says what the last one said', () => {
    let now = 0;
    const out: ReplayProgress[] = [];
    const report = throttleReplay(p => out.push(p), 250, () => now);
    report(progress(5));
    now = 1000;
    report(progress(5));
    now = 2000;
    report(progress(5, false, 1));
    assert.deepEqual(out.map(p => p.refused), [0, 1]);
  });
});

describe('DaemonMessageWriter', () => {
  it('writes one line a message, and nothing once closed', async t => {
    const dir = await mkdtemp(join(tmpdir(), 'rmount-ready-fd-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'fd');
    const writer = new DaemonMessageWriter(openSync(file, 'w'));
    writer.send({ replay: progress(3) });
    writer.send({ ok: true });
    writer.close();
    writer.send({ ok: false });
    writer.close();
    assert.deepEqual(new DaemonMessageReader().push(readFileSync(file, 'utf8')), [{ replay: progress(3) }, { ok: true }]);
  });

  it('an fd that refuses the write ends the messages without throwing', () => {
    // Read-only, so the write fails as it does once the parent is gone (EBADF here, EPIPE there).
    const writer = new DaemonMessageWriter(openSync('/dev/null', 'r'));
    assert.doesNotThrow(() => writer.send({ ok: true }));
    assert.doesNotThrow(() => writer.send({ ok: true }));
  });
});
