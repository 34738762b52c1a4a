import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BUSY_OPS, FREED_INODES, HEAP_GROWTH_BYTES, IdleCollector, QUIET_OPS, committedHeapBytes, compactingCollection,
} from '../../src/mount/idle-collector.ts';

const MB = 1024 * 1024;

/** A collector over a probe the test moves by hand; `collected` counts collections. */
function rig(): { state: { ops: number; inodes: number; committed: number }; collector: IdleCollector; collected: () => number; reports: { freedBytes: number }[] } {
  const state = { ops: 0, inodes: 1, committed: 50 * MB };
  let n = 0;
  const reports: { freedBytes: number }[] = [];
  const collector = new IdleCollector({
    probe: { work: () => ({ ops: state.ops, inodes: state.inodes }), committedHeapBytes: () => state.committed },
    collect: () => {
      n++;
      state.committed = 60 * MB;
    },
    onCollected: r => reports.push(r),
  });
  return { state, collector, collected: () => n, reports };
}

describe('IdleCollector', () => {
  it('collects once the mount is quiet after its heap grew, not while requests keep coming', () => {
    const { state, collector, collected, reports } = rig();
    state.ops += 20_000;
    state.committed += HEAP_GROWTH_BYTES;
    assert.equal(collector.tick(), false, 'busy in this period');
    state.ops += QUIET_OPS;
    assert.equal(collector.tick(), true, 'quiet now, and the heap grew');
    assert.equal(collected(), 1);
    assert.equal(reports[0]!.freedBytes, 50 * MB + HEAP_GROWTH_BYTES - 60 * MB);
    assert.equal(collector.tick(), false, 'nothing new since: no second collection');
    assert.equal(collected(), 1);
  });

  it('does not collect when quiet after a little work', () => {
    const { state, collector, collected } = rig();
    for (let i = 0; i < 20; i++) {
      state.ops += 50;
      state.committed += MB;
      collector.tick();
    }
    assert.equal(collected(), 0);
  });

  it('collects after many requests whose garbage fit in the heap as it was', () => {
    const { state, collector, collected } = rig();
    state.ops += BUSY_OPS;
    collector.tick();
    assert.equal(collected(), 0);
    collector.tick();
    assert.equal(collected(), 1);
  });

  it('collects after the kernel forgot many inodes, measured from what the last collection left', () => {
    const { state, collector, collected } = rig();
    state.inodes = 120_000;
    state.ops += 10 * QUIET_OPS;
    state.committed += HEAP_GROWTH_BYTES;
    collector.tick();
    assert.equal(collector.tick(), true, 'the heap grew while the inodes came');
    state.inodes = 120_000 - FREED_INODES + 1;
    collector.tick();
    assert.equal(collected(), 1, 'fewer than FREED_INODES let go');
    state.inodes = 1;
    assert.equal(collector.tick(), true);
    assert.equal(collected(), 2);
  });

  it('starts and stops its timer without keeping the process alive', () => {
    const { collector } = rig();
    collector.start();
    collector.start();
    collector.stop();
    collector.stop();
  });
});

describe('compactingCollection', () => {
  it('gives back the heap garbage took, on this Node', () => {
    const collect = compactingCollection();
    assert.ok(collect, 'this Node can collect on request');
    assert.equal(compactingCollection(), collect, 'made once');
    collect();
    const before = committedHeapBytes();
    // Small objects spread over many pages with a few survivors on each, as a walk leaves them.
    let garbage: object[] | undefined = [];
    const survivors: object[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      const o = { name: `n${i}`, attrs: { size: i, mode: 0o644 }, names: [i] };
      garbage.push(o);
      if (i % 50 === 0) survivors.push(o);
    }
    const peak = committedHeapBytes();
    assert.ok(peak - before > 100 * MB, `the garbage took ${Math.round((peak - before) / MB)} MB`);
    garbage = undefined;
    collect();
    const after = committedHeapBytes();
    assert.ok(after - before < (peak - before) / 2, `after ${Math.round((after - before) / MB)} MB of ${Math.round((peak - before) / MB)} MB`);
    assert.equal(survivors.length, 20_000);
  });
});
