/**
 * A TCP proxy on 127.0.0.1 for network-fault tests, between rmount and a test server. It passes
 * bytes both ways until told otherwise:
 *
 * - `cut()`: every connection is closed on both sides at once (an sshd restart, a NAT timeout)
 *   and new ones are closed as soon as they are accepted, until `restore()`.
 * - `blackhole()`: the sockets stay open but nothing is forwarded either way (a sleeping laptop,
 *   a Wi-Fi change with the old address gone); bytes sent meanwhile wait in the kernel's buffers,
 *   as unacknowledged TCP segments would. New connections are accepted and held, unconnected.
 * - `restore()`: bytes flow again, held connections are connected to the target.
 *
 * It targets loopback only and is closed by the cleanup registered with the hook.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AfterHook } from './sshd.ts';

export type FaultState = 'pass' | 'cut' | 'blackhole';

/** A running fault proxy. */
export interface FaultProxy {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  readonly state: FaultState;
  /** Connections accepted since it started (reconnect attempts show here). */
  readonly accepted: number;
  /** Connections open now (both sides). */
  readonly open: number;
  cut(): void;
  blackhole(): void;
  restore(): void;
  close(): Promise<void>;
}

/** One proxied connection: the client side, and the server side once connected. */
interface Pair {
  client: Socket;
  server: Socket | undefined;
}

/** Starts a proxy to 127.0.0.1:`targetPort`; closed by the cleanup registered with `t`. */
export async function startFaultProxy(t: AfterHook, targetPort: number): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  let state: FaultState = 'pass';
  let accepted = 0;

  const drop = (pair: Pair): void => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.server?.destroy();
  };

  const flow = (pair: Pair, on: boolean): void => {
    for (const s of [pair.client, pair.server]) {
      if (s === undefined) continue;
      if (on) s.resume();
      else s.pause();
    }
  };

  const attach = (pair: Pair): void => {
    const server = connect({ host: '127.0.0.1', port: targetPort });
    pair.server = server;
    server.on('error', () => drop(pair));
    server.on('close', () => drop(pair));
    // pipe() resumes the source; a blackhole pauses both again right after.
    pair.client.pipe(server);
    server.pipe(pair.client);
    if (state === 'blackhole') flow(pair, false);
  };

  const server: Server = createServer({ pauseOnConnect: true }, client => {
    accepted++;
    const pair: Pair = { client, server: undefined };
    client.on('error', () => drop(pair));
    client.on('close', () => drop(pair));
    if (state === 'cut') {
      client.destroy();
      return;
    }
    pairs.add(pair);
    if (state === 'pass') attach(pair);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  const proxy: FaultProxy = {
    port,
    get state() { return state; },
    get accepted() { return accepted; },
    get open() { return pairs.size; },
    cut() {
      state = 'cut';
      for (const pair of [...pairs]) drop(pair);
    },
    blackhole() {
      state = 'blackhole';
      for (const pair of pairs) flow(pair, false);
    },
    restore() {
      state = 'pass';
      for (const pair of pairs) {
        if (pair.server === undefined) attach(pair);
        else flow(pair, true);
      }
    },
    async close() {
      state = 'cut';
      for (const pair of [...pairs]) drop(pair);
      await new Promise<void>(resolve => server.close(() => resolve()));
    },
  };
  t.after(() => proxy.close());
  return proxy;
}
