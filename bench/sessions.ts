/**
 * Detached sessions (issue 14) against OpenSSH, at RTT 0 and 20 ms, in one run:
 *
 *   - attach latency: from the attach call to the first replayed byte (and to the whole ring of
 *     `--replay` bytes) of a session that printed them and waits, through the mount's control
 *     socket with the library (ControlSessionHost, what `rmount session attach` uses) and with the
 *     compiled CLI (`node bin/rmount session attach X`, a new process each time: Node start-up
 *     included), next to the first byte of `ssh -S ctl host 'yes | head -c N'` (ControlMaster) and
 *     of the same over a new ssh connection;
 *   - output throughput of `sh -c 'yes | head -c SIZE'`: a session attached live (started
 *     waiting on its stdin, attached, then told to go; timed to its exit event), with the default
 *     1,000,000-byte ring and with a ring larger than the output; the same command through
 *     `rmount-exec` (the host's `run`, flow-controlled end to end); and `ssh -S ctl host '…'`.
 *
 *   node --import tsx bench/sessions.ts [--rtt 0,20] [--rounds 15] [--reps 3] [--size 100000000] [--replay 100000]
 *
 * Needs root, sshd, FUSE, build/rmount-exec (built when missing) and lib/ for the CLI row
 * (npm run build:ts). Sessions are named after the run's tag and removed with
 * `rmount session rm --force`; mounts, the proxy, ControlMaster and what ran through the test
 * sshd are stopped by PID (bench/exec-latency.ts, the shared rig), also on failure and Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchCleanup } from './cleanup.ts';
import {
  ALIAS, EXEC_CLIENT, ROOT, benchArgs, ensureExecClient, loadNow, log, median, mibs, ms, mountWithHost, numberList, openLink, pct,
  perRtt, ratio, runBench, startRig, timeOutput, waitQuiet, within, type HostMount,
} from './exec-latency.ts';
import { ControlSessionHost } from '../src/control/session-client.ts';

const BIN = join(ROOT, 'bin', 'rmount');
/** The host's default ring. */
const DEFAULT_RING = 1_000_000;
/** The host's largest ring (PROTOCOL.md, `start`). */
const MAX_RING = 256 << 20;

interface Latency { firstMs: number; fullMs: number }

/** One attach with replay through the library: ms to the first byte, and to `expect` bytes; then detach. */
async function attachOnce(host: ControlSessionHost, session: string, expect: number): Promise<Latency> {
  const start = performance.now();
  const a = await host.attach(session, { replay: true });
  return new Promise((resolve, reject) => {
    let got = 0;
    let firstMs = NaN;
    const timer = setTimeout(() => { a.detach(); reject(new Error(`attach to ${session}: ${got} of ${expect} bytes after 60 s`)); }, 60_000);
    a.output.on('data', (b: Buffer) => {
      if (got === 0) firstMs = performance.now() - start;
      got += b.length;
      if (got >= expect) {
        const fullMs = performance.now() - start;
        clearTimeout(timer);
        a.detach();
        void a.ended.then(() => resolve({ firstMs, fullMs }));
      }
    });
  });
}

/**
 * `rmount session attach` as a user runs it (a new process; stdin a pipe kept open, so it stays
 * attached): ms to its first byte on stdout and to `expect` bytes; then it is stopped by its PID.
 */
function attachCli(m: HostMount, session: string, expect: number): Promise<Latency> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [BIN, 'session', 'attach', session], { cwd: m.mountpoint, env: { ...process.env, ...m.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let got = 0;
    let firstMs = NaN;
    let fullMs = NaN;
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (b: Buffer) => {
      if (got === 0) firstMs = performance.now() - start;
      got += b.length;
      if (got >= expect && Number.isNaN(fullMs)) {
        fullMs = performance.now() - start;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-2000); });
    child.stdin.on('error', () => {});
    child.on('error', reject);
    child.on('close', code => {
      clearTimeout(timer);
      if (Number.isNaN(fullMs)) reject(new Error(`rmount session attach ${session} exited ${code} after ${got} of ${expect} bytes: ${err.trim()}`));
      else resolve({ firstMs, fullMs });
    });
  });
}

interface Flow { ms: number; bytes: number; dropped: number }

/**
 * A session started waiting on its stdin, attached live (no replay), then told to go: ms from
 * the go to the exit event, bytes received, bytes the host skipped because this client fell
 * more than a ring behind. The session is removed afterwards.
 */
async function sessionFlow(host: ControlSessionHost, name: string, size: number, ring: number): Promise<Flow> {
  await host.start({ argv: ['sh', '-c', `read go; yes | head -c ${size}`], name, buffer: ring });
  try {
    const a = await host.attach(name, { replay: false });
    let bytes = 0;
    let dropped = 0;
    a.onDropped = n => { dropped += n; };
    a.output.on('data', (b: Buffer) => { bytes += b.length; });
    const start = performance.now();
    a.input.write('go\n');
    const end = await within(a.ended, 300_000);
    const took = performance.now() - start;
    if (end === undefined) {
      a.detach();
      throw new Error(`session ${name}: no end after 300 s (${bytes} bytes)`);
    }
    if (end.kind !== 'exit' || end.code !== 0) throw new Error(`session ${name} ended ${JSON.stringify(end)}`);
    return { ms: took, bytes, dropped };
  } finally {
    await host.remove(name, true).catch(error => log(`remove ${name}: ${(error as Error).message}`));
  }
}

async function waitBuffered(host: ControlSessionHost, name: string, bytes: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if ((await host.list()).some(s => s.name === name && s.buffered >= bytes)) return;
    await sleep(100);
  }
  throw new Error(`session ${name} did not print ${bytes} bytes within 60 s`);
}

async function sessions(cleanup: BenchCleanup): Promise<void> {
  const o = benchArgs(process.argv.slice(2), { rtt: '0,20', rounds: '15', reps: '3', size: '100000000', replay: '100000' },
    'usage: node --import tsx bench/sessions.ts [--rtt 0,20] [--rounds 15] [--reps 3] [--size 100000000] [--replay 100000]\n'
    + '  --rounds, --reps, --size take one value or one per RTT');
  const rtts = numberList(o.rtt, '--rtt');
  const roundsList = numberList(o.rounds, '--rounds');
  const repsList = numberList(o.reps, '--reps');
  const sizes = numberList(o.size, '--size');
  const replay = Math.floor(numberList(o.replay, '--replay')[0]!);
  if (replay < 1 || replay > DEFAULT_RING) throw new Error(`--replay must be 1…${DEFAULT_RING} (the default ring)`);
  if (!existsSync(join(ROOT, 'lib', 'cli', 'run.js'))) log('sessions: lib/ is not built; the CLI row runs the sources through tsx (npm run build:ts)');
  await ensureExecClient();
  const rig = await startRig(cleanup, 'sessions');
  const out: string[] = [`## sessions, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus().length} CPUs`, '',
    `\`node --import tsx bench/sessions.ts ${process.argv.slice(2).join(' ')}\``];

  for (const [i, rtt] of rtts.entries()) {
    if (cleanup.interrupted) return;
    const rounds = Math.max(1, Math.floor(perRtt(roundsList, i)));
    const reps = Math.max(1, Math.floor(perRtt(repsList, i)));
    const size = Math.floor(perRtt(sizes, i));
    const link = await openLink(rig, rtt);
    const m = await mountWithHost(rig, link, `rtt${rtt}`);
    const host = new ControlSessionHost(m.socket);
    const menv = { ...process.env, ...m.env };
    const cmd = (n: number): string => `yes | head -c ${n}`;

    const replayName = `${rig.tag}-replay-${rtt}`;
    await host.start({ argv: ['sh', '-c', `${cmd(replay)}; exec sleep 3600`], name: replayName });
    await waitBuffered(host, replayName, replay);

    const quiet = await waitQuiet(cleanup);
    log(`RTT ${rtt} ms: ${quiet}; attach latency, ${rounds} rounds`);
    const lat = { lib: [] as Latency[], cli: [] as Latency[], master: [] as Latency[], fresh: [] as Latency[] };
    const sshFirst = async (argv: string[]): Promise<Latency> => {
      const r = await timeOutput(argv, rig.dir);
      if (r.bytes !== replay) throw new Error(`${argv.join(' ')}: ${r.bytes} bytes, expected ${replay}`);
      return { firstMs: r.firstMs, fullMs: r.totalMs };
    };
    const master = ['ssh', ...link.ssh, '-S', link.ctl, ALIAS, cmd(replay)];
    const fresh = ['ssh', ...link.ssh, ALIAS, cmd(replay)];
    // One unmeasured round: the first CLI start reads lib/ from disk, the first ssh warms sshd.
    await attachOnce(host, replayName, replay);
    await attachCli(m, replayName, replay);
    await sshFirst(master);
    for (let r = 0; r < rounds && !cleanup.interrupted; r++) {
      lat.lib.push(await attachOnce(host, replayName, replay));
      lat.cli.push(await attachCli(m, replayName, replay));
      lat.master.push(await sshFirst(master));
      lat.fresh.push(await sshFirst(fresh));
    }

    log(`RTT ${rtt} ms: output throughput, ${size} bytes × ${reps}`);
    const bigRing = Math.min(MAX_RING, size + (1 << 20));
    const flow = { ring: [] as Flow[], big: [] as Flow[], run: [] as Flow[], master: [] as Flow[] };
    for (let r = 0; r < reps && !cleanup.interrupted; r++) {
      flow.ring.push(await sessionFlow(host, `${rig.tag}-yes-${rtt}-${r}-ring`, size, DEFAULT_RING));
      flow.big.push(await sessionFlow(host, `${rig.tag}-yes-${rtt}-${r}-big`, size, bigRing));
      const run = await timeOutput([EXEC_CLIENT, '--', 'sh', '-c', cmd(size)], m.mountpoint, menv);
      flow.run.push({ ms: run.totalMs, bytes: run.bytes, dropped: 0 });
      const cm = await timeOutput(['ssh', ...link.ssh, '-S', link.ctl, ALIAS, cmd(size)], rig.dir);
      flow.master.push({ ms: cm.totalMs, bytes: cm.bytes, dropped: 0 });
    }
    const end = loadNow();

    const latRow = (name: string, xs: Latency[], ref: number): string => {
      const first = xs.map(x => x.firstMs);
      return `| ${name} | ${ms(median(first))} | ${ms(pct(first, 90))} | ${ms(median(xs.map(x => x.fullMs)))} | ${ratio(median(first), ref)} |`;
    };
    const ref = median(lat.master.map(x => x.firstMs));
    out.push('', `### RTT ${rtt} ms (${rtt === 0 ? 'direct to sshd' : `latency proxy, ${rtt / 2} ms each way`}); ${quiet}, ${end} at the end`, '',
      `Attach latency: a session that printed ${replay} bytes and waits; ${rounds} rounds interleaved (ms; the ssh rows run \`${cmd(replay)}\`).`, '',
      '| case | first byte median | p90 | all bytes median | first byte × ControlMaster |', '|---|---:|---:|---:|---:|',
      latRow('**attach, library via the control socket**', lat.lib, ref),
      latRow('`rmount session attach` (new Node process, lib/)', lat.cli, ref),
      latRow('ssh -S ctl host (ControlMaster)', lat.master, ref),
      latRow('ssh host (new connection)', lat.fresh, ref));
    const flowRow = (name: string, xs: Flow[], refRate: number): string => {
      const rates = xs.map(x => mibs(x.bytes, x.ms));
      const dropped = xs.map(x => x.dropped);
      return `| ${name} | ${ms(median(xs.map(x => x.ms)))} | ${median(xs.map(x => x.bytes)).toFixed(0)} | ${median(dropped).toFixed(0)} | ${median(rates).toFixed(1)} | ${ratio(median(rates), refRate)} |`;
    };
    const refRate = median(flow.master.map(x => mibs(x.bytes, x.ms)));
    out.push('', `Output throughput of \`${cmd(size)}\`, median of ${reps} (delivered bytes / time; a session never waits for a slow client: what it skips is "dropped").`, '',
      '| case | ms | bytes delivered | bytes dropped | MiB/s delivered | × ControlMaster |', '|---|---:|---:|---:|---:|---:|',
      flowRow(`**session attached live, ring ${DEFAULT_RING} (default)**`, flow.ring, refRate),
      flowRow(`session attached live, ring ${bigRing}`, flow.big, refRate),
      flowRow('rmount-exec -- sh -c … (the host\'s run)', flow.run, refRate),
      flowRow('ssh -S ctl host … (ControlMaster)', flow.master, refRate));
    await m.unmount();
    await link.close();
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

await runBench(sessions);
