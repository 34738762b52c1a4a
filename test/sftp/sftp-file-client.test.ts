import { tempDir } from '../helpers/tmp.ts';
import { fileClientContract } from '../remote/file-client-contract.ts';
import { sftpServerSkipReason, startSftpClient } from './sftp-server.ts';

const skip = sftpServerSkipReason();

fileClientContract('sftp over OpenSSH sftp-server', async t => {
  const root = await tempDir(t, 'rmount-sftp-');
  return { client: await startSftpClient(t), root };
}, { skip });

// The same server with every extension hidden: exercises the v3 fallbacks (32 KiB pieces, rename
// without posix-rename, no hardlink, no lsetstat, made-up statfs, realpath for ~).
fileClientContract('sftp over OpenSSH sftp-server without extensions', async t => {
  const root = await tempDir(t, 'rmount-sftp-');
  return { client: await startSftpClient(t, { keepExtensions: () => false }), root };
}, { skip });
