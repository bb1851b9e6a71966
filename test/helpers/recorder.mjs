// Test host: accept TCP connections on PORT, print each one's source address, and answer
// "hello SOURCE" (and " from NAME" when a NAME is given, to tell servers apart).
import { createServer } from 'node:net';

const port = Number(process.argv[2]);
const name = process.argv[3];
createServer((socket) => {
  process.stdout.write(`${socket.remoteAddress}\n`);
  socket.end(`hello ${socket.remoteAddress}${name ? ` from ${name}` : ''}\n`);
}).listen(port, '0.0.0.0', () => process.stdout.write('ready\n'));
