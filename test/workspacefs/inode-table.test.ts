import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_INO } from '../../src/fuse/operations.ts';
import { S_IFDIR, S_IFREG } from '../../src/remote/file-client.ts';
import { InodeTable } from '../../src/workspacefs/inode-table.ts';
import { fileStat } from './fixture.ts';

const stat = fileStat;

describe('InodeTable', () => {
  it('derives paths from {parent, name} links', () => {
    const table = new InodeTable('/srv/app');
    const dir = table.resolve(table.root, 'src', stat(S_IFDIR)).node;
    const file = table.resolve(dir, 'main.ts', stat(S_IFREG)).node;
    assert.equal(table.pathOf(table.root), '/srv/app');
    assert.equal(table.pathOf(file), '/srv/app/src/main.ts');
    const slash = new InodeTable('/');
    assert.equal(slash.pathOf(slash.resolve(slash.root, 'etc', stat(S_IFDIR)).node), '/etc');
  });

  it('a rename touches one node and the subtree follows', () => {
    const table = new InodeTable('/r');
    const dir = table.resolve(table.root, 'a', stat(S_IFDIR)).node;
    const file = table.resolve(dir, 'f', stat(S_IFREG)).node;
    table.ref(dir);
    table.ref(file);
    table.move(table.root, 'a', table.root, 'b');
    assert.equal(table.pathOf(file), '/r/b/f');
    assert.equal(table.child(table.root, 'a'), undefined);
  });

  it('a replaced rename target becomes orphaned and keeps its number', () => {
    const table = new InodeTable('/r');
    const a = table.resolve(table.root, 'a', stat(S_IFREG)).node;
    const b = table.resolve(table.root, 'b', stat(S_IFREG)).node;
    table.ref(a);
    table.ref(b);
    const { replaced } = table.move(table.root, 'a', table.root, 'b');
    assert.equal(replaced, b);
    assert.equal(table.pathOf(b), undefined);
    assert.equal(table.get(b.ino), b);
    table.forget(b.ino, 1);
    assert.equal(table.get(b.ino), undefined);
  });

  it('a node with open handles outlives its last forget until closed', () => {
    const table = new InodeTable('/r');
    const f = table.resolve(table.root, 'f', stat(S_IFREG)).node;
    table.ref(f);
    f.opens++;
    table.forget(f.ino, 1);
    assert.equal(table.get(f.ino), f);
    f.opens--;
    table.maybeDrop(f);
    assert.equal(table.get(f.ino), undefined);
  });

  it('a directory stays while a child is known and goes with it', () => {
    const table = new InodeTable('/r');
    const d = table.resolve(table.root, 'd', stat(S_IFDIR)).node;
    const f = table.resolve(d, 'f', stat(S_IFREG)).node;
    table.ref(d);
    table.ref(f);
    table.forget(d.ino, 1);
    assert.equal(table.get(d.ino), d);
    table.forget(f.ino, 1);
    assert.equal(table.get(d.ino), undefined);
    assert.equal(table.size, 1);
  });

  it('the same remote inode under two names is one node', () => {
    const table = new InodeTable('/r');
    const a = table.resolve(table.root, 'a', stat(S_IFREG, 77)).node;
    const b = table.resolve(table.root, 'b', stat(S_IFREG, 77)).node;
    assert.equal(a, b);
    assert.equal(a.links.size, 2);
    table.ref(a);
    table.unlinkName(table.root, 'a');
    assert.equal(table.pathOf(a), '/r/b');
  });

  it('a name whose remote inode changed gets a new node', () => {
    const table = new InodeTable('/r');
    const old = table.resolve(table.root, 'f', stat(S_IFREG, 1)).node;
    table.ref(old);
    const { node, replaced } = table.resolve(table.root, 'f', stat(S_IFREG, 2));
    assert.notEqual(node.ino, old.ino);
    assert.equal(replaced, old);
  });

  it('peekIno reserves the number a later lookup gets', () => {
    const table = new InodeTable('/r');
    const peeked = table.peekIno(table.root, 'x', stat(S_IFREG));
    assert.equal(table.resolve(table.root, 'x', stat(S_IFREG)).node.ino, peeked);
    assert.notEqual(peeked, ROOT_INO);
  });
});
