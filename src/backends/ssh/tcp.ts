import { connect as netConnect, type Socket } from 'node:net';

/** Opens a TCP connection; rejects with the socket's error (ECONNREFUSED, ENOTFOUND, …). */
export function connectTcp(host: string, port: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    // No Nagle, as OpenSSH sets TCP_NODELAY for interactive use: every request over the mount
    // (a forward's open, an exec) is small, and one sent while the last is unacknowledged would
    // otherwise wait for the peer's delayed ACK, up to 40 ms.
    const socket = netConnect({ host, port, noDelay: true });
    const onAbort = (): void => { socket.destroy(); reject(signal.reason); };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', error => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    });
  });
}
