/**
 * The link state machine on its own (src/remote/link-supervisor.ts): back-off, kick, fatal
 * errors, waiters. The reconnect function is a test double that fails until told otherwise;
 * the real links are tested in test/backends/ssh/reconnect.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StateError, UnreachableError } from '../../src/remote/errors.ts';
import { LinkSupervisor } from '../../src/remote/link-supervisor.ts';
import type { Logger } from '../../src/remote/log.ts';

function recorder(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const push = (m: string): void => { lines.push(m); };
  return { log: { error: push, warn: push, info: push, debug() {} }, lines };
}

/** A supervisor whose reconnect fails while `up` is false; `attempts` counts the calls. */
function flaky(options: { backoffMs?: number[]; fatal?: (e: Error) => boolean; error?: () => Error } = {}) {
  const state = { up: false, attempts: 0 };
  const { log, lines } = recorder();
  const sup = new LinkSupervisor({
    name: 'box',
    log,
    backoffMs: options.backoffMs ?? [50],
    reconnect: async () => {
      state.attempts++;
      if (!state.up) throw (options.error?.() ?? new UnreachableError('connection refused'));
    },
    ...(options.fatal ? { fatal: options.fatal } : {}),
  });
  return { sup, state, lines };
}

const tick = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

describe('LinkSupervisor', () => {
  it('starts connecting, is ready after started(), reconnecting after lost()', () => {
    const { sup } = flaky();
    assert.equal(sup.health().state, 'connecting');
    sup.started();
    assert.equal(sup.health().state, 'ready');
    sup.lost(new UnreachableError('gone'));
    const h = sup.health();
    assert.equal(h.state, 'reconnecting');
    assert.ok(h.downSince !== undefined);
    assert.deepEqual(h.lastError, { code: 'ERR_UNREACHABLE', message: 'gone' });
    sup.close();
  });

  it('retries with back-off until the remote is back, then counts the reconnect and logs each step', async () => {
    const { sup, state, lines } = flaky({ backoffMs: [20] });
    sup.started();
    sup.lost(new UnreachableError('gone'));
    await tick(100);
    assert.ok(state.attempts >= 2, `${state.attempts} attempts`);
    state.up = true;
    await sup.waitReady(AbortSignal.timeout(5000));
    assert.equal(sup.health().reconnects, 1);
    assert.equal(sup.health().downSince, undefined);
    assert.ok(lines.some(l => l.startsWith('connection to box lost: gone')));
    assert.ok(lines.includes('reconnecting to box (attempt 2)'));
    assert.ok(lines.some(l => /^reconnected to box after \d+\.\ds$/.test(l)));
    sup.close();
  });

  it('kick cuts a long back-off wait short once the last attempt is old enough', async () => {
    const { sup, state } = flaky({ backoffMs: [60_000] });
    sup.started();
    sup.lost(new UnreachableError('gone'));
    await tick(20);
    assert.equal(state.attempts, 1);
    state.up = true;
    // The wait is a minute; waitReady kicks, and the next attempt starts about a second after the first.
    await sup.waitReady(AbortSignal.timeout(5000));
    assert.equal(state.attempts, 2);
    sup.close();
  });

  it('waitReady rejects with ERR_TIMEOUT when its signal aborts, and resolves at once when ready', async () => {
    const { sup } = flaky({ backoffMs: [60_000] });
    sup.started();
    await sup.waitReady(AbortSignal.abort());
    sup.lost(new UnreachableError('gone'));
    await assert.rejects(sup.waitReady(AbortSignal.abort()), { code: 'ERR_TIMEOUT' });
    await assert.rejects(sup.waitReady(AbortSignal.timeout(30)), { code: 'ERR_TIMEOUT' });
    sup.close();
  });

  it('a fatal error closes the link and rejects waiters with it', async () => {
    const { sup } = flaky({ fatal: e => e instanceof StateError, error: () => new StateError('container was removed') });
    sup.started();
    sup.lost(new UnreachableError('gone'));
    await assert.rejects(sup.waitReady(), { code: 'ERR_STATE' });
    assert.equal(sup.health().state, 'closed');
    assert.equal(sup.health().lastError?.code, 'ERR_STATE');
    await assert.rejects(sup.waitReady(), { code: 'ERR_STATE' });
  });

  it('close() ends the loop and rejects waiters; a failed start closes too', async () => {
    const { sup, state } = flaky({ backoffMs: [10] });
    sup.started();
    sup.lost(new UnreachableError('gone'));
    const waiting = sup.waitReady();
    sup.close();
    await assert.rejects(waiting, { code: 'ERR_UNREACHABLE' });
    const before = state.attempts;
    await tick(50);
    assert.equal(state.attempts, before);
    const other = flaky().sup;
    other.failed(new UnreachableError('refused'));
    assert.equal(other.health().state, 'closed');
    await assert.rejects(other.waitReady(), { code: 'ERR_UNREACHABLE' });
  });
});
