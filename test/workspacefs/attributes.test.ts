import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { S_IFDIR, S_IFREG, type FileStat } from '../../src/remote/file-client.ts';
import { permits } from '../../src/workspacefs/attributes.ts';
import { ctx, makeParts } from './fixture.ts';

const t = (sec: number) => ({ sec, nsec: 0 });
const file = (size: number, mtime = 1): FileStat => ({ mode: S_IFREG | 0o644, size, uid: 1000, gid: 1000, atime: t(0), mtime: t(mtime), nlink: 2 });

describe('Attributes', () => {
  it('stores, keeps fresh for the attribute lifetime, and expires', () => {
    const { attrs, core, clock } = makeParts({ attrTimeoutMs: 1000 });
    const node = core.table.resolve(core.table.root, 'f', file(3)).node;
    assert.equal(attrs.fresh(node), false);
    attrs.store(node, file(3));
    assert.equal(attrs.fresh(node), true);
    clock.advance(1000);
    assert.equal(attrs.fresh(node), false);
    attrs.store(node, file(3));
    attrs.expire(node);
    assert.equal(attrs.fresh(node), false);
    assert.equal(node.attrFromRemote, false);
  });

  it('a regular file changed behind our back drops the kernel\'s pages', async () => {
    const { attrs, core, kernel, notices } = makeParts();
    const node = core.table.resolve(core.table.root, 'f', file(3)).node;
    attrs.store(node, file(3));
    attrs.store(node, file(3));
    attrs.store(node, file(4, 2));
    notices.sendSoon();
    await new Promise(resolve => setImmediate(resolve));
    assert.deepEqual(kernel.calls, [`inode ${node.ino}`]);
  });

  it('a change behind our back after our own mutations still drops the kernel\'s pages; our writes\' attributes coming back do not', async () => {
    const { attrs, core, kernel, notices } = makeParts();
    const node = core.table.resolve(core.table.root, 'f', file(3)).node;
    attrs.store(node, file(3));
    const tell = async (): Promise<string[]> => {
      notices.sendSoon();
      await new Promise(resolve => setImmediate(resolve));
      return kernel.calls.splice(0);
    };
    // We wrote, and the close brought the remote's attributes back with the writes: no notice.
    attrs.wrote(node, 3, 2, false);
    attrs.answered(node, attrs.asking(node), file(5, 2));
    assert.deepEqual(await tell(), []);
    // The last close expired them; someone else then changed the file on the remote.
    attrs.expire(node);
    attrs.store(node, file(5, 3));
    assert.deepEqual(await tell(), [`inode ${node.ino}`]);
    // Expired again and read again unchanged: nothing to drop.
    attrs.expire(node);
    attrs.store(node, file(5, 3));
    assert.deepEqual(await tell(), []);
  });

  it('our own writes, truncates and unlinks patch the cached view, which then is not the remote\'s', () => {
    const { attrs, core } = makeParts();
    const node = core.table.resolve(core.table.root, 'f', file(3)).node;
    attrs.store(node, file(3));
    attrs.wrote(node, 10, 5, false);
    assert.equal(node.attr!.size, 15);
    assert.equal(node.attrFromRemote, false);
    attrs.wrote(node, 0, 2, true);
    assert.equal(node.attr!.size, 17);
    attrs.truncated(node);
    assert.equal(node.attr!.size, 0);
    attrs.unlinked(node);
    assert.equal(node.attr!.nlink, 1);
  });

  it('shows mapped ids, the mount umask and synthesised counts', () => {
    const { attrs, core } = makeParts({ umask: 0o022, idmap: 'none' });
    const dir = core.table.resolve(core.table.root, 'd', { mode: S_IFDIR | 0o777, size: 0, uid: 7, gid: 8, atime: t(0), mtime: t(5) }).node;
    const attr = attrs.toAttr(dir, { mode: S_IFDIR | 0o777, size: 4096, uid: 7, gid: 8, atime: t(0), mtime: t(5) });
    assert.deepEqual([attr.ino, attr.mode, attr.nlink, attr.uid, attr.gid, attr.blocks], [dir.ino, S_IFDIR | 0o755, 2, 7, 8, 8]);
    assert.deepEqual(attr.ctime, t(5));
  });

  it('keeps a symlink target for the attribute lifetime', () => {
    const { attrs, core, clock } = makeParts({ attrTimeoutMs: 1000 });
    const node = core.table.resolve(core.table.root, 'l', { ...file(1), mode: 0o120777 }).node;
    attrs.storeLinkTarget(node, 'target');
    assert.equal(attrs.linkTarget(node), 'target');
    clock.advance(1000);
    assert.equal(attrs.linkTarget(node), undefined);
  });

  it('access(2) bits: owner, group, other; root always', () => {
    const attr = { mode: S_IFREG | 0o640, uid: ctx.uid, gid: 99 } as const;
    assert.equal(permits({ ...attrOf(attr) }, 6, ctx), true);
    assert.equal(permits({ ...attrOf(attr), uid: 1 }, 4, ctx), false);
    assert.equal(permits({ ...attrOf(attr), uid: 1, gid: ctx.gid }, 4, ctx), true);
    assert.equal(permits({ ...attrOf(attr), uid: 1 }, 4, { ...ctx, uid: 0 }), true);
  });
});

function attrOf(a: { mode: number; uid: number; gid: number }) {
  return { ino: 2, nlink: 1, rdev: 0, size: 0, blksize: 4096, blocks: 0, atime: t(0), mtime: t(0), ctime: t(0), ...a };
}
