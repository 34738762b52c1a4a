/**
 * The command line `rmount mount` starts its daemon with, and its parser. The daemon is the CLI
 * itself, run as `rmount mount --foreground --ready-fd 3 … -- DEST MOUNTPOINT` (a line the full
 * CLI accepts as well, and what `ps` shows), but the entry recognises exactly this shape and goes
 * straight to the mount, without commander and the other commands: every module the daemon does
 * not load is start-up time the user waits for. Any other line goes through the full CLI.
 */
import type { ConnectFlags } from './connect.ts';

/** What a mount daemon is asked to mount, already checked by the CLI that starts it. */
export interface MountRequest {
  dest: string;
  /** Absolute and canonical. */
  mountpoint: string;
  /** The -o values as given (each may hold several options). */
  o: string[];
  connect: ConnectFlags;
}

type StringFlag = Exclude<keyof ConnectFlags, 'acceptNew'>;

// The connect flags a daemon passes on; `rmount mount` declares the same names (context.ts).
const VALUE_FLAGS: readonly (readonly [string, StringFlag])[] = [
  ['--ssh-config', 'sshConfig'],
  ['--identity', 'identity'],
  ['--known-hosts', 'knownHosts'],
  ['--connect-timeout', 'connectTimeout'],
];
const ACCEPT_NEW = '--accept-new';
const PREFIX = ['mount', '--foreground', '--ready-fd'] as const;

/** The daemon's arguments (after node and the entry script) for `request`, reporting on `readyFd`. */
export function renderDaemonArgv(request: MountRequest, readyFd: number): string[] {
  const out: string[] = [...PREFIX, String(readyFd)];
  for (const o of request.o) out.push('-o', o);
  if (request.connect.acceptNew) out.push(ACCEPT_NEW);
  for (const [flag, key] of VALUE_FLAGS) {
    const value = request.connect[key];
    if (value !== undefined) out.push(flag, value);
  }
  out.push('--', request.dest, request.mountpoint);
  return out;
}

/** The request and ready fd of a line {@link renderDaemonArgv} made; undefined for any other line. */
export function parseDaemonArgv(argv: readonly string[]): { request: MountRequest; readyFd: number } | undefined {
  if (PREFIX.some((word, i) => argv[i] !== word)) return undefined;
  const readyFd = Number(argv[PREFIX.length]);
  if (!Number.isInteger(readyFd) || readyFd < 3) return undefined;
  const request: MountRequest = { dest: '', mountpoint: '', o: [], connect: {} };
  for (let i = PREFIX.length + 1; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      if (argv.length !== i + 3) return undefined;
      request.dest = argv[i + 1]!;
      request.mountpoint = argv[i + 2]!;
      return { request, readyFd };
    }
    if (arg === ACCEPT_NEW) {
      request.connect.acceptNew = true;
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined) return undefined;
    const key = arg === '-o' ? 'o' : VALUE_FLAGS.find(([flag]) => flag === arg)?.[1];
    if (key === undefined) return undefined;
    if (key === 'o') request.o.push(value);
    else request.connect[key] = value;
    i++;
  }
  return undefined;
}
