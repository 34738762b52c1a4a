import { LocalFileClient } from '../../../src/backends/local/file-client.ts';
import { fileClientContract } from '../../remote/file-client-contract.ts';
import { tempDir } from '../../helpers/tmp.ts';

fileClientContract('local', async t => ({ client: new LocalFileClient(), root: await tempDir(t) }));
