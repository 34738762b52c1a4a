import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { loadBinding } from '../../src/fuse/binding.ts';
import { isMounted, mountFuse, type FuseMount } from '../../src/fuse/mount.ts';
import type { NativeBinding, NativeCallbacks, NativeHandle } from '../../src/fuse/native.ts';
import type { FuseOperations } from '../../src/fuse/operations.ts';
import { which } from '../helpers/skip.ts';

export const execFileP = promisify(execFile);

/** Why a real FUSE mount cannot run here, or false. */
export function fuseSkipReason(): string | false {
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse on this machine';
  if (which('fusermount3') === undefined) return 'fusermount3 not installed (apt-get install fuse3)';
  try {
    loadBinding();
  } catch {
    return 'the FUSE addon is not built (npm run build:native; needs libfuse3-dev)';
  }
  return false;
}

/** The real binding, wrapped to record every request id and every accepted reply. */
export function recordingBinding() {
  const real = loadBinding();
  const requests = new Map<number, string>();
  const replies = new Map<number, number>();
  let handle: NativeHandle | undefined;
  const wrapped: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(real)) {
    if (typeof value !== 'function') {
      wrapped[key] = value;
    } else if (key.startsWith('reply')) {
      wrapped[key] = (h: NativeHandle, id: number, ...rest: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown)(h, id, ...rest);
        replies.set(id, (replies.get(id) ?? 0) + 1);
        return result;
      };
    } else if (key === 'mount') {
      wrapped[key] = (mp: string, options: unknown, cb: NativeCallbacks) => {
        handle = real.mount(mp, options as never, {
          ...cb,
          request: (op, id, ctx, ...args) => {
            if (id !== 0) requests.set(id, op);
            cb.request(op, id, ctx, ...args);
          },
        });
        return handle;
      };
    } else {
      wrapped[key] = value;
    }
  }
  return { binding: wrapped as unknown as NativeBinding, real, requests, replies, handle: () => handle! };
}

/** A fresh folder with an empty `mnt` inside, removed after the test. */
export async function mountDir(): Promise<{ base: string; mnt: string }> {
  const base = await mkdtemp(join(tmpdir(), 'rmount-fuse-'));
  const mnt = join(base, 'mnt');
  await mkdir(mnt);
  return { base, mnt };
}

/**
 * Mounts `ops` for one test and registers the cleanup: unmount, then fusermount3 -uz as the
 * last resort, then the folder.
 */
export async function mountFor(t: TestContext, ops: FuseOperations, binding?: NativeBinding): Promise<{ mount: FuseMount; mnt: string; base: string }> {
  const { base, mnt } = await mountDir();
  let mount: FuseMount | undefined;
  t.after(async () => {
    await mount?.unmount().catch(() => {});
    if (await isMounted(mnt)) await execFileP('fusermount3', ['-uz', mnt]).catch(() => {});
    await rm(base, { recursive: true, force: true });
  });
  mount = await mountFuse(mnt, ops, { fsname: 'rmount:test', subtype: 'rmount-test' }, { binding });
  return { mount, mnt, base };
}
