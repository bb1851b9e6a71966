import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * The lab's upstream host, run inside its namespace: accept TCP connections, answer with the
 * source address seen, and append that address to `logFile`: the proof of which upstream
 * address each guest's traffic left with.
 */
export function serveUpstream(port: number, logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => {
      const source = socket.remoteAddress ?? 'unknown';
      appendFileSync(logFile, `${source}\n`);
      socket.end(`hello ${source}\n`);
    });
    server.on('error', reject);
    server.listen(port, '0.0.0.0', () => resolve());
  });
}
