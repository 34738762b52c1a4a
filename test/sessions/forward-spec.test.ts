import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointAddress, parseForwardSpec } from '../../src/sessions/forward-spec.ts';

describe('forward specs', () => {
  it('reads ssh -L forms, binds defaulting to 127.0.0.1', () => {
    assert.deepEqual(parseForwardSpec('8080:localhost:80', 'local'), {
      direction: 'local', text: '8080:localhost:80',
      listen: { kind: 'tcp', host: '127.0.0.1', port: 8080 }, target: { kind: 'tcp', host: 'localhost', port: 80 },
    });
    assert.deepEqual(parseForwardSpec('0.0.0.0:8080:db:5432', 'local').listen, { kind: 'tcp', host: '0.0.0.0', port: 8080 });
    assert.deepEqual(parseForwardSpec('*:8080:db:5432', 'local').listen, { kind: 'tcp', host: '0.0.0.0', port: 8080 });
    assert.deepEqual(parseForwardSpec('[::1]:8080:[fe80::1]:80', 'local'), {
      direction: 'local', text: '[::1]:8080:[fe80::1]:80',
      listen: { kind: 'tcp', host: '::1', port: 8080 }, target: { kind: 'tcp', host: 'fe80::1', port: 80 },
    });
  });

  it('takes socket paths on either side', () => {
    const both = parseForwardSpec('./db.sock:/run/postgresql/.s.PGSQL.5432', 'local');
    assert.deepEqual(both.listen, { kind: 'unix', path: './db.sock' });
    assert.deepEqual(both.target, { kind: 'unix', path: '/run/postgresql/.s.PGSQL.5432' });
    assert.deepEqual(parseForwardSpec('5432:/run/pg.sock', 'local').target, { kind: 'unix', path: '/run/pg.sock' });
    assert.deepEqual(parseForwardSpec('/tmp/in.sock:127.0.0.1:9', 'remote').listen, { kind: 'unix', path: '/tmp/in.sock' });
  });

  it('refuses bad specs with the accepted forms', () => {
    for (const bad of ['', '8080', '8080:host', 'a:b:c:d', '99999:h:1', '1:h:0', '1::2', 'x y:1:h:2']) {
      assert.throws(() => parseForwardSpec(bad, 'local'), (e: { code?: string; suggestion?: string }) => e.code === 'ERR_USAGE' && /forms|port|name/.test(e.suggestion ?? ''), bad);
    }
  });

  it('renders addresses for the host', () => {
    assert.equal(endpointAddress({ kind: 'tcp', host: '::1', port: 80 }), '[::1]:80');
    assert.equal(endpointAddress({ kind: 'tcp', host: '127.0.0.1', port: 80 }), '127.0.0.1:80');
    assert.equal(endpointAddress({ kind: 'unix', path: '/x.sock' }), '/x.sock');
  });
});
