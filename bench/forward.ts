/**
 * Port forwards (issue 15) against `ssh -L` on the same sshd, at RTT 0 and 20 ms, in one run.
 * The "remote" is this machine: a sink server (this file with `--sink`, a process of its own)
 * listens on 127.0.0.1 and is reached four ways:
 *
 *   - `rmount forward 0:127.0.0.1:SINK` inside an SSH mount: the daemon's listener → a
 *     direct-tcpip channel on the mount's own SSH connection → the sink;
 *   - the same inside a mount of a second sshd that refuses TCP forwarding (AllowTcpForwarding
 *     no): the daemon then dials through rmount-agent's process host (`dial`, a multiplexed
 *     stream on the host's exec channel), the path containers and locked-down servers get;
 *   - `ssh -N -L 127.0.0.1:P:127.0.0.1:SINK` to the first sshd (its own connection), the peer;
 *   - directly (no forward, no added latency: the floor).
 *
 * Measured, interleaved: connection setup (connect, send one byte, the first byte back;
 * median/p90 of --rounds), once after the previous connection has closed and once right after
 * the previous one was answered (a client making requests one after another), and one
 * connection's throughput both ways (--size-mib through one connection, median of --reps).
 *
 *   node --import tsx bench/forward.ts [--rtt 0,20] [--rounds 200,100] [--size-mib 256,64] [--reps 3]
 *
 * Needs root, sshd, FUSE, build/rmount-exec (built when missing). The forward is removed with
 * `rmount forward rm`; the sink, ssh -L, the mounts, the proxy and what ran through the test
 * sshd are stopped by PID (bench/exec-latency.ts, the shared rig), also on failure and Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { BenchCleanup } from './cleanup.ts';
import {
  ALIAS, addSshd, benchArgs, ensureExecClient, loadNow, log, median, mibs, ms, mountWithHost, numberList, openLink, pct, perRtt, ratio,
  runBench, startChild, startRig, waitQuiet, within, type HostMount,
} from './exec-latency.ts';
import type { ForwardInfo } from '../src/sessions/forwarder.ts';
import { freePort } from '../test/helpers/sshd.ts';

const THIS_FILE = fileURLToPath(import.meta.url);
const TSX = import.meta.resolve('tsx');
const CHUNK = randomBytes(1 << 20);

// ---------------------------------------------------------------------------------------------
// The sink: what the first byte of a connection asks for
//   p          answer "o" (setup latency)
//   u …        count every byte until the client's end, answer the count in decimal
//   dN\n       send N bytes, then end

function serveSink(): void {
  const server = createServer({ allowHalfOpen: true, noDelay: true }, socket => {
    socket.on('error', () => {});
    let mode: string | undefined;
    let head = '';
    let sending = false;
    let count = 0;
    socket.on('data', (b: Buffer) => {
      if (mode === undefined) mode = String.fromCharCode(b[0]!);
      if (mode === 'p') socket.write('o');
      else if (mode === 'u') count += b.length;
      else if (mode === 'd' && !sending) {
        head += b.toString('latin1');
        if (!head.includes('\n')) return;
        sending = true;
        let left = Number(head.slice(1, head.indexOf('\n')));
        const pump = (): void => {
          while (left > 0) {
            const n = Math.min(left, CHUNK.length);
            left -= n;
            if (!socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void socket.once('drain', pump);
          }
          socket.end();
        };
        pump();
      }
    });
    socket.on('end', () => {
      if (mode === 'u') socket.end(String(count - 1));
      else if (mode === 'p') socket.end();
    });
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`));
  process.on('SIGTERM', () => { server.close(); process.exit(0); });
}

// ---------------------------------------------------------------------------------------------
// Clients

function open(port: number): Socket {
  return connect({ port, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
}

/**
 * Connect, send "p", first byte back: resolves with the ms and a promise of the close (our end
 * sent at the answer, then the sink's end coming back through the forward).
 */
function pingOnce(port: number): Promise<{ took: number; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const s = open(port);
    const timer = setTimeout(() => s.destroy(new Error('no answer in 30 s')), 30_000);
    const closed = new Promise<void>(done => s.on('close', () => { clearTimeout(timer); done(); }));
    s.once('connect', () => s.write('p'));
    s.once('data', () => {
      const took = performance.now() - start;
      s.end();
      resolve({ took, closed });
    });
    s.on('error', reject);
    s.resume();
    void closed.then(() => reject(new Error(`port ${port}: closed without an answer`)));
  });
}

/** One connection's setup, after the previous one has closed both ways (the sequential case). */
async function ping(port: number): Promise<number> {
  const r = await pingOnce(port);
  await r.closed;
  return r.took;
}

/**
 * The setup of a connection opened right after the previous one was answered and ended, while
 * its close is still on its way (a client making one request after another).
 */
async function pingBackToBack(port: number): Promise<number> {
  const first = await pingOnce(port);
  const second = await pingOnce(port);
  await Promise.all([first.closed, second.closed]);
  return second.took;
}

/** Sends `bytes` then ends; resolves with ms until the sink's count came back (checked). */
function upload(port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const s = open(port);
    let answer = '';
    s.on('error', reject);
    s.once('connect', () => {
      let left = bytes;
      const pump = (): void => {
        if (!s.write('u')) return void s.once('drain', pumpData);
        pumpData();
      };
      const pumpData = (): void => {
        while (left > 0) {
          const n = Math.min(left, CHUNK.length);
          left -= n;
          if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void s.once('drain', pumpData);
        }
        s.end();
      };
      pump();
    });
    s.on('data', (b: Buffer) => { answer += b.toString('latin1'); });
    s.on('end', () => {
      const took = performance.now() - start;
      s.destroy();
      if (Number(answer) === bytes) resolve(took);
      else reject(new Error(`port ${port}: the sink counted ${answer || 'nothing'} of ${bytes} bytes`));
    });
  });
}

/** Asks for `bytes`; resolves with ms until they all came and the connection ended (checked). */
function download(port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const s = open(port);
    let got = 0;
    s.on('error', reject);
    s.once('connect', () => s.write(`d${bytes}\n`));
    s.on('data', (b: Buffer) => { got += b.length; });
    s.on('end', () => {
      const took = performance.now() - start;
      s.end();
      s.destroy();
      if (got === bytes) resolve(took);
      else reject(new Error(`port ${port}: ${got} of ${bytes} bytes`));
    });
  });
}

// ---------------------------------------------------------------------------------------------

interface Path { name: string; port: number; ref?: true; floor?: true }

interface Forward { port: number; listed(): Promise<ForwardInfo | undefined>; remove(): Promise<void> }

/** `rmount forward 0:127.0.0.1:SINK` in the mount; where it listens; `rmount forward rm` (also at cleanup). */
async function addForward(cleanup: BenchCleanup, m: HostMount, sinkPort: number): Promise<Forward> {
  const add = await m.cli(['forward', '--in', m.mountpoint, `0:127.0.0.1:${sinkPort}`]);
  if (add.code !== 0) throw new Error(`rmount forward: ${add.stderr.trim()}`);
  const id = add.stdout.toString().trim().split(/\s+/)[0]!;
  let removing: Promise<void> | undefined;
  const remove = (): Promise<void> => (removing ??= (async () => {
    const r = await m.cli(['forward', 'rm', id, '--in', m.mountpoint]);
    if (r.code !== 0) log(`rmount forward rm ${id}: ${r.stderr.trim()}`);
  })());
  const forget = cleanup.add(`forward ${id}`, remove);
  const listed = async (): Promise<ForwardInfo | undefined> => {
    const r = await m.cli(['forward', 'ls', '--json', '--in', m.mountpoint]);
    return (JSON.parse(r.stdout.toString()) as { forwards: ForwardInfo[] }).forwards.find(f => f.id === id);
  };
  const port = Number((await listed())?.listen.split(':').pop());
  if (!Number.isInteger(port)) throw new Error(`rmount forward ls does not show where ${id} listens`);
  return { port, listed, remove: async () => { await remove(); forget(); } };
}

async function forward(cleanup: BenchCleanup): Promise<void> {
  const o = benchArgs(process.argv.slice(2), { rtt: '0,20', rounds: '200,100', 'size-mib': '256,64', reps: '3', sink: false },
    'usage: node --import tsx bench/forward.ts [--rtt 0,20] [--rounds 200,100] [--size-mib 256,64] [--reps 3]\n'
    + '  --rounds, --size-mib and --reps take one value or one per RTT');
  const rtts = numberList(o.rtt, '--rtt');
  const roundsList = numberList(o.rounds, '--rounds');
  const sizes = numberList(o['size-mib'], '--size-mib');
  const repsList = numberList(o.reps, '--reps');
  await ensureExecClient();
  const rig = await startRig(cleanup, 'forward');
  // Where sshd refuses direct-tcpip, rmount forward dials through the agent's process host instead.
  const noForwarding = await addSshd(rig, { tcpForwarding: false });
  const sink = startChild(cleanup, 'sink', process.execPath, ['--import', TSX, THIS_FILE, '--sink'], { stdout: 'pipe' });
  const line = await within(new Promise<string>(resolve => createInterface({ input: sink.child.stdout! }).once('line', resolve)), 30_000) ?? '{}';
  const sinkPort = (JSON.parse(line) as { port?: number }).port;
  if (sinkPort === undefined) throw new Error('the sink did not say its port');
  const out: string[] = [`## forward, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus().length} CPUs`, '',
    `\`node --import tsx bench/forward.ts ${process.argv.slice(2).join(' ')}\``];

  for (const [i, rtt] of rtts.entries()) {
    if (cleanup.interrupted) return;
    const rounds = Math.max(1, Math.floor(perRtt(roundsList, i)));
    const reps = Math.max(1, Math.floor(perRtt(repsList, i)));
    const bytes = Math.floor(perRtt(sizes, i) * 1048576);
    const link = await openLink(rig, rtt);
    const m = await mountWithHost(rig, link, `rtt${rtt}`);
    const viaSsh = await addForward(cleanup, m, sinkPort);
    const agentLink = await openLink(rig, rtt, noForwarding);
    const agentMount = await mountWithHost(rig, agentLink, `rtt${rtt}-agent`);
    const viaAgent = await addForward(cleanup, agentMount, sinkPort);

    const sshPort = await freePort();
    const sshL = startChild(cleanup, `ssh -L ${rtt} ms`, 'ssh', [...link.ssh, '-N', '-o', 'ExitOnForwardFailure=yes', '-L', `127.0.0.1:${sshPort}:127.0.0.1:${sinkPort}`, ALIAS]);
    const deadline = Date.now() + 30_000;
    while (!(await ping(sshPort).then(() => true, () => false))) {
      if (sshL.child.exitCode !== null || Date.now() > deadline) throw new Error('ssh -L did not start forwarding');
      await sleep(100);
    }

    const paths: Path[] = [
      { name: '**rmount forward (direct-tcpip on the mount\'s connection)**', port: viaSsh.port },
      { name: '**rmount forward via the agent (sshd: AllowTcpForwarding no)**', port: viaAgent.port },
      { name: 'ssh -N -L (own connection)', port: sshPort, ref: true },
      { name: 'direct to the sink (no forward, no RTT)', port: sinkPort, floor: true },
    ];
    for (const p of paths) await ping(p.port); // warm-up

    const quiet = await waitQuiet(cleanup);
    log(`RTT ${rtt} ms: ${quiet}; setup latency, ${rounds} rounds`);
    const setup = paths.map(() => [] as number[]);
    const b2b = paths.map(() => [] as number[]);
    for (let r = 0; r < rounds && !cleanup.interrupted; r++) {
      for (const [k, p] of paths.entries()) {
        setup[k]!.push(await ping(p.port));
        b2b[k]!.push(await pingBackToBack(p.port));
      }
    }
    log(`RTT ${rtt} ms: throughput, ${bytes >> 20} MiB × ${reps} each way`);
    const up = paths.map(() => [] as number[]);
    const down = paths.map(() => [] as number[]);
    for (let r = 0; r < reps && !cleanup.interrupted; r++) {
      for (const [k, p] of paths.entries()) {
        up[k]!.push(await upload(p.port, bytes));
        down[k]!.push(await download(p.port, bytes));
      }
    }
    const end = loadNow();
    const after = [await viaSsh.listed(), await viaAgent.listed()];

    const refIndex = paths.findIndex(p => p.ref === true);
    const refSetup = median(setup[refIndex]!);
    const refB2b = median(b2b[refIndex]!);
    const refUp = mibs(bytes, median(up[refIndex]!));
    const refDown = mibs(bytes, median(down[refIndex]!));
    out.push('', `### RTT ${rtt} ms (${rtt === 0 ? 'direct to sshd' : `latency proxy, ${rtt / 2} ms each way`}); ${quiet}, ${end} at the end`, '',
      `Connection setup (connect, 1 byte, the first byte back), ${rounds} rounds interleaved, ms: sequential = after the previous connection closed both ways; back-to-back = opened right after the previous one was answered and ended, its close still under way.`, '',
      '| path | sequential median | p90 | × ssh -L | back-to-back median | p90 | × ssh -L |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const [k, p] of paths.entries()) {
      out.push(`| ${p.name} | ${ms(median(setup[k]!))} | ${ms(pct(setup[k]!, 90))} | ${ratio(median(setup[k]!), refSetup)} | ${ms(median(b2b[k]!))} | ${ms(pct(b2b[k]!, 90))} | ${ratio(median(b2b[k]!), refB2b)} |`);
    }
    out.push('', `Throughput of one connection, ${bytes >> 20} MiB, median of ${reps}: up = to the remote (timed to the sink's byte count), down = from it.`, '',
      '| path | up MiB/s | up × ssh -L | down MiB/s | down × ssh -L |', '|---|---:|---:|---:|---:|');
    for (const [k, p] of paths.entries()) {
      const u = mibs(bytes, median(up[k]!));
      const d = mibs(bytes, median(down[k]!));
      out.push(`| ${p.name} | ${u.toFixed(1)} | ${ratio(u, refUp)} | ${d.toFixed(1)} | ${ratio(d, refDown)} |`);
    }
    out.push('');
    for (const k of [0, 1]) {
      const s = Math.max(median(setup[k]!) / refSetup, median(b2b[k]!) / refB2b);
      const t = Math.min(mibs(bytes, median(up[k]!)) / refUp, mibs(bytes, median(down[k]!)) / refDown);
      const f = after[k];
      out.push(`- ${k === 0 ? 'direct-tcpip' : 'agent'}: goal setup ≤ 1.2× ssh -L ${s <= 1.2 ? 'met' : 'not met'} (worse case ${s.toFixed(2)}×); goal throughput ≥ 0.8× ssh -L ${t >= 0.8 ? 'met' : 'not met'} (worse direction ${t.toFixed(2)}×); `
        + `rmount forward ls after the run: ${f === undefined ? 'not listed' : `${f.state}, ${f.connections} connections, ${f.failures} failures${f.lastError === undefined ? '' : `, last error ${f.lastError}`}`}`);
    }

    await sshL.stop();
    await viaAgent.remove();
    await viaSsh.remove();
    await agentMount.unmount();
    await agentLink.close();
    await m.unmount();
    await link.close();
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

if (process.argv.includes('--sink')) serveSink();
else await runBench(forward);

