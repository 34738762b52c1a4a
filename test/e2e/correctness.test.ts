import { correctnessSuite } from './correctness-suite.ts';
import { dockerKind, LOCAL, sshKind } from './targets.ts';

for (const kind of [LOCAL, sshKind('no'), sshKind('yes'), dockerKind('yes')]) {
  correctnessSuite(kind.label, kind.make, { skip: kind.skip });
}
