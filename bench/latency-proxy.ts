/**
 * A TCP proxy on 127.0.0.1 that delays every chunk by a fixed time in each direction, keeping
 * order. It stands in for netem (not available in this kernel): RTT 20 ms = `--delay-ms 10`.
 *
 * Bandwidth is not limited; only latency is added. Each direction keeps a FIFO of
 * (due time, chunk); one timer per direction writes what is due. When the receiving side pushes
 * back, the sending side is paused, so memory stays bounded by what is in flight.
 *
 *   node --import tsx bench/latency-proxy.ts --target 127.0.0.1:2222 --delay-ms 10 [--port 0]
 *
 * prints `{"port":N}` on stdout once it listens, and runs until SIGTERM/SIGINT.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';

export interface LatencyProxy {
  readonly port: number;
  close(): Promise<void>;
}

export interface LatencyProxyOptions {
  targetHost?: string;
  targetPort: number;
  /** Delay added to each direction, in milliseconds. */
  delayMs: number;
  /** Port to listen on (default: any free one). */
  port?: number;
}

/** Moves bytes from `from` to `to`, each chunk `delayMs` after it arrived, in order. */
function pipeDelayed(from: Socket, to: Socket, delayMs: number): void {
  const queue: { due: number; chunk: Buffer }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  let paused = false;

  const pump = (): void => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.due <= now + 0.5) {
      const { chunk } = queue.shift()!;
      if (!to.destroyed && !to.write(chunk) && !paused) {
        paused = true;
        from.pause();
        to.once('drain', () => { paused = false; from.resume(); });
      }
    }
    if (queue.length > 0) {
      timer = setTimeout(pump, Math.max(0, queue[0]!.due - performance.now()));
    } else if (ended && !to.destroyed) {
      to.end();
    }
  };

  from.on('data', (chunk: Buffer) => {
    queue.push({ due: performance.now() + delayMs, chunk });
    if (timer === undefined) timer = setTimeout(pump, delayMs);
  });
  from.on('end', () => {
    ended = true;
    if (timer === undefined) timer = setTimeout(pump, delayMs);
  });
  from.on('close', () => {
    // A reset (not a clean end) tears the other side down after the data in flight.
    if (!ended) {
      ended = true;
      if (timer === undefined) timer = setTimeout(pump, delayMs);
    }
  });
}

export function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy> {
  const host = options.targetHost ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  const server: Server = createServer({ noDelay: true }, client => {
    const upstream = connect({ host, port: options.targetPort, noDelay: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.setNoDelay(true);
    pipeDelayed(client, upstream, options.delayMs);
    pipeDelayed(upstream, client, options.delayMs);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address !== 'object') return reject(new Error('proxy has no address'));
      resolve({
        port: address.port,
        close: () => new Promise<void>(done => {
          for (const s of sockets) s.destroy();
          server.close(() => done());
        }),
      });
    });
  });
}

function parseArgs(argv: string[]): LatencyProxyOptions {
  let target: string | undefined;
  let delayMs = 0;
  let port = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--target' && v !== undefined) { target = v; i++; } else if (a === '--delay-ms' && v !== undefined) { delayMs = Number(v); i++; } else if (a === '--port' && v !== undefined) { port = Number(v); i++; } else throw new Error(`unknown argument ${a}`);
  }
  const m = target === undefined ? null : /^([\d.]+):(\d+)$/.exec(target);
  if (m === null) throw new Error('usage: latency-proxy.ts --target 127.0.0.1:PORT --delay-ms N [--port P]');
  if (m[1] !== '127.0.0.1') throw new Error('the proxy only forwards to 127.0.0.1');
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error('--delay-ms must be >= 0');
  return { targetHost: m[1], targetPort: Number(m[2]), delayMs, port };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const proxy = await startLatencyProxy(parseArgs(process.argv.slice(2)));
  process.stdout.write(`${JSON.stringify({ port: proxy.port })}\n`);
  const stop = (): void => { void proxy.close().then(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
