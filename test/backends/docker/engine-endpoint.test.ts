import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contextId, resolveEngineEndpoint, type EngineLookup } from '../../../src/backends/docker/engine-endpoint.ts';

function lookup(env: Record<string, string>, files: Record<string, string> = {}): EngineLookup {
  return { env, home: '/home/u', readFile: p => files[p] };
}
const meta = (name: string, host: string, skip = false): [string, string] => [
  `/home/u/.docker/contexts/meta/${contextId(name)}/meta.json`,
  JSON.stringify({ Name: name, Endpoints: { docker: { Host: host, SkipTLSVerify: skip } } }),
];

describe('resolveEngineEndpoint', () => {
  const cases: [string, EngineLookup, object][] = [
    ['nothing set: the default socket', lookup({}), { kind: 'unix', socketPath: '/var/run/docker.sock' }],
    ['DOCKER_HOST unix', lookup({ DOCKER_HOST: 'unix:///run/d.sock' }), { kind: 'unix', socketPath: '/run/d.sock' }],
    ['DOCKER_HOST tcp without TLS: port 2375 by default', lookup({ DOCKER_HOST: 'tcp://10.0.0.1' }), { kind: 'tcp', host: '10.0.0.1', port: 2375 }],
    ['DOCKER_HOST tcp with DOCKER_TLS_VERIFY reads DOCKER_CERT_PATH', lookup({ DOCKER_HOST: 'tcp://h:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/c' }, { '/c/ca.pem': 'CA', '/c/cert.pem': 'CERT', '/c/key.pem': 'KEY' }),
      { kind: 'tcp', host: 'h', port: 2376, tls: { verify: true, ca: 'CA', cert: 'CERT', key: 'KEY' } }],
    ['DOCKER_TLS_VERIFY without a cert path uses ~/.docker', lookup({ DOCKER_HOST: 'tcp://h', DOCKER_TLS_VERIFY: '1' }, { '/home/u/.docker/ca.pem': 'CA' }), { kind: 'tcp', port: 2376, tls: { verify: true, ca: 'CA' } }],
    ['DOCKER_HOST ssh with user and port', lookup({ DOCKER_HOST: 'ssh://me@box:2222' }), { kind: 'ssh', host: 'box', port: 2222, user: 'me' }],
    ['DOCKER_HOST tcp IPv6', lookup({ DOCKER_HOST: 'tcp://[::1]:2375' }), { kind: 'tcp', host: '::1', port: 2375 }],
    ['DOCKER_HOST wins over DOCKER_CONTEXT', lookup({ DOCKER_HOST: 'unix:///a.sock', DOCKER_CONTEXT: 'remote' }, Object.fromEntries([meta('remote', 'tcp://r:1')])), { kind: 'unix', socketPath: '/a.sock' }],
    ['DOCKER_CONTEXT names a context in the store', lookup({ DOCKER_CONTEXT: 'remote' }, Object.fromEntries([meta('remote', 'ssh://r')])), { kind: 'ssh', host: 'r', port: 22, source: 'context "remote"' }],
    ['currentContext of config.json', lookup({}, Object.fromEntries([['/home/u/.docker/config.json', '{"currentContext":"lab"}'], meta('lab', 'unix:///lab.sock')])), { kind: 'unix', socketPath: '/lab.sock' }],
    ['DOCKER_CONFIG moves config.json and the store', lookup({ DOCKER_CONFIG: '/cfg' }, { '/cfg/config.json': '{"currentContext":"x"}', [`/cfg/contexts/meta/${contextId('x')}/meta.json`]: JSON.stringify({ Endpoints: { docker: { Host: 'tcp://x:9' } } }) }), { kind: 'tcp', host: 'x', port: 9 }],
    ['context "default" is the default socket', lookup({ DOCKER_CONTEXT: 'default' }), { kind: 'unix', socketPath: '/var/run/docker.sock' }],
    ['a context with TLS material uses it', lookup({ DOCKER_CONTEXT: 't' }, Object.fromEntries([meta('t', 'tcp://t:2376', true), [`/home/u/.docker/contexts/tls/${contextId('t')}/docker/ca.pem`, 'CA']])), { kind: 'tcp', tls: { verify: false, ca: 'CA' } }],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => {
      const got = resolveEngineEndpoint(input) as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(expected)) assert.deepEqual(got[k], v, `${k} of ${JSON.stringify(got)}`);
    });
  }
  it('a missing context fails ERR_USAGE', () => {
    assert.throws(() => resolveEngineEndpoint(lookup({ DOCKER_CONTEXT: 'nope' })), { code: 'ERR_USAGE' });
  });
  it('a bad DOCKER_HOST fails ERR_USAGE', () => {
    assert.throws(() => resolveEngineEndpoint(lookup({ DOCKER_HOST: 'ftp://x' })), { code: 'ERR_USAGE' });
    assert.throws(() => resolveEngineEndpoint(lookup({ DOCKER_HOST: 'tcp://h:99999' })), { code: 'ERR_USAGE' });
  });
  it('the context store id is the SHA-256 of the name', () => {
    assert.equal(contextId('default'), '37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f');
  });
});
