import { closeSync, openSync } from 'node:fs';
import { loadNativeAddon } from './native-addon.ts';

/**
 * The synchronous calls of the posix addon (native/posix/detach.c) that let a process leave the
 * terminal it was started from, which Node cannot do on its own. Errors are shaped like node:fs's
 * (`code` is the errno name).
 */
export interface DetachCalls {
  /** A new descriptor for what `fd` names, closed in children. */
  dupCloexec(fd: number): number;
  /** `to` names what `from` names (and is inherited by children, as fds 0–2 must be). */
  dup2(from: number, to: number): void;
  /** A new session without a controlling terminal; fails (EPERM) for a process group leader. */
  setsid(): number;
}

/**
 * The calls, or undefined when the built addon predates them (a checkout whose build/ is older
 * than native/posix/detach.c): then the caller keeps to what Node does alone.
 */
export function loadDetachCalls(override?: DetachCalls): DetachCalls | undefined {
  if (override !== undefined) return override;
  try {
    const addon = loadNativeAddon<Partial<DetachCalls>>('posix_binding.node', 'ERR_POSIX_BINDING', 'the posix addon');
    return typeof addon.setsid === 'function' && typeof addon.dup2 === 'function' && typeof addon.dupCloexec === 'function'
      ? addon as DetachCalls
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Makes this process a daemon in place: its own session (so closing the terminal sends it no
 * SIGHUP, which stops a mount), stdin from /dev/null, stdout and stderr into `logFd`, where
 * Node's fatal errors and libfuse's messages then go too. Returns a descriptor for what stderr was
 * (the terminal), closed in children, for the caller to report on and close. Throws before
 * changing anything when the process cannot have a session of its own.
 */
export function detachInPlace(calls: DetachCalls, logFd: number): number {
  calls.setsid();
  const terminal = calls.dupCloexec(2);
  const devNull = openSync('/dev/null', 'r');
  try {
    calls.dup2(devNull, 0);
  } finally {
    closeSync(devNull);
  }
  calls.dup2(logFd, 1);
  calls.dup2(logFd, 2);
  return terminal;
}
