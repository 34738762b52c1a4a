import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { composeProjectName, formatDestination, parseDestination, type Destination } from '../../src/remote/destination.ts';

const GOOD: [string, Omit<Destination, 'raw'>][] = [
  ['host:', { type: 'ssh', host: 'host' }],
  ['devbox', { type: 'ssh', host: 'devbox' }],
  ['user@devbox', { type: 'ssh', user: 'user', host: 'devbox' }],
  ['build-1.example.com', { type: 'ssh', host: 'build-1.example.com' }],
  ['u@[::1]', { type: 'ssh', user: 'u', host: '::1' }],
  ['host:src', { type: 'ssh', host: 'host', path: '~/src' }],
  ['user@host:~/src', { type: 'ssh', user: 'user', host: 'host', path: '~/src' }],
  ['user@host:/srv/app/', { type: 'ssh', user: 'user', host: 'host', path: '/srv/app' }],
  ['user@[::1]:/x', { type: 'ssh', user: 'user', host: '::1', path: '/x' }],
  ['ssh://host', { type: 'ssh', host: 'host' }],
  ['ssh://u@example.com:2222/srv', { type: 'ssh', user: 'u', host: 'example.com', port: 2222, path: '/srv' }],
  ['ssh://[::1]:2222/x', { type: 'ssh', host: '::1', port: 2222, path: '/x' }],
  ['ssh://[fe80::1%eth0]/x', { type: 'ssh', host: 'fe80::1%eth0', path: '/x' }],
  ['ssh://u@[2001:db8::2]', { type: 'ssh', user: 'u', host: '2001:db8::2' }],
  ['ssh://host/~/x/y', { type: 'ssh', host: 'host', path: '~/x/y' }],
  ['ssh://host/~', { type: 'ssh', host: 'host', path: '~' }],
  ['ssh://host/', { type: 'ssh', host: 'host', path: '/' }],
  ['ssh://host/a%20b', { type: 'ssh', host: 'host', path: '/a b' }],
  ['docker://web', { type: 'docker', host: 'web' }],
  ['docker://web/srv/app', { type: 'docker', host: 'web', path: '/srv/app' }],
  ['docker://3f2a9c/~/x', { type: 'docker', host: '3f2a9c', path: '~/x' }],
  ['compose://app/web', { type: 'compose', host: 'app', service: 'web' }],
  ['compose://app/web/2', { type: 'compose', host: 'app', service: 'web', sequence: 2 }],
  ['compose://app/web/2/srv', { type: 'compose', host: 'app', service: 'web', sequence: 2, path: '/srv' }],
  ['compose://app/web/srv/2', { type: 'compose', host: 'app', service: 'web', path: '/srv/2' }],
  ['compose://./api', { type: 'compose', host: '.', service: 'api' }],
  ['local:/tmp/x', { type: 'local', host: 'localhost', path: '/tmp/x' }],
  ['local:/', { type: 'local', host: 'localhost', path: '/' }],
];

const BAD: [string, string][] = [
  ['', 'empty'],
  ['.', 'a local folder, not a host'],
  ['..', 'a local folder, not a host'],
  ['some/folder', 'a slash in a bare host'],
  ['user@', 'empty host in the bare form'],
  ['@devbox', 'empty user in the bare form'],
  ['ftp://host/x', 'unknown scheme'],
  ['ssh://', 'empty host'],
  ['ssh://u@:22/x', 'empty host'],
  ['ssh://host:0', 'port 0'],
  ['ssh://host:70000', 'port out of range'],
  ['ssh://host:abc', 'bad port'],
  ['ssh://[::1', 'unclosed bracket'],
  ['ssh://[::1]x', 'junk after bracket'],
  [':path', 'empty host in scp form'],
  ['docker://', 'empty container'],
  ['docker://-bad', 'bad container name'],
  ['compose://p', 'no service'],
  ['compose://p/', 'empty service'],
  ['compose:///web', 'empty project'],
  ['compose://p/web/0', 'replica 0'],
  ['local:', 'empty local path'],
];

describe('parseDestination', () => {
  for (const [text, want] of GOOD) {
    it(`parses ${JSON.stringify(text)}`, () => {
      assert.deepEqual(parseDestination(text), { ...want, raw: text });
    });
  }
  for (const [text, why] of BAD) {
    it(`rejects ${JSON.stringify(text)} (${why}) with a usage error naming the forms`, () => {
      assert.throws(() => parseDestination(text), (e: unknown) => {
        const err = e as { code?: string; suggestion?: string };
        assert.equal(err.code, 'ERR_USAGE');
        assert.match(err.suggestion ?? '', /ssh:\/\/.*docker:\/\/.*compose:\/\/.*local:/s);
        return true;
      });
    });
  }
  it('formats a parsed destination back to an equivalent string', () => {
    for (const [text] of GOOD) {
      const d = parseDestination(text);
      const again = parseDestination(formatDestination(d));
      assert.deepEqual({ ...again, raw: '' }, { ...d, raw: '' }, text);
    }
  });
  it('normalises folder names into Compose project names', () => {
    assert.equal(composeProjectName('My.App_1'), 'myapp_1');
    assert.equal(composeProjectName('-x-Y'), 'x-y');
  });
});
