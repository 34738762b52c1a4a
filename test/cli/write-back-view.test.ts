/**
 * The progress lines the CLI draws while it waits on a journal, and the replay view of
 * `rmount mount`: a bar on a terminal, one plain line otherwise.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { ReplayView, renderBacklog, renderReplay, renderReplayed } from '../../src/cli/write-back-view.ts';
import type { ReplayProgress } from '../../src/mount/daemon.ts';

/** A stream that keeps what is written; `tty` makes it look like a terminal. */
function sink(tty: boolean): PassThrough & { text(): string } {
  const s = new PassThrough() as PassThrough & { text(): string };
  const chunks: Buffer[] = [];
  s.on('data', (b: Buffer) => chunks.push(b));
  s.text = () => Buffer.concat(chunks).toString();
  if (tty) Object.assign(s, { isTTY: true, columns: 200 });
  return s;
}

const MIB = 1024 * 1024;
const at = (pendingOps: number, done = false, refused = 0): ReplayProgress => ({ total: 40, pendingOps, pendingBytes: pendingOps * MIB, refused, done });

describe('renderBacklog', () => {
  it('without a total says what is left, as sync and unmount show it', () => {
    assert.equal(renderBacklog({ toSend: 3, bytes: 3 * MIB, inFlight: 2, refused: 1, link: 'reconnecting' }),
      '3 changes (3.0 MiB) to send, 2 in flight, 1 refused, link reconnecting');
  });

  it('with a total draws a bar of what is sent', () => {
    assert.equal(renderBacklog({ toSend: 30, bytes: 0, total: 40 }), '[#####---------------] 10/40, 30 changes (0 B) to send');
  });
});

describe('replay lines', () => {
  it('the progress line counts refused changes as done with, not as to send', () => {
    assert.equal(renderReplay('/m', at(12, false, 2)),
      "/m: replaying an earlier mount's journal [##############------] 28/40, 10 changes (12.0 MiB) to send, 2 refused");
  });

  it('the final line says how many were replayed', () => {
    assert.equal(renderReplayed('/m', at(0, true)), '/m: replayed 40 changes left in the journal by an earlier mount');
  });

  it('the final line says what stays in the journal and why', () => {
    assert.equal(renderReplayed('/m', at(2, true, 2)),
      '/m: replayed 38 of 40 changes left in the journal by an earlier mount; 2 stay there, 2 refused by the remote (rmount status lists them)');
  });
});

describe('ReplayView', () => {
  it('off a terminal writes only the final line', () => {
    const out = sink(false);
    const view = new ReplayView(out, '/m');
    view.update(at(40));
    view.update(at(10));
    view.update(at(0, true));
    view.close();
    assert.equal(out.text(), 'rmount: /m: replayed 40 changes left in the journal by an earlier mount\n');
  });

  it('on a terminal redraws one line, then clears it and leaves the final line', () => {
    const out = sink(true);
    const view = new ReplayView(out, '/m');
    view.update(at(40));
    view.update(at(10));
    view.update(at(0, true));
    assert.equal(out.text(), [
      `\r\x1b[K${renderReplay('/m', at(40))}`,
      `\r\x1b[K${renderReplay('/m', at(10))}`,
      '\r\x1b[K',
      'rmount: /m: replayed 40 changes left in the journal by an earlier mount\n',
    ].join(''));
  });

  it('on a terminal, log lines go above the bar, which is drawn again under them', () => {
    const out = sink(true);
    const view = new ReplayView(out, '/m');
    view.update(at(10));
    view.print('a log line\n');
    view.close();
    const bar = renderReplay('/m', at(10));
    assert.equal(out.text(), `\r\x1b[K${bar}\r\x1b[Ka log line\n${bar}\r\x1b[K`);
  });

  it('close takes an unfinished bar away', () => {
    const out = sink(true);
    const view = new ReplayView(out, '/m');
    view.update(at(10));
    view.close();
    view.close();
    assert.ok(out.text().endsWith('\r\x1b[K'));
    assert.equal(out.text().split('\r\x1b[K').length, 3);
  });
});
