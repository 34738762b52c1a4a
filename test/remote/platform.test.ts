import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatPlatform, platformFromUname } from '../../src/remote/platform.ts';

const TABLE: [string, string, string][] = [
  ['Linux', 'x86_64', 'linux/amd64'],
  ['Linux', 'amd64', 'linux/amd64'],
  ['Linux', 'aarch64', 'linux/arm64'],
  ['Darwin', 'arm64', 'darwin/arm64'],
  ['Darwin', 'x86_64', 'darwin/amd64'],
  ['Linux', 'armv7l', 'linux/arm/v7'],
  ['Linux', 'armv8l', 'linux/arm/v7'],
  ['Linux', 'armv6l', 'linux/arm/v6'],
  ['Linux', 'i686', 'linux/386'],
  ['Linux', 'i386', 'linux/386'],
  ['Linux', 'riscv64', 'linux/riscv64'],
  ['Linux', 'ppc64le', 'linux/ppc64le'],
  ['Linux', 's390x', 'linux/s390x'],
  ['Linux', 'loongarch64', 'linux/loong64'],
  ['FreeBSD', 'amd64', 'freebsd/amd64'],
  ['MINGW64_NT-10.0', 'x86_64', 'windows/amd64'],
  ['Windows_NT', 'AMD64', 'windows/amd64'],
  ['Windows_NT', 'ARM64', 'windows/arm64'],
  ['Plan9', 'mystery', '?/?'],
];

describe('platformFromUname', () => {
  for (const [s, m, want] of TABLE) {
    it(`maps ${s} ${m} to ${want}`, () => {
      assert.equal(formatPlatform(platformFromUname(s, m)), want);
    });
  }
});
