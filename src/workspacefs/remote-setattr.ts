import type { SetAttr } from '../remote/file-client.ts';
import { S_IFLNK } from '../remote/file-client.ts';
import { FsError } from '../remote/fs-error.ts';
import { pathOrEnoent, type VfsCore } from './core.ts';
import type { Attributes } from './attributes.ts';
import type { Entries } from './entries.ts';
import type { Node } from './inode-table.ts';
import type { OpenFile } from './open-file.ts';

/**
 * Sends a setattr of `node`: through open file `fh` when given (works after unlink), else one of
 * the node's open files once it has no name, else by path; a symlink is changed itself, never its
 * target. @throws FsError ENOTSUP for a symlink on a remote without lsetstat.
 */
export async function sendSetattr(core: VfsCore, node: Node, attrs: SetAttr, fh: number | undefined): Promise<void> {
  const { handles, table, caller, client } = core;
  const file = (fh === undefined ? undefined : handles.findFile(fh))
    ?? (table.pathOf(node) === undefined ? handles.filesOf(node)[0] : undefined);
  const path = file?.path ?? pathOrEnoent(table, node, 'setattr');
  // What we last saw lets a write-back client answer at once instead of asking the remote.
  const known = node.attr === undefined ? undefined : { known: node.attr };
  if (file !== undefined) {
    await caller.call('handle.setattr', path, () => file.remote.setattr(attrs));
  } else if (node.type !== S_IFLNK) {
    await caller.call('setattr', path, () => client.setattr(path, attrs, known));
  } else if (client.capabilities.noFollowSetattr) {
    await caller.call('setattr', path, () => client.setattr(path, attrs, { noFollow: true, ...known }));
  } else {
    // Without lsetstat the only way to reach the remote would follow the link: refuse instead.
    throw new FsError('ENOTSUP', 'setattr', path);
  }
}

/**
 * A setattr through open `file`, sent right behind its writes (Handles.sendAhead), with the
 * file's attributes asked for right behind it: one round trip, and the remote's attributes kept
 * after it unless something changed them here meanwhile (Attributes.answered).
 */
export async function setattrAhead(core: VfsCore, entries: Entries, attrs: Attributes, file: OpenFile, changes: SetAttr): Promise<void> {
  const { caller } = core;
  const node = file.node;
  // What we showed is wrong from here on, whatever the answer.
  entries.changed(node, changes.size !== undefined);
  const token = attrs.asking(node);
  const setting = caller.call('handle.setattr', file.path, () => file.remote.setattr(changes));
  const asked = file.statBehind();
  let stat;
  try {
    await setting;
    stat = await asked;
  } finally {
    attrs.answered(node, token, stat, changes.size ?? node.attr?.size);
  }
}
