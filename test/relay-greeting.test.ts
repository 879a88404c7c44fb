// When `serve` greets a new connection. Clients in the allowed networks
// get the greeting without a wait. Everyone else waits smtp-server's
// 100 ms, and gets 421 for a command sent before the greeting.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { killAllServeProcesses } from './support/serve-process.ts';
import { useTempDirs } from './support/tmp.ts';
import { startRelay } from './support/relay-harness.ts';

useTempDirs();
afterAll(killAllServeProcesses);

const ONLY_127_0_0_1 = ['--no-default-allow', '--allow', '127.0.0.1/32'];
const REPLY_TIMEOUT_MS = 5000;
const EARLY_TALKER_WAIT_MS = 100;

/** Opens a connection from `localAddress` and resolves on its first complete line. */
function firstLine(port: number, localAddress: string, sendAtOnce: string | null): Promise<{ line: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    let received = '';
    socket.setTimeout(REPLY_TIMEOUT_MS, () => {
      socket.destroy();
      reject(new Error(`no reply line within ${REPLY_TIMEOUT_MS} ms`));
    });
    socket.on('connect', () => {
      if (sendAtOnce !== null) socket.write(sendAtOnce);
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end === -1) return;
      socket.destroy();
      resolve({ line: received.slice(0, end), ms: performance.now() - start });
    });
    socket.on('error', reject);
  });
}

describe('greeting', () => {
  it('greets an allowed client without the wait', async () => {
    const relay = await startRelay({ fake: null, args: ONLY_127_0_0_1 });

    const times: number[] = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const greeting = await firstLine(relay.serve.port, '127.0.0.1', null);
      expect(greeting.line).toMatch(/^220 /);
      times.push(greeting.ms);
    }

    // The fastest of three, so that one slow turn of a busy machine
    // cannot fail the test.
    expect(Math.min(...times)).toBeLessThan(EARLY_TALKER_WAIT_MS);
  });

  it('makes an outside client wait', async () => {
    const relay = await startRelay({ fake: null, args: ONLY_127_0_0_1 });

    const greeting = await firstLine(relay.serve.port, '127.0.0.2', null);

    expect(greeting.line).toMatch(/^220 /);
    expect(greeting.ms).toBeGreaterThanOrEqual(EARLY_TALKER_WAIT_MS - 1);
  });

  it('rejects an outside client that talks too soon', async () => {
    const relay = await startRelay({ fake: null, args: ONLY_127_0_0_1 });

    const reply = await firstLine(relay.serve.port, '127.0.0.2', 'EHLO early.test\r\n');

    expect(reply.line).toMatch(/^421 .*talk too soon/);
  });
});
