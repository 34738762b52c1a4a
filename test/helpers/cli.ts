import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Absolute, so that a CLI started in a folder outside the checkout still finds tsx.
const TSX = import.meta.resolve('tsx');

/** What a run printed and how it ended. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Options of {@link runProcess} and {@link runCli}. */
export interface RunOptions {
  input?: Buffer | string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Spawns `file args`, feeds `input`, and collects what it prints; `onSpawn` sees the child (to signal it). */
export function runProcess(file: string, args: readonly string[], options: RunOptions = {}, onSpawn?: (child: ChildProcess) => void): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      stdio: 'pipe',
      timeout: options.timeoutMs ?? 60_000,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
    child.stdin.on('error', () => {});
    child.stdin.end(options.input);
    onSpawn?.(child);
  });
}

/** Runs the CLI from its TypeScript sources as a child process (so lib/ never goes stale in tests). */
export function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  return runProcess(process.execPath, ['--import', TSX, `${ROOT}src/cli/run.ts`, ...args], options);
}

let launcherRoot: string | undefined;

/**
 * A checkout of its own for bin/rmount run as a command: a copy of bin/rmount (the launcher finds
 * its root from its own real path), lib/ compiled from this checkout's src/ now (a lib/ of this
 * checkout may be older than src/; bin/rmount runs a mount in place only over lib/), and links to
 * node_modules/, build/ and dist/. Made once per test process and removed when it exits.
 */
export function launcherCopy(): string {
  if (launcherRoot !== undefined) return launcherRoot;
  const root = mkdtempSync(join(tmpdir(), 'rmount-launcher-'));
  process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  for (const name of ['node_modules', 'build', 'dist']) symlinkSync(join(ROOT, name), join(root, name));
  copyFileSync(join(ROOT, 'package.json'), join(root, 'package.json'));
  mkdirSync(join(root, 'bin'));
  copyFileSync(join(ROOT, 'bin', 'rmount'), join(root, 'bin', 'rmount'));
  chmodSync(join(root, 'bin', 'rmount'), 0o755);
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(root, 'lib')], { stdio: 'ignore', timeout: 300_000 });
  launcherRoot = root;
  return root;
}

/**
 * The CLI as users run it: bin/rmount as a command, so its shell part starts node (for a
 * background mount, the one process that becomes the daemon). See {@link launcherCopy}.
 */
export function runLauncher(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const root = launcherCopy();
  const path = `${dirname(process.execPath)}:${options.env?.PATH ?? process.env.PATH ?? ''}`;
  return runProcess(join(root, 'bin', 'rmount'), args, { ...options, env: { ...options.env, PATH: path } });
}
