import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requirePart, which } from '../helpers/skip.ts';
import { tempDir } from '../helpers/tmp.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'hiding /dev/fuse needs root (a private mount namespace)';
  if (which('unshare') === undefined) return 'unshare (util-linux) not installed';
  return false;
}

/** Runs the CLI in a private mount namespace whose /dev is an empty tmpfs. */
function runWithoutDev(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const cli = [process.execPath, '--import', 'tsx', join(ROOT, 'src/cli/run.ts'), ...args].map(a => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('unshare', ['--mount', 'sh', '-c', `mount -t tmpfs none /dev && exec ${cli}`], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('error', reject);
    child.on('close', code => resolve({ code, stderr }));
  });
}

describe('mount without /dev/fuse', { skip: requirePart(skipReason()) }, () => {
  for (const mode of [[], ['-f']]) {
    it(`mount ${mode.join(' ') || '(background)'} fails with ERR_UNSUPPORTED and points at rmount doctor`, async t => {
      const dir = await tempDir(t);
      await mkdir(join(dir, 'ws'));
      await mkdir(join(dir, 'mp'));
      const r = await runWithoutDev(['mount', ...mode, `local:${join(dir, 'ws')}`, join(dir, 'mp')]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /\[ERR_UNSUPPORTED\]/);
      assert.match(r.stderr, /rmount doctor/);
    });
  }
});
