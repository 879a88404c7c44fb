/** Loopback helpers: a free port, and polling a port until it greets. */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const LOOPBACK = '127.0.0.1';

/**
 * Returns a port that was free a moment ago. Another program could take it
 * before the caller binds it; on a benchmark machine that is unlikely.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('The free-port probe got no TCP address');
  return address.port;
}

/**
 * Connects once and resolves with the first reply line, or rejects on a
 * refused connection, a closed socket or after `timeoutMs`.
 */
function readGreeting(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: LOOPBACK, port });
    let received = '';
    const finish = (error: Error | null, line?: string): void => {
      socket.destroy();
      if (error) reject(error);
      else resolve(line ?? '');
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`no greeting from port ${port} within ${timeoutMs} ms`)));
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error(`port ${port} closed the connection before greeting`)));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\n');
      if (end !== -1) finish(null, received.slice(0, end).trim());
    });
  });
}

/**
 * Tries to connect every `pollMs` until the port sends its SMTP greeting,
 * for at most `timeoutMs`. Resolves with the greeting line.
 */
export async function waitForGreeting(port: number, timeoutMs: number, pollMs = 10): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let lastError: Error = new Error('not tried');
  while (Date.now() < deadline) {
    try {
      return await readGreeting(port, Math.max(1, deadline - Date.now()));
    } catch (error) {
      lastError = error as Error;
      await sleep(pollMs);
    }
  }
  throw new Error(`Port ${port} did not greet within ${timeoutMs} ms: ${lastError.message}`);
}
