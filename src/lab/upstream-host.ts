import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * The lab's upstream host, run inside its namespace: accept TCP connections, answer with the
 * source address seen, and append that address to `logFile`: the proof of which upstream
 * address each guest's traffic left with. One listener per family (the IPv6 one IPv6-only), so
 * an IPv4 source is logged as itself, never as an IPv4-mapped IPv6 address.
 */
export async function serveUpstream(port: number, logFile: string): Promise<void> {
  for (const host of ['0.0.0.0', '::']) {
    await new Promise<void>((resolve, reject) => {
      const server = createServer((socket) => {
        const source = socket.remoteAddress ?? 'unknown';
        appendFileSync(logFile, `${source}\n`);
        socket.end(`hello ${source}\n`);
      });
      // A kernel without IPv6 still serves the IPv4 lab.
      server.on('error', (err: NodeJS.ErrnoException) => (host === '::' && err.code === 'EAFNOSUPPORT' ? resolve() : reject(err)));
      server.listen({ port, host, ipv6Only: host === '::' }, () => resolve());
    });
  }
}
