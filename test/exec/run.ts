/**
 * Running the CLI the way a shim does: through a small sh runner that names the loader by path,
 * so it works from any folder (inside a mount too).
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runProcess, type RunOptions } from '../helpers/cli.ts';
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

/** Spawns `file args` and collects what it prints (the shared runner of test/helpers/cli.ts). */
export const run = runProcess;
export type { RunOptions };
