import { tempDir } from '../helpers/tmp.ts';
import { fileClientContract } from '../remote/file-client-contract.ts';
import { goSkipReason, startAgentClient } from './agent-binary.ts';

fileClientContract('rmount-agent over stdio', async t => {
  const root = await tempDir(t, 'rmount-agent-');
  return { client: await startAgentClient(t), root };
}, { skip: goSkipReason() });
