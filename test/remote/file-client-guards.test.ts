import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canBatch, canCopyData, canFlush, canWatch, reportsClose, reportsLink, type FileClient, type FileHandle } from '../../src/remote/file-client.ts';
import { MemoryFileClient } from '../helpers/memory-file-client.ts';

describe('FileClient power guards', () => {
  const noop = async (): Promise<void> => {};
  it('canWatch needs the capability and the method', () => {
    const bitOnly = new MemoryFileClient({ capabilities: { watch: true } });
    assert.equal(canWatch(bitOnly), false);
    const both: FileClient = Object.assign(new MemoryFileClient({ capabilities: { watch: true } }), { watch: async () => ({ live: () => true, barrier: async () => false, close: noop }) });
    assert.equal(canWatch(both), true);
    const methodOnly: FileClient = Object.assign(new MemoryFileClient({ capabilities: { watch: false } }), { watch: async () => ({ live: () => true, barrier: async () => false, close: noop }) });
    assert.equal(canWatch(methodOnly), false);
  });
  it('canCopyData needs the capability and the method', () => {
    assert.equal(canCopyData(new MemoryFileClient({ capabilities: { copyData: true } })), false);
    assert.equal(canCopyData(Object.assign(new MemoryFileClient({ capabilities: { copyData: true } }), { copyData: noop })), true);
  });
  it('canBatch needs the capability and the method', () => {
    const batch = async (): Promise<undefined[]> => [];
    assert.equal(canBatch(new MemoryFileClient({ capabilities: { batch: true } })), false);
    assert.equal(canBatch(Object.assign(new MemoryFileClient({ capabilities: { batch: false } }), { batch })), false);
    assert.equal(canBatch(Object.assign(new MemoryFileClient({ capabilities: { batch: true } }), { batch })), true);
  });
  it('reportsClose is true only with a closed promise', () => {
    assert.equal(reportsClose(new MemoryFileClient()), false);
    assert.equal(reportsClose(Object.assign(new MemoryFileClient(), { closed: new Promise<void>(() => {}) })), true);
  });
  it('reportsClose is true for a killable memory client', () => {
    assert.equal(reportsClose(new MemoryFileClient({ killable: true })), true);
  });
  it('reportsLink is true only with a linkUp method', () => {
    assert.equal(reportsLink(new MemoryFileClient()), false);
    assert.equal(reportsLink(Object.assign(new MemoryFileClient(), { linkUp: () => true })), true);
  });
  it('canFlush is true only for a handle with flush', async () => {
    const client = new MemoryFileClient();
    const h: FileHandle = await client.open('/f', { read: true, write: true, create: true });
    assert.equal(canFlush(h), false);
    assert.equal(canFlush(Object.assign(h, { flush: noop })), true);
  });
});
