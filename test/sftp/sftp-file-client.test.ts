import type { TestContext } from 'node:test';
import { tempDir } from '../helpers/tmp.ts';
import { errnoContract } from '../backends/local/errno-contract.ts';
import { fileClientContract, type ContractSubject } from '../remote/file-client-contract.ts';
import { sftpServerSkipReason, startSftpClient } from './sftp-server.ts';

const skip = sftpServerSkipReason();

async function withExtensions(t: TestContext): Promise<ContractSubject> {
  const root = await tempDir(t, 'rmount-sftp-');
  return { client: await startSftpClient(t), root };
}

fileClientContract('sftp over OpenSSH sftp-server', withExtensions, { skip });
errnoContract('sftp over OpenSSH sftp-server', withExtensions, { skip });

// The same server with every extension hidden: exercises the v3 fallbacks (32 KiB pieces, rename
// without posix-rename, no hardlink, no lsetstat, made-up statfs, realpath for ~).
async function withoutExtensions(t: TestContext): Promise<ContractSubject> {
  const root = await tempDir(t, 'rmount-sftp-');
  return { client: await startSftpClient(t, { keepExtensions: () => false }), root };
}

fileClientContract('sftp over OpenSSH sftp-server without extensions', withoutExtensions, { skip });
errnoContract('sftp over OpenSSH sftp-server without extensions', withoutExtensions, { skip });
