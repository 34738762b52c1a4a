import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ATTR, FXP } from '../../src/sftp/constants.ts';
import { PacketFramer, PacketReader, PacketWriter, SftpProtocolError, type SftpAttrs } from '../../src/sftp/packet.ts';

function frames(chunks: Buffer[]): Buffer[] {
  const framer = new PacketFramer();
  const out: Buffer[] = [];
  for (const c of chunks) framer.push(c, p => out.push(Buffer.from(p)));
  return out;
}

describe('SFTP packet codec', () => {
  it('attrs round-trip through writer and reader', () => {
    const attrs: SftpAttrs = { size: 2 ** 40 + 5, uid: 1000, gid: 100, permissions: 0o100644, atime: 1, mtime: 4_000_000_000 };
    const packet = new PacketWriter(FXP.ATTRS, 8).u32(7).attrs(attrs).finish();
    const r = new PacketReader(packet, 5);
    assert.equal(r.u32(), 7);
    assert.deepEqual(r.attrs(), attrs);
    assert.equal(r.remaining, 0);
  });

  it('attrs flags name only the fields given', () => {
    const packet = new PacketWriter(FXP.SETSTAT).attrs({ permissions: 0o600 }).finish();
    assert.equal(packet.readUInt32BE(5), ATTR.PERMISSIONS);
  });

  it('writer fills in the length prefix', () => {
    const packet = new PacketWriter(FXP.INIT, 4).u32(3).finish();
    assert.deepEqual([...packet], [0, 0, 0, 5, FXP.INIT, 0, 0, 0, 3]);
  });

  it('strings are written as UTF-8 with a byte length', () => {
    const packet = new PacketWriter(FXP.STAT).string('é').finish();
    assert.deepEqual([...packet.subarray(5)], [0, 0, 0, 2, 0xc3, 0xa9]);
    assert.equal(new PacketReader(packet, 5).string(), 'é');
  });

  it('reader throws SftpProtocolError on a short packet', () => {
    assert.throws(() => new PacketReader(Buffer.from([0, 0, 0, 9, 1])).string(), SftpProtocolError);
  });

  it('framer joins a packet split across chunks', () => {
    const packet = new PacketWriter(FXP.STAT).u32(1).string('/some/path').finish();
    const chunks = [...packet].map(b => Buffer.from([b]));
    const out = frames(chunks);
    assert.equal(out.length, 1);
    assert.deepEqual(out[0], packet.subarray(4));
  });

  it('framer splits several packets out of one chunk', () => {
    const a = new PacketWriter(FXP.STAT).u32(1).string('/a').finish();
    const b = new PacketWriter(FXP.STAT).u32(2).string('/bb').finish();
    const out = frames([Buffer.concat([a, b, b.subarray(0, 3)])]);
    assert.deepEqual(out, [a.subarray(4), b.subarray(4)]);
  });

  it('framer keeps a partial packet until the rest arrives', () => {
    const a = new PacketWriter(FXP.STAT).u32(1).string('/abc').finish();
    const framer = new PacketFramer();
    const out: Buffer[] = [];
    framer.push(a.subarray(0, 6), p => out.push(p));
    assert.equal(out.length, 0);
    assert.equal(framer.buffered, 6);
    framer.push(a.subarray(6), p => out.push(p));
    assert.equal(out.length, 1);
    assert.equal(framer.buffered, 0);
  });

  it('framer rejects an absurd packet length', () => {
    assert.throws(() => frames([Buffer.from([0xff, 0xff, 0xff, 0xff, 1])]), SftpProtocolError);
  });
});
