import { createInterface } from 'node:readline';

/**
 * A prompt on the controlling terminal, or undefined when stdin is not a TTY (then passphrases and
 * passwords are never asked for, and key/agent authentication must do).
 */
export function terminalPrompt(): ((question: string, echo: boolean) => Promise<string>) | undefined {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  return (question, echo) => new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const out = rl as unknown as { _writeToOutput?: (s: string) => void };
    process.stderr.write(question);
    if (!echo) out._writeToOutput = () => {};
    rl.question('', answer => {
      rl.close();
      if (!echo) process.stderr.write('\n');
      resolve(answer);
    });
    rl.on('SIGINT', () => {
      rl.close();
      reject(new Error('cancelled'));
    });
  });
}
