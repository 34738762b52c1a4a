import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { ReconnectingFileClient } from '../../src/remote/reconnecting-file-client.ts';
import type { SftpFileClient } from '../../src/sftp/sftp-file-client.ts';
import { tempDir } from '../helpers/tmp.ts';
import { sftpServerSkipReason, startSftpClient, type SftpServerProcess } from './sftp-server.ts';

describe('SftpFileClient when its server dies', { skip: sftpServerSkipReason() }, () => {
  it('closed resolves when the server process is killed', async t => {
    const client = await startSftpClient(t);
    client.server.child.kill('SIGKILL');
    await client.closed;
    await assert.rejects(client.stat('/'), { code: 'ENOTCONN' });
  });

  it('closed resolves on close()', async t => {
    const client = await startSftpClient(t);
    await client.close();
    await client.closed;
  });

  it('an open file survives a new sftp-server: writes before and after land in order', async t => {
    const root = await tempDir(t, 'rmount-sftp-reconnect-');
    await writeFile(`${root}/f`, '');
    const made: Array<SftpFileClient & { server: SftpServerProcess }> = [];
    const files = await ReconnectingFileClient.create(async () => {
      made.push(await startSftpClient(t));
      return made.at(-1)!;
    });
    const h = await files.open(`${root}/f`, { read: true, write: true, truncate: true });
    await h.write(Buffer.from('before,'), 0, 7, 0);
    made[0]!.server.child.kill('SIGKILL');
    await made[0]!.closed;
    await h.write(Buffer.from('after'), 0, 5, 7);
    await h.sync();
    await h.close();
    assert.equal(await readFile(`${root}/f`, 'utf8'), 'before,after');
    assert.equal(made.length, 2);
    await files.close();
  });
});
