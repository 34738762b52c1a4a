import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STATUS } from '../../src/sftp/constants.ts';
import { sftpErrno } from '../../src/sftp/status.ts';

describe('sftpErrno', () => {
  const table: Array<[status: number, op: string, message: string | undefined, errno: string]> = [
    [STATUS.NO_SUCH_FILE, 'lstat', undefined, 'ENOENT'],
    [STATUS.PERMISSION_DENIED, 'open', 'Permission denied', 'EACCES'],
    [STATUS.FAILURE, 'rmdir', 'Failure', 'ENOTEMPTY'],
    [STATUS.FAILURE, 'mkdir', 'Failure', 'EIO'],
    [STATUS.BAD_MESSAGE, 'open', undefined, 'EINVAL'],
    [STATUS.NO_CONNECTION, 'stat', undefined, 'ENOTCONN'],
    [STATUS.CONNECTION_LOST, 'stat', undefined, 'ECONNABORTED'],
    [STATUS.OP_UNSUPPORTED, 'setattr', undefined, 'ENOTSUP'],
    [STATUS.OP_UNSUPPORTED, 'link', undefined, 'ENOSYS'],
    [STATUS.FILE_ALREADY_EXISTS, 'mkdir', undefined, 'EEXIST'],
    [STATUS.DIR_NOT_EMPTY, 'rename', undefined, 'ENOTEMPTY'],
    [STATUS.FAILURE, 'write', 'ENOSPC', 'ENOSPC'],
    [STATUS.FAILURE, 'rmdir', 'EBUSY', 'EBUSY'],
    [STATUS.NO_SUCH_FILE, 'open', 'ENOTDIR', 'ENOTDIR'],
    [STATUS.FAILURE, 'open', 'ENOSPACE', 'EIO'],
    [999, 'stat', undefined, 'EIO'],
  ];
  for (const [status, op, message, errno] of table) {
    it(`status ${status} on ${op} with message ${JSON.stringify(message)} maps to ${errno}`, () => {
      assert.equal(sftpErrno(status, op, message), errno);
    });
  }
});
