/**
 * rmount-exec's own Go unit tests (framing, arguments, path mapping, output rewriting), go vet
 * and gofmt, so that `npm test` runs them; and the path-mapping parity with src/exec/path-map.ts:
 * the TypeScript functions compute the answers, the Go port must give the same.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { mapArguments, rewriteRemotePaths, toLocalPath, toRemotePath } from '../../src/exec/path-map.ts';
import { posix } from 'node:path';
import { tempDir } from '../helpers/tmp.ts';
import { CLIENT_SRC, goEnv, goSkipReason } from './client-binary.ts';

const run = promisify(execFile);
const skip = goSkipReason();

async function goTest(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await run('go', ['test', '-count=1', ...args, '.'], { cwd: CLIENT_SRC, env: { ...goEnv(), ...env }, timeout: 300_000 })
    .catch((error: { stdout?: string; stderr?: string }) => assert.fail(`go test failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`));
  return stdout;
}

test('go test in native/exec-client passes', { skip, timeout: 300_000 }, async () => {
  assert.match(await goTest([]), /^ok\s/m);
});

test('go vet and gofmt are clean in native/exec-client', { skip, timeout: 120_000 }, async () => {
  await run('go', ['vet', '.'], { cwd: CLIENT_SRC, env: goEnv() });
  const { stdout } = await run('gofmt', ['-l', '.'], { cwd: CLIENT_SRC });
  assert.equal(stdout.trim(), '', `files gofmt would change: ${stdout}`);
});

/** Mappings, paths, arguments and output lines, tame and odd. */
function parityCases(): unknown[] {
  const mappings = [
    { mountpoint: '/home/me/src', remotePath: '/srv/app' },
    { mountpoint: '/', remotePath: '/r' },
    { mountpoint: '/m', remotePath: '/' },
    { mountpoint: '/tmp/a b/mnt', remotePath: '/home/u/it\'s' },
    { mountpoint: '/x/mnt', remotePath: '/srv/a.b-c' },
    { mountpoint: '/x/mnt', remotePath: '/srv/ü' },
  ];
  const suffixes = ['', '/', '/a', '/a/', '/a/b.c', '/a/../..', '/a/../../b/', '/./a//b', 'x', 'x/y', '/..', '/a b/$(x)', '/\n'];
  const cases: unknown[] = [];
  for (const m of mappings) {
    const paths = [...suffixes.map(s => m.mountpoint + s), ...suffixes.map(s => m.remotePath + s), '/etc/hostname', 'rel/x', ''];
    const args = ['lib/a.c', '-', '--', '-I', ...paths.slice(0, 8), ...paths.slice(0, 6).flatMap(p => [`--file=${p}`, `-I${p}`, `-o=${p}`, `--a.b_c-d=${p}`, `--=${p}`, `-9${p}`, `-II${p}`]), `x\n${m.mountpoint}`, `--o=${m.mountpoint}/a\nb`];
    const texts = [
      ...paths.map(p => `${p}:12:5: error\n`),
      `${m.remotePath}/a.go:1 (${m.remotePath}) '${m.remotePath}' "${m.remotePath}/"`,
      `/x${m.remotePath}/a -${m.remotePath} _${m.remotePath} .${m.remotePath} ${m.remotePath}x ${m.remotePath}.c ${m.remotePath}-d ${m.remotePath}_e`,
      `${m.remotePath}${m.remotePath}/${m.remotePath}`,
      Buffer.from(`\u00e9 ${m.remotePath}/\u00fc:1\n`, 'utf8').toString('latin1'),
      `\u00ff${m.remotePath}\u00fe`,
    ];
    for (const [i, path] of paths.entries()) {
      cases.push({
        ...m, path,
        remote: toRemotePath(m, path) ?? null,
        local: toLocalPath(m, path) ?? null,
        args: i === 0 ? args : [path], mapped: mapArguments(m, i === 0 ? args : [path]),
        text: texts[i % texts.length], rewritten: rewriteRemotePaths(m, texts[i % texts.length]!),
        join: [m.remotePath, path], joined: posix.join(m.remotePath, path),
      });
    }
    for (const text of texts) cases.push({ ...m, path: m.mountpoint, remote: m.remotePath, local: toLocalPath(m, m.mountpoint) ?? null, args: [], mapped: [], text, rewritten: rewriteRemotePaths(m, text) });
  }
  return cases;
}

test('the Go path mapping, argument mapping and output rewriting match src/exec/path-map.ts', { skip, timeout: 300_000 }, async t => {
  const dir = await tempDir(t, 'rmount-parity-');
  const file = join(dir, 'cases.json');
  const cases = parityCases();
  await writeFile(file, JSON.stringify(cases));
  const out = await goTest(['-run', '^TestParity$', '-v'], { RMOUNT_PARITY_CASES: file });
  assert.match(out, new RegExp(`${cases.length} cases`), out);
  assert.match(out, /^ok\s/m);
});
