import assert from 'node:assert/strict';
import { fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FdWriter } from '../../src/cli/fd-writer.ts';
import { LAUNCHER_ENV, LauncherLink } from '../../src/cli/launcher.ts';
import { detachInPlace, type DetachCalls } from '../../src/system/detach.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('LauncherLink', () => {
  it('takes the descriptor named in the environment, leaves it out of the environment, and says where it logs and how it ended', async t => {
    const file = join(await tempDir(t), 'said');
    const fd = openSync(file, 'w');
    const env: NodeJS.ProcessEnv = { [LAUNCHER_ENV]: String(fd), OTHER: 'x' };
    const link = LauncherLink.take(env);
    assert.ok(link !== undefined);
    assert.deepEqual(env, { OTHER: 'x' });
    // Opened again closed-on-exec: the descriptor the shell handed over is closed.
    assert.throws(() => fstatSync(fd), { code: 'EBADF' });
    link.log('/run/x.log');
    link.exit(2);
    link.log('/after/the/end');
    assert.equal(readFileSync(file, 'utf8'), 'log /run/x.log\nexit 2\n');
  });

  it('is absent when the environment names no usable descriptor', () => {
    assert.equal(LauncherLink.take({}), undefined);
    for (const text of ['', 'x', '2', '-1', '3.5']) assert.equal(LauncherLink.take({ [LAUNCHER_ENV]: text }), undefined, text);
  });
});

describe('FdWriter', () => {
  it('closes its descriptor and drops later writes once a write fails, as when the reader went away', () => {
    // A read-only descriptor fails writes as a pipe whose reader is gone does.
    const out = new FdWriter(openSync('/dev/null', 'r'));
    assert.equal(out.write('x'), false);
    assert.equal(out.fd, undefined);
    assert.equal(out.write('y'), false);
    out.close();
  });
});

describe('detachInPlace', () => {
  function recording(failSetsid = false): { calls: DetachCalls; made: string[] } {
    const made: string[] = [];
    return {
      made,
      calls: {
        setsid: () => {
          made.push('setsid');
          if (failSetsid) throw Object.assign(new Error('EPERM'), { code: 'EPERM' });
          return 1;
        },
        dupCloexec: fd => {
          made.push(`dupCloexec ${fd}`);
          return 42;
        },
        dup2: (from, to) => {
          made.push(`dup2 ${from === 7 ? 'log' : 'null'} ${to}`);
        },
      },
    };
  }

  it('takes a session first, keeps the terminal, then puts /dev/null on stdin and the log on stdout and stderr', () => {
    const { calls, made } = recording();
    assert.equal(detachInPlace(calls, 7), 42);
    assert.deepEqual(made, ['setsid', 'dupCloexec 2', 'dup2 null 0', 'dup2 log 1', 'dup2 log 2']);
  });

  it('changes nothing when no session can be had', () => {
    const { calls, made } = recording(true);
    assert.throws(() => detachInPlace(calls, 7), { code: 'EPERM' });
    assert.deepEqual(made, ['setsid']);
  });
});
