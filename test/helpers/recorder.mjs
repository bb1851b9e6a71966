// Upstream test host: accept TCP connections and print each one's source address.
import { createServer } from 'node:net';

const port = Number(process.argv[2]);
createServer((socket) => {
  process.stdout.write(`${socket.remoteAddress}\n`);
  socket.end(`hello ${socket.remoteAddress}\n`);
}).listen(port, '0.0.0.0', () => process.stdout.write('ready\n'));
