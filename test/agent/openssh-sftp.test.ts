import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { requirePart, which } from '../helpers/skip.ts';
import { tempDir } from '../helpers/tmp.ts';
import { buildAgent, goSkipReason } from './agent-binary.ts';

const run = promisify(execFile);

function skipReason(): string | false {
  return goSkipReason() || requirePart(which('sftp') === undefined ? 'OpenSSH sftp client not installed (Debian package openssh-client)' : false);
}

// OpenSSH's sftp client as the outside peer: `sftp -D` runs the agent as its server over stdio.
test('OpenSSH sftp -D drives the agent: put, get, ls -l, rename, rm, mkdir, rmdir, symlink, chmod', { skip: skipReason(), timeout: 60_000 }, async t => {
  const agent = await buildAgent();
  const local = await tempDir(t, 'rmount-sftp-local-');
  const remote = await tempDir(t, 'rmount-sftp-remote-');
  await writeFile(join(local, 'src.txt'), 'hello agent\n');
  await mkdir(join(remote, 'gone'));
  await writeFile(join(remote, 'old.txt'), 'to be removed');
  const batch = [
    `lcd ${local}`,
    `cd ${remote}`,
    'put src.txt up.txt',
    'get up.txt down.txt',
    'rename up.txt moved.txt',
    'mkdir made',
    'rmdir gone',
    'rm old.txt',
    'symlink moved.txt link',
    'chmod 600 moved.txt',
    'ls -l',
  ].join('\n');
  await writeFile(join(local, 'batch'), `${batch}\n`);
  const { stdout } = await run('sftp', ['-D', `${agent} sftp`, '-b', join(local, 'batch')]);
  assert.equal(await readFile(join(local, 'down.txt'), 'utf8'), 'hello agent\n');
  assert.equal(await readFile(join(remote, 'moved.txt'), 'utf8'), 'hello agent\n');
  assert.equal((await stat(join(remote, 'moved.txt'))).mode & 0o777, 0o600);
  assert.equal(await readlink(join(remote, 'link')), 'moved.txt');
  assert.ok((await stat(join(remote, 'made'))).isDirectory());
  await assert.rejects(stat(join(remote, 'gone')), { code: 'ENOENT' });
  await assert.rejects(stat(join(remote, 'old.txt')), { code: 'ENOENT' });
  // `ls -l` prints the server's long names as they are.
  assert.match(stdout, /^-rw------- +1 \S+ +\S+ +12 .+ moved\.txt$/m);
  assert.match(stdout, /^drwx.+ made$/m);
  assert.match(stdout, /^lrwxrwxrwx .+ link$/m);
});

test('OpenSSH sftp -D sees an exact failure as a failure', { skip: skipReason(), timeout: 30_000 }, async t => {
  const agent = await buildAgent();
  const dir = await tempDir(t, 'rmount-sftp-remote-');
  await writeFile(join(dir, 'batch'), `cd ${dir}\nrmdir does-not-exist\n`);
  await assert.rejects(run('sftp', ['-D', `${agent} sftp`, '-b', join(dir, 'batch')]), (error: { stderr?: string }) =>
    /No such file/i.test(error.stderr ?? ''));
});
