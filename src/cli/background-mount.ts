import { parseMountOptions } from '../mount/mount-options.ts';
import type { CliContext } from './context.ts';
import type { MountRequest } from './daemon-argv.ts';

/** A background mount's request with its canonical mountpoint, and where its daemon logs. */
export interface BackgroundMount {
  readonly request: MountRequest;
  readonly logFile: string;
}

/**
 * What comes before a background mount's daemon, wherever it runs: the canonical mountpoint, and
 * a bad one reported before anything starts (and before a log file is made for it).
 */
export async function prepareBackground(request: MountRequest, ctx: CliContext): Promise<BackgroundMount> {
  const [{ canonicalMountpoint }, { checkMountpoint }, { runtimeDir, runtimeFiles }] = await Promise.all([
    import('../system/mountinfo.ts'), import('../mount/preflight.ts'), import('../mount/registry.ts'),
  ]);
  const mountpoint = await canonicalMountpoint(request.mountpoint);
  const [dir] = await Promise.all([runtimeDir(ctx.env), checkMountpoint(mountpoint, parseMountOptions(request.o).nonempty)]);
  return { request: { ...request, mountpoint }, logFile: runtimeFiles(dir, mountpoint).log };
}

/** The exit code for a mount that failed with this message's code. */
export function failedMountExitCode(code: string | undefined): number {
  return code === 'ERR_USAGE' ? 2 : 1;
}
