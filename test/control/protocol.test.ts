import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHANNEL, FrameDecoder, LineDecoder, MAX_FRAME, encodeControl, encodeFrame, parseEnvelope, renderEnvelope } from '../../src/control/protocol.ts';

describe('control protocol', () => {
  it('a frame split at every byte decodes to the same frames', () => {
    const wire = Buffer.concat([encodeFrame(CHANNEL.stdout, Buffer.from([0, 1, 2, 255])), encodeFrame(CHANNEL.stdin, Buffer.alloc(0)), encodeControl({ exit: { code: 3, signal: null } })]);
    const decoder = new FrameDecoder();
    const frames = [...wire].flatMap(b => decoder.push(Buffer.from([b])));
    assert.deepEqual(frames.map(f => [f.channel, [...f.payload]]), [
      [CHANNEL.stdout, [0, 1, 2, 255]],
      [CHANNEL.stdin, []],
      [CHANNEL.control, [...Buffer.from('{"exit":{"code":3,"signal":null}}')]],
    ]);
  });

  it('a frame on an unknown channel throws', () => {
    assert.throws(() => new FrameDecoder().push(Buffer.from([9, 0, 0, 0, 0])), RangeError);
  });

  it('a frame longer than MAX_FRAME throws before it is buffered', () => {
    const header = Buffer.alloc(5);
    header.writeUInt32BE(MAX_FRAME + 1, 1);
    assert.throws(() => new FrameDecoder().push(header), RangeError);
  });

  it('the line decoder hands over the bytes after a line untouched', () => {
    const lines = new LineDecoder();
    lines.append(Buffer.concat([Buffer.from(renderEnvelope('exec', { argv: ['x'] })), encodeFrame(CHANNEL.stdin, Buffer.from('\n\n'))]));
    assert.deepEqual(parseEnvelope(lines.next()!), { type: 'exec', payload: { argv: ['x'] } });
    assert.deepEqual(new FrameDecoder().push(lines.takeRest()).map(f => f.payload.toString()), ['\n\n']);
  });

  it('an envelope without a string type is refused', () => {
    assert.throws(() => parseEnvelope('{"payload":1}'), TypeError);
    assert.throws(() => parseEnvelope('nope'), SyntaxError);
  });
});
