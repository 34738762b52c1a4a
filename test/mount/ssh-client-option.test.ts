import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMountOptions, renderMountOptionsHelp } from '../../src/mount/mount-options.ts';

describe('-o ssh_client', () => {
  it('is builtin when not given', () => {
    assert.equal(parseMountOptions([]).sshClient, 'builtin');
  });

  it('ssh_client=openssh picks the user\'s ssh, and a later builtin wins back', () => {
    assert.equal(parseMountOptions(['ssh_client=openssh']).sshClient, 'openssh');
    assert.equal(parseMountOptions(['ssh_client=openssh', 'ssh_client=builtin']).sshClient, 'builtin');
  });

  it('another value, or none, is a usage error naming the option', () => {
    for (const bad of ['ssh_client=ssh2', 'ssh_client', 'ssh_client=']) {
      assert.throws(() => parseMountOptions([bad]), (e: Error & { code?: string }) => e.code === 'ERR_USAGE' && e.message.includes('ssh_client'), bad);
    }
  });

  it('--help lists it with both values', () => {
    assert.ok(renderMountOptionsHelp().includes('ssh_client=builtin|openssh'));
  });
});
