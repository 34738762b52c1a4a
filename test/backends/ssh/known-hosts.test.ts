import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  entryMatchesName, fingerprintSha256, hashKnownHostName, keyTypeOf, knownHostName, knownKeyTypes, parseKnownHosts,
  readKnownHosts, recordHostKey, renderKnownHostLine, verifyHostKey,
} from '../../../src/backends/ssh/known-hosts.ts';
import { requirePart, which } from '../../helpers/skip.ts';
import { tempDir } from '../../helpers/tmp.ts';

const run = promisify(execFile);

/** A syntactically valid public key blob: string(type) string(body). */
function blob(type: string, seed: number): Buffer {
  const t = Buffer.from(type);
  const body = Buffer.alloc(32, seed);
  const out = Buffer.alloc(8 + t.length + body.length);
  out.writeUInt32BE(t.length, 0);
  t.copy(out, 4);
  out.writeUInt32BE(body.length, 4 + t.length);
  body.copy(out, 8 + t.length);
  return out;
}
const ED_A = blob('ssh-ed25519', 1);
const ED_B = blob('ssh-ed25519', 2);
const RSA_A = blob('ssh-rsa', 3);
const b64 = (b: Buffer): string => b.toString('base64');

describe('known_hosts names and patterns', () => {
  it('knownHostName uses [host]:port off port 22', () => {
    assert.equal(knownHostName('Example.com', 22), 'example.com');
    assert.equal(knownHostName('127.0.0.1', 2222), '[127.0.0.1]:2222');
  });

  const table: [string, string, boolean][] = [
    ['example.com', 'example.com', true],
    ['a.example.com,b.example.com', 'b.example.com', true],
    ['a.example.com,b.example.com', 'c.example.com', false],
    ['[127.0.0.1]:2222', '[127.0.0.1]:2222', true],
    ['[127.0.0.1]:2222', '127.0.0.1', false],
    ['127.0.0.1', '[127.0.0.1]:2222', false],
    ['*.example.com', 'db.example.com', true],
    ['*.example.com,!secret.example.com', 'secret.example.com', false],
    ['host?', 'host1', true],
    ['[*.lan]:2200', '[box.lan]:2200', true],
    ['EXAMPLE.com', 'example.com', true],
  ];
  for (const [patterns, name, expected] of table) {
    it(`"${patterns}" ${expected ? 'matches' : 'does not match'} ${name}`, () => {
      assert.equal(entryMatchesName({ patterns }, name), expected);
    });
  }

  it('hashed entries match by HMAC-SHA1 of the name, ported names included', () => {
    const salt = randomBytes(20);
    assert.equal(entryMatchesName({ patterns: hashKnownHostName('[127.0.0.1]:2222', salt) }, '[127.0.0.1]:2222'), true);
    assert.equal(entryMatchesName({ patterns: hashKnownHostName('[127.0.0.1]:2222', salt) }, '[127.0.0.1]:2223'), false);
  });

  it('hashed entries written by ssh-keygen -H match', { skip: requirePart(which('ssh-keygen') ? false : 'ssh-keygen not installed') }, async t => {
    const dir = await tempDir(t);
    const file = join(dir, 'known_hosts');
    await writeFile(file, `[10.1.2.3]:2200 ssh-ed25519 ${b64(ED_A)}\nplain.example ssh-ed25519 ${b64(ED_B)}\n`);
    await run('ssh-keygen', ['-H', '-f', file]);
    const entries = parseKnownHosts(await readFile(file, 'utf8'));
    assert.ok(entries.every(e => e.patterns.startsWith('|1|')));
    assert.equal(verifyHostKey(entries, '10.1.2.3', 2200, ED_A).status, 'ok');
    assert.equal(verifyHostKey(entries, 'plain.example', 22, ED_B).status, 'ok');
    assert.equal(verifyHostKey(entries, 'plain.example', 2200, ED_B).status, 'unknown');
  });
});

describe('known_hosts parsing', () => {
  it('skips comments, blank and malformed lines, keeps markers', () => {
    const entries = parseKnownHosts([
      '# comment',
      '',
      `host1 ssh-ed25519 ${b64(ED_A)} a comment`,
      'broken-line-without-key',
      `@revoked * ssh-ed25519 ${b64(ED_B)}`,
      `@cert-authority *.example.com ssh-rsa ${b64(RSA_A)}`,
      `@unknown-marker host ssh-ed25519 ${b64(ED_A)}`,
    ].join('\n'), 'kh');
    assert.deepEqual(entries.map(e => [e.marker, e.patterns, e.keyType, e.source]), [
      [undefined, 'host1', 'ssh-ed25519', 'kh:3'],
      ['revoked', '*', 'ssh-ed25519', 'kh:5'],
      ['cert-authority', '*.example.com', 'ssh-rsa', 'kh:6'],
    ]);
    assert.deepEqual(entries[0]!.key, ED_A);
  });

  it('keyTypeOf reads the type from the blob', () => {
    assert.equal(keyTypeOf(ED_A), 'ssh-ed25519');
    assert.equal(keyTypeOf(RSA_A), 'ssh-rsa');
    assert.equal(keyTypeOf(Buffer.from([0, 0])), '');
  });

  it('readKnownHosts treats missing files as empty', async t => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'a'), `h ssh-ed25519 ${b64(ED_A)}\n`);
    const entries = await readKnownHosts([join(dir, 'missing'), join(dir, 'a')]);
    assert.equal(entries.length, 1);
  });
});

describe('verifyHostKey', () => {
  const text = [
    `host1,host1.alias ssh-ed25519 ${b64(ED_A)}`,
    `host1 ssh-rsa ${b64(RSA_A)}`,
    `[host1]:2200 ssh-ed25519 ${b64(ED_B)}`,
    `multi ssh-ed25519 ${b64(ED_A)}`,
    `multi ssh-ed25519 ${b64(ED_B)}`,
    `@revoked badhost ssh-ed25519 ${b64(ED_B)}`,
    `badhost ssh-ed25519 ${b64(ED_B)}`,
    `@cert-authority * ssh-ed25519 ${b64(ED_B)}`,
    `rsaonly ssh-rsa ${b64(RSA_A)}`,
  ].join('\n');
  const entries = parseKnownHosts(text);
  const table: [string, string, number, Buffer, string][] = [
    ['a listed key is ok', 'host1', 22, ED_A, 'ok'],
    ['an alias in the comma list is ok', 'host1.alias', 22, ED_A, 'ok'],
    ['the second key type of a host is ok', 'host1', 22, RSA_A, 'ok'],
    ['a different key of a known type has changed', 'host1', 22, ED_B, 'changed'],
    ['the ported entry is separate from port 22', 'host1', 2200, ED_B, 'ok'],
    ['the port 22 key does not vouch for another port', 'host1', 2200, ED_A, 'changed'],
    ['any of several keys of one type is ok (first)', 'multi', 22, ED_A, 'ok'],
    ['any of several keys of one type is ok (second)', 'multi', 22, ED_B, 'ok'],
    ['a revoked key is refused even when also listed', 'badhost', 22, ED_B, 'revoked'],
    ['an unlisted host is unknown (cert-authority lines are not keys)', 'nowhere', 22, ED_B, 'unknown'],
    ['a key of a type the host lacks is unknown', 'rsaonly', 22, ED_A, 'unknown'],
  ];
  for (const [name, host, port, key, status] of table) {
    it(name, () => assert.equal(verifyHostKey(entries, host, port, key).status, status));
  }

  it('unknown reports the key types that are known for the host', () => {
    assert.deepEqual(verifyHostKey(entries, 'rsaonly', 22, ED_A), { status: 'unknown', knownTypes: ['ssh-rsa'] });
    assert.deepEqual(knownKeyTypes(entries, 'host1', 22), ['ssh-ed25519', 'ssh-rsa']);
  });
});

describe('host key fingerprints and recording', () => {
  it('fingerprintSha256 equals ssh-keygen -l', { skip: requirePart(which('ssh-keygen') ? false : 'ssh-keygen not installed') }, async t => {
    const dir = await tempDir(t);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
    const [, base64] = (await readFile(join(dir, 'k.pub'), 'utf8')).split(' ');
    const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'k.pub')]);
    assert.equal(fingerprintSha256(Buffer.from(base64!, 'base64')), stdout.split(' ')[1]);
  });

  it('renderKnownHostLine brackets non-22 ports', () => {
    assert.equal(renderKnownHostLine('127.0.0.1', 2222, ED_A), `[127.0.0.1]:2222 ssh-ed25519 ${b64(ED_A)}`);
    assert.equal(renderKnownHostLine('Example.com', 22, ED_A), `example.com ssh-ed25519 ${b64(ED_A)}`);
  });

  it('recordHostKey creates the file and folder and appends on a fresh line', async t => {
    const dir = await tempDir(t);
    const file = join(dir, 'sub', 'known_hosts');
    await recordHostKey(file, 'h', 22, ED_A);
    await writeFile(file, `${await readFile(file, 'utf8')}# no newline at end`);
    await recordHostKey(file, 'h', 2200, ED_B);
    const entries = parseKnownHosts(await readFile(file, 'utf8'));
    assert.equal(verifyHostKey(entries, 'h', 22, ED_A).status, 'ok');
    assert.equal(verifyHostKey(entries, 'h', 2200, ED_B).status, 'ok');
  });
});
