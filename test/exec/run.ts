/**
 * Running the CLI from any folder (inside a mount too): `runCli` resolves tsx from its cwd, which
 * fails there, so these helpers go through a small sh runner that names the loader by path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CliResult } from '../helpers/cli.ts';
import type { AfterHook } from '../helpers/sshd.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX_LOADER = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

/** Writes `rmount-dev` (the CLI from its sources) into a fresh folder; removed by `t`'s cleanup. */
export async function makeRunner(t: AfterHook): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rmount-runner-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const runner = join(dir, 'rmount-dev');
  await writeFile(runner, `#!/bin/sh\nexec '${process.execPath}' --import '${TSX_LOADER}' '${join(ROOT, 'src/cli/run.ts')}' "$@"\n`);
  await chmod(runner, 0o755);
  return runner;
}

/** Options of {@link run}. */
export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: Buffer | string;
  timeoutMs?: number;
}

/** Spawns `file args` and collects what it prints; `onSpawn` sees the child (to signal it). */
export function run(file: string, args: readonly string[], options: RunOptions = {}, onSpawn?: (child: ChildProcess) => void): Promise<CliResult> {
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
