/**
 * A remote's platform in Go's words. Any field may be empty when it could not be found out;
 * callers fall back to a sensible default.
 */
export interface PlatformInfo {
  /** GOOS: 'linux', 'darwin', 'windows', 'freebsd', ... */
  os: string;
  /** GOARCH: 'amd64', 'arm64', 'arm', '386', 'riscv64', 'ppc64le', 's390x', 'loong64', ... */
  arch: string;
  /** GOARM-style variant for arm ('v6', 'v7'); '' elsewhere. */
  variant: string;
}

/** Maps `uname -s` to GOOS ('' when unknown). */
export function goosFromUname(sysname: string): string {
  const s = sysname.trim().toLowerCase();
  if (s === 'linux') return 'linux';
  if (s === 'darwin') return 'darwin';
  if (s === 'freebsd') return 'freebsd';
  if (s === 'openbsd') return 'openbsd';
  if (s === 'netbsd') return 'netbsd';
  if (s.startsWith('mingw') || s.startsWith('msys') || s.startsWith('cygwin') || s.startsWith('windows')) return 'windows';
  return '';
}

/** Maps `uname -m` (or Windows' PROCESSOR_ARCHITECTURE) to GOARCH and variant. */
export function goarchFromMachine(machine: string): { arch: string; variant: string } {
  const m = machine.trim().toLowerCase();
  switch (m) {
    case 'x86_64': case 'amd64': case 'x64': return { arch: 'amd64', variant: '' };
    case 'aarch64': case 'arm64': case 'aarch64_be': return { arch: 'arm64', variant: '' };
    case 'armv7l': case 'armv7': case 'armv8l': case 'armhf': return { arch: 'arm', variant: 'v7' };
    case 'armv6l': case 'armv6': case 'arm': return { arch: 'arm', variant: 'v6' };
    case 'armv5tel': case 'armv5l': case 'armel': return { arch: 'arm', variant: 'v5' };
    case 'i386': case 'i486': case 'i586': case 'i686': case 'x86': return { arch: '386', variant: '' };
    case 'riscv64': return { arch: 'riscv64', variant: '' };
    case 'ppc64le': return { arch: 'ppc64le', variant: '' };
    case 'ppc64': return { arch: 'ppc64', variant: '' };
    case 's390x': return { arch: 's390x', variant: '' };
    case 'loongarch64': case 'loong64': return { arch: 'loong64', variant: '' };
    case 'mips64': return { arch: 'mips64', variant: '' };
    default: return { arch: '', variant: '' };
  }
}

/** Builds a PlatformInfo from `uname -s` and `uname -m` output. */
export function platformFromUname(sysname: string, machine: string): PlatformInfo {
  return { os: goosFromUname(sysname), ...goarchFromMachine(machine) };
}

/** Renders a platform as `os/arch[/variant]`, for messages. */
export function formatPlatform(p: PlatformInfo): string {
  return [p.os || '?', p.arch || '?', p.variant].filter(Boolean).join('/');
}
