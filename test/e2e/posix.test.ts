import { posixSuite } from './posix-suite.ts';
import { LOCAL, sshKind } from './targets.ts';

for (const kind of [LOCAL, sshKind('no', 'ssh backend (OpenSSH sshd, sftp subsystem)')]) {
  posixSuite(kind.label, kind.make, { skip: kind.skip });
}
