/**
 * Latency of a remote command: a path stub (`stub true`) run inside a mount of the test sshd,
 * which goes sh shim → compiled CLI → the mount's control socket → the daemon's existing SSH
 * connection, next to `ssh host true` (a new connection each time) and `ssh -S ctl host true`
 * (OpenSSH ControlMaster, the fastest peer), in the same run, interleaved. Also the same stub
 * through the native client (sh shim → build/rmount-exec → the control socket), built by
 * scripts/build-exec-client.sh when missing (the rows are left out when Go is missing).
 *
 *   npm run build:ts && node --import tsx bench/exec-latency.ts       # 30 rounds
 *   BENCH_ROUNDS=100 node --import tsx bench/exec-latency.ts
 *
 * The stub calls bin/rmount, which runs lib/ (the compiled CLI): build it first, or the stub
 * runs the TypeScript sources through tsx and measures tsx's start-up instead.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SSHD_HOST_ALIAS, sshdSkipReason, startSshd, type AfterHook } from '../test/helpers/sshd.ts';

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'rmount');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);

/** Wall time of one run of `argv` in `cwd`, in ms; throws when it does not exit 0. */
function timeRun(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => { err += b; });
    child.on('error', reject);
    child.on('close', code => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`${argv.join(' ')} exited ${code}: ${err}`));
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]!;
}

async function main(): Promise<void> {
  const skip = sshdSkipReason();
  if (skip !== false) {
    console.log(`exec-latency: skipped: ${skip}`);
    return;
  }
  if (!existsSync(join(ROOT, 'lib', 'cli', 'run.js'))) console.log('exec-latency: lib/ is not built; the stub will run the sources through tsx (npm run build:ts)');
  const cleanups: (() => Promise<void> | void)[] = [];
  const hook: AfterHook = { after: fn => { cleanups.push(fn); } };
  try {
    const sshd = await startSshd(hook);
    const work = await mkdtemp(join(tmpdir(), 'rmount-bench-exec-'));
    hook.after(() => rm(work, { recursive: true, force: true }));
    const [back, mnt, stubs, run] = ['back', 'mnt', 'stubs', 'run'].map(n => join(work, n)) as [string, string, string, string];
    for (const d of [back, mnt, stubs, run]) await mkdir(d, { mode: 0o700 });
    const env = { ...process.env, RMOUNT_RUNTIME_DIR: run };
    const ssh = ['-F', sshd.sshConfigFile];

    await execFileP(process.execPath, [BIN, 'mount', ...ssh, '--known-hosts', sshd.knownHostsFile, '-i', sshd.userKey,
      `ssh://${sshd.user}@127.0.0.1:${sshd.port}${back}`, mnt], { env });
    hook.after(() => execFileP(process.execPath, [BIN, 'unmount', mnt], { env }).then(() => {}, () => {}));
    // The Node stub: written with RMOUNT_EXEC_CLIENT='' so it never takes the native client.
    await execFileP(process.execPath, [BIN, 'stubs', mnt, '--dir', stubs, 'true'], { env: { ...env, RMOUNT_EXEC_CLIENT: '' } });
    const client = join(ROOT, 'build', 'rmount-exec');
    if (!existsSync(client)) {
      await execFileP('bash', [join(ROOT, 'scripts', 'build-exec-client.sh')], { cwd: ROOT }).catch(e => console.log(`exec-latency: rmount-exec not built, its rows are left out: ${(e as Error).message}`));
    }
    const nativeStubs = join(work, 'native-stubs');
    if (existsSync(client)) {
      await mkdir(nativeStubs, { mode: 0o700 });
      await execFileP(process.execPath, [BIN, 'stubs', mnt, '--dir', nativeStubs, 'true'], { env: { ...env, RMOUNT_EXEC_CLIENT: client } });
      if (!(await readFile(join(nativeStubs, 'true'), 'utf8')).includes('rmount_client=')) {
        throw new Error('the stub has no native client branch: lib/ predates it (npm run build:ts)');
      }
    }

    const ctl = join(work, 'ctl');
    await execFileP('ssh', [...ssh, '-M', '-S', ctl, '-o', 'ControlPersist=no', '-N', '-f', SSHD_HOST_ALIAS]);
    hook.after(() => execFileP('ssh', [...ssh, '-S', ctl, '-O', 'exit', SSHD_HOST_ALIAS]).then(() => {}, () => {}));

    const cases: { name: string; argv: string[]; cwd: string }[] = [
      { name: 'stub true (through the mount)', argv: [join(stubs, 'true')], cwd: mnt },
      ...(existsSync(client) ? [
        { name: 'stub true via rmount-exec (through the mount)', argv: [join(nativeStubs, 'true')], cwd: mnt },
        { name: 'rmount-exec -- true (mount, no shim)', argv: [client, '--', 'true'], cwd: mnt },
      ] : []),
      { name: 'rmount exec -- true (mount)', argv: [process.execPath, BIN, 'exec', '--', 'true'], cwd: mnt },
      { name: 'ssh host true (new connection)', argv: ['ssh', ...ssh, SSHD_HOST_ALIAS, 'true'], cwd: work },
      { name: 'ssh -S ctl host true (ControlMaster)', argv: ['ssh', ...ssh, '-S', ctl, SSHD_HOST_ALIAS, 'true'], cwd: work },
      { name: 'node -e 0 (Node start-up alone)', argv: [process.execPath, '-e', '0'], cwd: work },
    ];
    const times = cases.map(() => [] as number[]);
    for (const c of cases) await timeRun(c.argv, c.cwd, env).catch(e => { throw new Error(`${c.name}: ${(e as Error).message}`); }); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, c] of cases.entries()) times[i]!.push(await timeRun(c.argv, c.cwd, env));
    }
    const master = median(times[cases.findIndex(c => c.name.includes('ControlMaster'))]!);
    console.log(`exec-latency: ${ROUNDS} rounds, interleaved, test sshd on 127.0.0.1`);
    console.log('| case | median ms | p90 ms | × ControlMaster |');
    console.log('|---|---:|---:|---:|');
    for (const [i, c] of cases.entries()) {
      const med = median(times[i]!);
      console.log(`| ${c.name} | ${med.toFixed(1)} | ${pct(times[i]!, 90).toFixed(1)} | ${(med / master).toFixed(2)} |`);
    }
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

await main();
