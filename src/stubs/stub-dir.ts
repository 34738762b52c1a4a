import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderShim, shimMountpoint, type ShimSpec } from './render-shim.ts';

/**
 * The native exec client a shim runs when it is built: build/rmount-exec of this checkout (two
 * folders up from src/stubs/ and from the compiled lib/stubs/ alike), or $RMOUNT_EXEC_CLIENT
 * when set ('' writes shims that always go through Node). The shim checks at every run that
 * the file is there and executable, so building or deleting it later needs no rewrite.
 */
export function defaultExecClient(env: NodeJS.ProcessEnv = process.env): string {
  return env.RMOUNT_EXEC_CLIENT ?? fileURLToPath(new URL('../../build/rmount-exec', import.meta.url));
}

/** What writing or removing shims did. */
export interface StubReport {
  written: string[];
  removed: string[];
  /** Names left alone, with why (a file there that is not an rmount shim). */
  skipped: { name: string; reason: string }[];
}

/** Writes one shim per spec into `dir` (created if missing); never replaces a file that is not a shim. */
export async function writeShims(dir: string, specs: readonly ShimSpec[]): Promise<StubReport> {
  await mkdir(dir, { recursive: true });
  const report: StubReport = { written: [], removed: [], skipped: [] };
  for (const spec of specs) {
    const file = join(dir, spec.command);
    const existing = await readFile(file, 'utf8').catch(() => undefined);
    if (existing !== undefined && shimMountpoint(existing) === undefined) {
      report.skipped.push({ name: spec.command, reason: 'a file that is not an rmount shim is there' });
      continue;
    }
    const tmp = join(dir, `.${spec.command}.rmount-${process.pid}.tmp`);
    await writeFile(tmp, renderShim({ ...spec, execClient: spec.execClient ?? defaultExecClient() }), { mode: 0o755 });
    await chmod(tmp, 0o755);
    await rename(tmp, file);
    report.written.push(spec.command);
  }
  return report;
}

/**
 * Removes from `dir` the shims written for `mountpoint` (all of them, or only `names`). Files
 * that are not rmount shims, or shims for another mount, stay.
 */
export async function removeShims(dir: string, mountpoint: string, names?: readonly string[]): Promise<StubReport> {
  const report: StubReport = { written: [], removed: [], skipped: [] };
  const candidates = names ?? (await readdir(dir).catch(() => [] as string[]));
  for (const name of candidates) {
    const file = join(dir, name);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const owner = shimMountpoint(text);
    if (owner === undefined) {
      if (names !== undefined) report.skipped.push({ name, reason: 'not an rmount shim' });
      continue;
    }
    if (owner !== mountpoint) {
      if (names !== undefined) report.skipped.push({ name, reason: `a shim for ${owner}` });
      continue;
    }
    await rm(file, { force: true });
    report.removed.push(name);
  }
  return report;
}
