// Test guest: connect to ADDRESS PORT, print what the server says, fail after 5 s.
import { connect } from 'node:net';

const [address, port] = process.argv.slice(2);
const socket = connect({ host: address, port: Number(port) });
let data = '';
socket.setTimeout(5000, () => {
  process.stderr.write('timeout\n');
  process.exit(1);
});
socket.on('data', (d) => (data += d));
socket.on('end', () => {
  process.stdout.write(data);
  process.exit(0);
});
socket.on('error', (e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
