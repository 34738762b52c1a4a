import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DetachMatcher, attachExitCode, lastLines, parseDetachKeys } from '../../src/cli/session-attach.ts';
import { formatSessions, parseBuffer, stateText } from '../../src/cli/commands/session.ts';

describe('session attach: detach keys', () => {
  it('parses docker\'s spellings and refuses others with a suggestion', () => {
    assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [16, 17]);
    assert.deepEqual([...parseDetachKeys('ctrl-a,d')], [1, 100]);
    assert.deepEqual([...parseDetachKeys('ctrl-@,ctrl-_')], [0, 31]);
    assert.throws(() => parseDetachKeys('ctrl-1'), { code: 'ERR_USAGE' });
    assert.throws(() => parseDetachKeys('alt-x'), { code: 'ERR_USAGE' });
  });

  it('holds back a possible start of the sequence and passes it on when it was not', () => {
    const m = new DetachMatcher(Buffer.from([16, 17]));
    assert.deepEqual(m.push(Buffer.from('ab')), { pass: Buffer.from('ab'), detach: false });
    assert.deepEqual(m.push(Buffer.from([16])), { pass: Buffer.alloc(0), detach: false });
    assert.deepEqual(m.push(Buffer.from('x')), { pass: Buffer.from([16, 120]), detach: false });
    assert.deepEqual(m.push(Buffer.from([16, 16])), { pass: Buffer.from([16]), detach: false });
    assert.deepEqual(m.push(Buffer.from([17, 99])), { pass: Buffer.alloc(0), detach: true });
  });

  it('exit codes: the session\'s, 128+N for a signal, 0 when detached', () => {
    assert.equal(attachExitCode({ kind: 'exit', code: 7 }), 7);
    assert.equal(attachExitCode({ kind: 'signal', signal: 'KILL' }), 137);
    assert.equal(attachExitCode({ kind: 'signal', signal: 'SIGTERM' }), 143);
    assert.equal(attachExitCode({ kind: 'closed' }), 0);
  });
});

describe('session logs and ls formatting', () => {
  it('lastLines counts a final line without a newline', () => {
    assert.equal(lastLines(Buffer.from('a\nb\nc\n'), 2).toString(), 'b\nc\n');
    assert.equal(lastLines(Buffer.from('a\nb\nc'), 2).toString(), 'b\nc');
    assert.equal(lastLines(Buffer.from('a\nb\n'), 5).toString(), 'a\nb\n');
    assert.equal(lastLines(Buffer.from('a\nb\n'), 0).toString(), '');
  });

  it('--buffer takes bytes with k and M and refuses nonsense', () => {
    assert.equal(parseBuffer('1000000'), 1_000_000);
    assert.equal(parseBuffer('500k'), 500_000);
    assert.equal(parseBuffer('16M'), 16_000_000);
    assert.throws(() => parseBuffer('lots'), { code: 'ERR_USAGE' });
    assert.throws(() => parseBuffer('0'), { code: 'ERR_USAGE' });
  });

  it('shows state as running, exited N, killed SIG', () => {
    const base = { id: 'abcdefabcdef', name: 'abcdefabcdef', argv: ['sleep', '1'], cwd: '/w', created: '2026-12-04T00:00:00Z', pid: 1, tty: false, clients: 0, buffered: 2048, total: 2048 };
    assert.equal(stateText({ ...base, state: 'exited', exitCode: 3 }), 'exited 3');
    assert.equal(stateText({ ...base, state: 'killed', signal: 'TERM' }), 'killed TERM');
    const table = formatSessions([{ ...base, state: 'running' }, { ...base, id: '123456123456', name: 'web', state: 'exited', exitCode: 0 }]);
    const lines = table.split('\n');
    assert.match(lines[0]!, /^ID\s+NAME\s+STATE\s+CLIENTS\s+BUFFERED\s+CREATED\s+FOLDER\s+COMMAND$/);
    assert.match(lines[1]!, /^abcdefabcdef\s+-\s+running\s+0\s+2\.0 KiB/);
    assert.match(lines[2]!, /^123456123456\s+web\s+exited 0/);
  });
});
