import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh temporary folder removed after the test (or suite) that made it. */
export async function tempDir(t: Pick<TestContext, 'after'> | { after(fn: () => Promise<void>): void }, prefix = 'rmount-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => removeTree(dir));
  return dir;
}

/**
 * Removes `dir` and what is in it. A remote agent session that outlives its mount (a durable
 * keeper finishing a put after a cut) may still make or remove a file there for a moment, which
 * makes one pass fail with ENOTEMPTY: so it tries again, and names what was left if it gives up.
 */
export async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  } catch (error) {
    const left = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
    throw new Error(`could not remove ${dir} (left: ${left.slice(0, 20).join(', ')}): ${(error as Error).message}`, { cause: error });
  }
}
