// Test host: accept TCP connections on PORT, print each one's source address, and answer
// "hello SOURCE" (and " from NAME" when a NAME is given, to tell servers apart). HOST '::'
// listens on IPv6 only, beside an IPv4 recorder on the same port.
import { createServer } from 'node:net';

const port = Number(process.argv[2]);
const name = process.argv[3];
const host = process.argv[4] || '0.0.0.0';
createServer((socket) => {
  process.stdout.write(`${socket.remoteAddress}\n`);
  socket.end(`hello ${socket.remoteAddress}${name ? ` from ${name}` : ''}\n`);
}).listen({ port, host, ipv6Only: host.includes(':') }, () => process.stdout.write('ready\n'));
