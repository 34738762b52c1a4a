/**
 * The SSH transport under the SFTP codec, three ways to the same throwaway sshd in one run, rounds
 * interleaved: ssh2 on the JS thread (`SshBackend.files()`, `-o ssh_client=builtin`), ssh2 in a
 * worker thread (bench/ssh2-worker.ts, a rig only) and a child OpenSSH `ssh` (`SshBackend.files()`
 * with `-o ssh_client=openssh`):
 *
 *   node --import tsx bench/ssh-transport.ts                     # RTT 0, 3 rounds
 *   node --import tsx bench/ssh-transport.ts --rtt 0,20 --rounds 3 --size-mib 64 --lstats 1000
 *
 * Per transport and round, on a new backend: N sequential lstats (per-request latency), one
 * 64 MiB write, its read back, and the same read again (8 MiB per call, which the codec splits and
 * pipelines). For each it records the wall time, the CPU time of this process (process.cpuUsage:
 * the JS thread, where ssh2's transport runs, plus libuv's and V8's threads), of the JS thread
 * alone (/proc/self/task/PID/stat, 10 ms ticks) and of the child `ssh` (openssh only). At RTT > 0
 * a bench/latency-proxy.ts process sits in front of sshd (RTT/2 each way), so its CPU is not ours.
 * Prints medians over the rounds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SshBackend, type SshBackendOptions } from '../src/backends/ssh/backend.ts';
import type { FileClient } from '../src/remote/file-client.ts';
import { workerFileClient } from './ssh2-worker.ts';
import { renderClientConfig, sshdSkipReason, startSshd, type AfterHook, type SshdFixture } from '../test/helpers/sshd.ts';
import { readAll, writeAll } from './file-transfer.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;
const CLK_TCK = 100;

interface Args { rtts: number[]; rounds: number; sizeMiB: number; lstats: number }

function parseArgs(argv: string[]): Args {
  const a: Args = { rtts: [0], rounds: 3, sizeMiB: 64, lstats: 1000 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${argv[i]} needs a value`);
    switch (argv[i]) {
      case '--rtt': a.rtts = v.split(',').map(Number); break;
      case '--rounds': a.rounds = Number(v); break;
      case '--size-mib': a.sizeMiB = Number(v); break;
      case '--lstats': a.lstats = Number(v); break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return a;
}

type Transport = 'ssh2' | 'worker' | 'openssh';
const TRANSPORTS: readonly Transport[] = ['ssh2', 'worker', 'openssh'];
const LABELS: Readonly<Record<Transport, string>> = { ssh2: 'builtin (ssh2)', worker: 'ssh2 in a worker', openssh: 'openssh' };
/** One measured step: wall ms; CPU ms of this process, of its JS thread alone, and of the child ssh. */
interface Sample { wallMs: number; cpuMs: number; jsCpuMs: number; childCpuMs: number }
type Step = 'lstat' | 'write' | 'read' | 'read again';
const STEPS: readonly Step[] = ['lstat', 'write', 'read', 'read again'];

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const skip = sshdSkipReason();
  if (skip !== false) {
    console.log(`ssh-transport: skipped: ${skip}`);
    return;
  }
  const cleanups: (() => Promise<void> | void)[] = [];
  const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
  const stop = (): void => { void runCleanups(cleanups).then(() => process.exit(130)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const sshd = await startSshd(hook);
    const data = randomBytes(args.sizeMiB * MiB);
    const digest = sha256(data);
    console.log(`ssh-transport: ${args.lstats} sequential lstats, ${args.sizeMiB} MiB write + read, ${args.rounds} rounds, medians; load ${loadavg()}`);
    for (const rtt of args.rtts) {
      const port = rtt === 0 ? sshd.port : await startProxy(hook, sshd.port, rtt);
      const configFile = await clientConfig(sshd, port, rtt);
      const samples = new Map<string, Sample[]>();
      for (let round = 0; round < args.rounds; round++) {
        const order = round % 2 === 0 ? TRANSPORTS : [...TRANSPORTS].reverse();
        for (const transport of order) {
          const got = await measure(sshd, configFile, transport, args, data, digest, `${round}-${transport}`);
          for (const [step, s] of Object.entries(got)) {
            const key = `${transport} ${step}`;
            samples.set(key, [...(samples.get(key) ?? []), s]);
          }
        }
      }
      report(rtt, args, samples);
    }
  } finally {
    await runCleanups(cleanups);
  }
}

async function measure(sshd: SshdFixture, configFile: string, transport: Transport, args: Args, data: Buffer, digest: string, tag: string): Promise<Record<Step, Sample>> {
  const homeDir = join(sshd.dir, 'home');
  const options: SshBackendOptions = { configFile, homeDir, sshClient: transport === 'openssh' ? 'openssh' : 'builtin' };
  const backend = new SshBackend({ type: 'ssh', host: 'bench', raw: 'bench' }, options);
  const inWorker = transport === 'worker' ? await workerFileClient(configFile, 'bench', homeDir) : undefined;
  try {
    const files = inWorker?.files ?? (await backend.start(), await backend.files());
    const child = () => sshChildOf(process.pid);
    const path = join(sshd.dir, `bench-${tag}.bin`);
    await files.lstat(sshd.dir);
    const lstat = await sample(child, async () => {
      for (let i = 0; i < args.lstats; i++) await files.lstat(sshd.dir);
    });
    const write = await sample(child, () => writeAll(files, path, data));
    let back: Buffer | undefined;
    const read = await sample(child, async () => { back = await readAll(files, path, data.length); });
    if (back === undefined || sha256(back) !== digest) throw new Error(`${transport} read back different bytes`);
    back = undefined;
    const again = await sample(child, async () => { back = await readAll(files, path, data.length); });
    if (back === undefined || sha256(back) !== digest) throw new Error(`${transport} read back different bytes`);
    await files.unlink(path);
    return { lstat, write, read, 'read again': again };
  } finally {
    await inWorker?.close();
    await backend.close();
  }
}

async function sample(child: () => number | undefined, fn: () => Promise<void>): Promise<Sample> {
  const pid = child();
  const childBefore = pid === undefined ? 0 : cpuOfPid(pid);
  const jsBefore = cpuOfPid(process.pid, process.pid);
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  await fn();
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  const jsCpuMs = cpuOfPid(process.pid, process.pid) - jsBefore;
  const childAfter = pid === undefined ? 0 : cpuOfPid(pid);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, jsCpuMs, childCpuMs: childAfter - childBefore };
}

function report(rtt: number, args: Args, samples: Map<string, Sample[]>): void {
  console.log(`\nRTT ${rtt} ms`);
  console.log('| step | client | wall ms | result | rmount CPU ms | of it JS thread | ssh CPU ms |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (const step of STEPS) {
    for (const transport of TRANSPORTS) {
      const s = samples.get(`${transport} ${step}`) ?? [];
      const pick = (f: (x: Sample) => number): string => median(s.map(f)).toFixed(0);
      const wall = median(s.map(x => x.wallMs));
      const result = step === 'lstat' ? `${(wall * 1000 / args.lstats).toFixed(0)} µs/op` : `${(args.sizeMiB / (wall / 1000)).toFixed(1)} MiB/s`;
      console.log(`| ${step} | ${LABELS[transport]} | ${wall.toFixed(0)} | ${result} | ${pick(x => x.cpuMs)} | ${pick(x => x.jsCpuMs)} | ${transport === 'openssh' ? pick(x => x.childCpuMs) : '-'} |`);
    }
  }
}

// The fixture's client config pointed at `port`, under the alias `bench`.
async function clientConfig(sshd: SshdFixture, port: number, rtt: number): Promise<string> {
  const file = join(sshd.dir, `bench_ssh_config_${rtt}`);
  const knownHosts = join(sshd.dir, `bench_known_hosts_${rtt}`);
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${sshd.hostPublicKey}\n`);
  await writeFile(file, `${renderClientConfig({ hosts: 'bench', port, user: sshd.user, identityFile: sshd.userKey, knownHostsFile: knownHosts })}  IdentityAgent none\n`);
  return file;
}

async function startProxy(hook: AfterHook, target: number, rtt: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'latency-proxy.ts'), '--target', `127.0.0.1:${target}`, '--delay-ms', String(rtt / 2)], { stdio: ['ignore', 'pipe', 'inherit'] });
  hook.after(() => stopChild(child));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', code => reject(new Error(`latency proxy exited with ${code}`)));
  });
  return (JSON.parse(line) as { port: number }).port;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise(resolve => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

// The `ssh` this process started for the file channel, if any (found through /proc, by parent).
function sshChildOf(parent: number): number | undefined {
  const children = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return children.find(pid => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'ssh';
    } catch {
      return false;
    }
  });
}

// user + system CPU ms of a process, or of one of its threads.
function cpuOfPid(pid: number, tid?: number): number {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1000;
  } catch {
    return 0;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

async function runCleanups(cleanups: (() => Promise<void> | void)[]): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn();
}

await main();
