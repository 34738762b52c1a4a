import { fileClientContract } from './file-client-contract.ts';
import { MemoryFileClient } from '../helpers/memory-file-client.ts';

// The VFS unit tests stand on this client: it must keep the same contract as the real ones.
fileClientContract('memory', async () => {
  const client = new MemoryFileClient({ uid: process.getuid?.() ?? 1000, gid: process.getgid?.() ?? 1000 });
  await client.mkdir('/work');
  return { client, root: '/work' };
});
