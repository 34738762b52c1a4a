import { localDiskSuite } from './local-disk-suite.ts';
import { dockerKind, LOCAL, sshKind } from './targets.ts';

for (const kind of [LOCAL, sshKind('no'), sshKind('yes'), dockerKind('yes')]) {
  localDiskSuite(kind.label, kind.make, { skip: kind.skip });
}
