import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFaultProxy, type FaultProxy } from './fault-proxy.ts';
import type { AfterHook } from './sshd.ts';

/** Connects through the proxy and resolves with the socket once connected. */
function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves with the first chunk `s` receives, or undefined after `ms`. */
function firstData(s: Socket, ms: number): Promise<string | undefined> {
  return new Promise(resolve => {
    const timer = setTimeout(() => { s.off('data', on); resolve(undefined); }, ms);
    const on = (b: Buffer): void => { clearTimeout(timer); resolve(b.toString()); };
    s.once('data', on);
  });
}

/** Resolves true when `s` is closed within `ms`. */
function closesWithin(s: Socket, ms: number): Promise<boolean> {
  return new Promise(resolve => {
    if (s.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    s.once('close', () => { clearTimeout(timer); resolve(true); });
  });
}

describe('fault proxy (test helper)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
  const echo = createServer(s => s.pipe(s));
  let proxy: FaultProxy;

  before(async () => {
    await new Promise<void>(resolve => echo.listen(0, '127.0.0.1', () => resolve()));
    proxy = await startFaultProxy(hook, (echo.address() as { port: number }).port);
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
    await new Promise<void>(resolve => echo.close(() => resolve()));
  });

  it('passes bytes both ways', async () => {
    const s = await dial(proxy.port);
    s.write('ping');
    assert.equal(await firstData(s, 5000), 'ping');
    s.destroy();
  });

  it('blackhole holds bytes until restore, keeping the connection', async () => {
    const s = await dial(proxy.port);
    s.write('a');
    assert.equal(await firstData(s, 5000), 'a');
    proxy.blackhole();
    s.write('held');
    assert.equal(await firstData(s, 300), undefined);
    proxy.restore();
    assert.equal(await firstData(s, 5000), 'held');
    s.destroy();
  });

  it('cut closes open connections and refuses new ones until restore', async () => {
    const s = await dial(proxy.port);
    proxy.cut();
    assert.equal(await closesWithin(s, 5000), true);
    const refused = await dial(proxy.port);
    assert.equal(await closesWithin(refused, 5000), true);
    proxy.restore();
    const again = await dial(proxy.port);
    again.write('back');
    assert.equal(await firstData(again, 5000), 'back');
    again.destroy();
    await sleep(10);
    assert.equal(proxy.state, 'pass');
  });
});
