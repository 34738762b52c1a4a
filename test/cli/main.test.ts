import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commandFor } from '../../src/cli/main.ts';
import { runCli } from '../helpers/cli.ts';

describe('the command a run loads', () => {
  it('is the one named first, after global options', () => {
    assert.deepEqual(commandFor(['mount', 'a', 'b'])?.names, ['mount']);
    assert.deepEqual(commandFor(['--debug', 'umount', '/m'])?.names, ['unmount', 'umount']);
    assert.deepEqual(commandFor(['exec', '--', 'ls'])?.names, ['exec']);
  });
  it('is none (so all are declared) for help, version and unknown names', () => {
    for (const argv of [[], ['--help'], ['-h'], ['-V'], ['help', 'mount'], ['frobnicate'], ['--debug']]) {
      assert.equal(commandFor(argv), undefined, argv.join(' '));
    }
  });
});

describe('help', () => {
  it('lists every command, though a run loads only its own', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0, r.stderr);
    const listed = [...r.stdout.toString().matchAll(/^ {2}([a-z]+)(?:\|[a-z]+)? /gm)].map(m => m[1]);
    for (const name of ['mount', 'unmount', 'status', 'sync', 'platform', 'exec', 'session', 'forward', 'ls', 'stubs', 'cache', 'agent', 'doctor', 'help']) {
      assert.ok(listed.includes(name), `${name} in ${listed.join(' ')}`);
    }
  });
  it('of mount lists its options and the mount options', async () => {
    const r = await runCli(['mount', '--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const flag of ['-o <options>', '--foreground', '--accept-new', '--ssh-config', '--identity', '--known-hosts', '--connect-timeout', 'cache_timeout']) {
      assert.ok(r.stdout.toString().includes(flag), flag);
    }
  });
});
