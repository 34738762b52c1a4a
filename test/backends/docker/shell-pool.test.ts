/**
 * The shell pool's quoting and framing against local shells (dash or whatever `sh` is, and
 * busybox ash when installed): the same request text the container's shell gets.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { LocalBackend } from '../../../src/backends/local/backend.ts';
import { printfFormat, ShellPool } from '../../../src/backends/docker/shell-pool.ts';
import { SCRIPTS } from '../../../src/backends/docker/shell-scripts.ts';
import { errnoFromStderr } from '../../../src/backends/docker/tool-output.ts';
import { parseDestination } from '../../../src/remote/destination.ts';
import type { Session } from '../../../src/remote/session.ts';
import { requirePart, which } from '../../helpers/skip.ts';
import { tempDir } from '../../helpers/tmp.ts';

const SHELLS: [string, string[], string | false][] = [
  ['sh', ['sh'], false],
  ['busybox sh', ['busybox', 'sh'], which('busybox') ? false : requirePart('busybox not installed (Debian package busybox-static)')],
];

/** Prints each positional parameter followed by NUL, then their count on stderr. */
const ECHO_ARGS = `for a; do printf '%s\\0' "$a"; done; printf '%s' "$#" >&2`;

for (const [label, argv, skip] of SHELLS) {
  describe(`ShellPool over ${label}`, { skip }, () => {
    const backend = new LocalBackend(parseDestination('local:/'));
    /** A pool whose shells are recorded, closed at the end of the test. */
    function pool(t: { after(fn: () => Promise<void>): void }, size?: number, deadlineMs?: number): { pool: ShellPool; sessions: Session[] } {
      const sessions: Session[] = [];
      const p = new ShellPool(async () => {
        const s = await backend.exec(argv);
        sessions.push(s);
        return s;
      }, size, deadlineMs);
      t.after(() => p.close());
      return { pool: p, sessions };
    }

    it('run passes arguments with newlines, quotes, globs, empty ones and non-UTF-8 bytes unchanged', async t => {
      const { pool: p } = pool(t);
      const args: (string | Buffer)[] = ['plain', '', 'two\nlines', `it's "quoted" \\ $(touch x) \`y\` *`, ' lead', '-n', "'", "''\n'",
        Buffer.from([0xff, 0xfe, 0x80, 0x27, 0x0a, 0x41]), 'ünïcödé'];
      const r = await p.run(ECHO_ARGS, args);
      assert.equal(r.code, 0);
      const want = Buffer.concat(args.flatMap(a => [Buffer.from(a), Buffer.from([0])]));
      assert.deepEqual(r.stdout, want);
      assert.equal(r.stderr, String(args.length));
    });

    it('run brings back binary stdout exactly, every byte value included', async t => {
      const { pool: p } = pool(t);
      const data = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(70_000)]);
      const r = await p.run('printf "$1" ""', [printfFormat(data)]);
      assert.equal(r.code, 0);
      assert.ok(r.stdout.equals(data));
    });

    it('output that looks like the framing does not end an answer early', async t => {
      const { pool: p } = pool(t);
      const fake = `+\n=0\nrmount-${'0'.repeat(24)} 0\nrmount-${'0'.repeat(24)}\n`;
      const r = await p.run(`printf '%s' "$1"; printf '%s' "$1" >&2; exit 4`, [fake]);
      assert.deepEqual([r.code, r.stdout.toString(), r.stderr], [4, fake, fake]);
      const next = await p.run('echo next', []);
      assert.deepEqual([next.code, next.stdout.toString(), next.stderr], [0, 'next\n', '']);
    });

    it('a script keeps its exit code and errno line, and reads end-of-file on stdin', async t => {
      const { pool: p } = pool(t);
      const dir = await tempDir(t);
      const r = await p.run(SCRIPTS.unlink, [dir]);
      assert.equal(r.code, 3);
      assert.equal(errnoFromStderr(r.stderr), 'EISDIR');
      const cat = await p.run('cat; echo done', []);
      assert.deepEqual([cat.code, cat.stdout.toString()], [0, 'done\n']);
      const none = await p.run('', []);
      assert.equal(none.code, 0);
    });

    it('concurrent runs each get their own answer from a pool of two shells', async t => {
      const { pool: p, sessions } = pool(t, 2);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => p.run('sleep 0.0$2; printf "%s" "$1"', [`answer ${i}`, String(i % 3)])));
      results.forEach((r, i) => assert.equal(r.stdout.toString(), `answer ${i}`));
      assert.equal(sessions.length, 2);
    });

    it('a shell that dies under its command answers code null, and the next run starts a new shell', async t => {
      const { pool: p, sessions } = pool(t, 1);
      assert.equal((await p.run('echo one', [])).code, 0);
      const r = await p.run('printf partial; kill -9 $$; sleep 1', []);
      assert.equal(r.code, null);
      const after = await p.run('echo two', []);
      assert.deepEqual([after.code, after.stdout.toString()], [0, 'two\n']);
      assert.equal(sessions.length, 2);
    });

    it('a shell that died while idle is replaced without failing the run', async t => {
      const { pool: p, sessions } = pool(t, 1);
      assert.equal((await p.run('echo one', [])).code, 0);
      sessions[0]!.close();
      await sessions[0]!.wait();
      const r = await p.run('echo two', []);
      assert.deepEqual([r.code, r.stdout.toString()], [0, 'two\n']);
    });

    it('a command past its deadline cuts its shell and answers code null; the pool goes on with a new shell', async t => {
      const { pool: p, sessions } = pool(t, 1, 500);
      const stuck = await p.run('sleep 30', []);
      assert.equal(stuck.code, null);
      const next = await p.run('printf ok', []);
      assert.equal(next.code, 0);
      assert.equal(next.stdout.toString(), 'ok');
      assert.equal(sessions.length, 2, 'the stuck shell was replaced');
    });

    it('close ends every shell through end-of-file on its stdin', async t => {
      const { pool: p, sessions } = pool(t, 2);
      await Promise.all([p.run('true', []), p.run('true', [])]);
      assert.equal(sessions.length, 2);
      await p.close();
      const ends = await Promise.all(sessions.map(s => s.wait()));
      for (const e of ends) assert.deepEqual(e, { code: 0, signal: null });
      await assert.rejects(p.run('true', []));
    });
  });
}
