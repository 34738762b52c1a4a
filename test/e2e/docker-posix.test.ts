import { posixSuite } from './posix-suite.ts';
import { dockerKind } from './targets.ts';

// The container sees the backing folder through a bind mount at /work, so the suite can check the
// "remote" side on this machine's disk. Run twice: through rmount-agent (what a mount of a container
// uses when a build for it exists) and through the agentless copy/exec client.
for (const kind of [dockerKind('yes'), dockerKind('no')]) {
  posixSuite(kind.label, kind.make, { skip: kind.skip });
}
