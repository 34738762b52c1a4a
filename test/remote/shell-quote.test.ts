import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { quoteArgv, renderCommand } from '../../src/remote/shell-quote.ts';

const HOSTILE = ['plain', 'a b', "it's", '"dq"', '$(touch /tmp/rmount-pwned)', '`id`', '*', 'new\nline', '', '-n', '\\', '$HOME', ';rm -rf x;', 'ünï'];

describe('shell quoting', () => {
  it('quoteArgv passes hostile arguments through sh unchanged', () => {
    const out = execFileSync('sh', ['-c', `printf '%s\\0' ${quoteArgv(HOSTILE)}`]);
    assert.deepEqual(out.toString('utf8').split('\0').slice(0, -1), HOSTILE);
  });
  it('renderCommand runs in the folder with the environment given', () => {
    const line = renderCommand(['sh', '-c', 'printf "%s|%s" "$PWD" "$X"'], { cwd: '/tmp', env: { X: 'a b $(c)' } });
    assert.equal(execFileSync('sh', ['-c', line]).toString(), '/tmp|a b $(c)');
  });
  it('renderCommand expands a home-relative cwd', () => {
    const line = renderCommand(['pwd'], { cwd: '~' });
    assert.equal(execFileSync('sh', ['-c', line], { env: { ...process.env, HOME: '/tmp' } }).toString().trim(), '/tmp');
  });
  it('renderCommand refuses an invalid environment name', () => {
    assert.throws(() => renderCommand(['true'], { env: { 'A B': 'x' } }), TypeError);
  });
});
