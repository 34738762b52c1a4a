import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDaemonArgv, renderDaemonArgv, type MountRequest } from '../../src/cli/daemon-argv.ts';

describe('the daemon command line', () => {
  it('parse of a rendered line gives the request back', () => {
    const requests: MountRequest[] = [
      { dest: 'local:/srv', mountpoint: '/mnt/a', o: [], connect: {} },
      {
        dest: 'ssh://me@h:2222/~/src', mountpoint: '/mnt/with space', o: ['cache_timeout=20,debug', 'agent=yes'],
        connect: { acceptNew: true, sshConfig: '/c', identity: '/k', knownHosts: '/kh', connectTimeout: '5s' },
      },
      // Values that look like flags stay values.
      { dest: '--', mountpoint: '/-o', o: ['--', '-o'], connect: { identity: '--accept-new' } },
    ];
    for (const request of requests) {
      const argv = renderDaemonArgv(request, 3);
      assert.deepEqual(argv.slice(0, 4), ['mount', '--foreground', '--ready-fd', '3']);
      assert.deepEqual(parseDaemonArgv(argv), { request, readyFd: 3 });
    }
  });
  it('parse of any other line gives undefined', () => {
    for (const argv of [
      [],
      ['mount', 'local:/srv', '/mnt'],
      ['mount', '-f', '--ready-fd', '3', '--', 'local:/srv', '/mnt'],
      ['mount', '--foreground', '--ready-fd', 'x', '--', 'local:/srv', '/mnt'],
      ['mount', '--foreground', '--ready-fd', '3', 'local:/srv', '/mnt'],
      ['mount', '--foreground', '--ready-fd', '3', '--debug', '--', 'local:/srv', '/mnt'],
      ['mount', '--foreground', '--ready-fd', '3', '-o'],
      ['mount', '--foreground', '--ready-fd', '3', '--', 'local:/srv'],
      ['mount', '--foreground', '--ready-fd', '3', '--', 'local:/srv', '/mnt', 'extra'],
    ]) assert.equal(parseDaemonArgv(argv), undefined, argv.join(' '));
  });
});
