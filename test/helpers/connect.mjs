// Test guest: connect to ADDRESS PORT (from SOURCE, if given), print what the server says,
// fail after TIMEOUT ms (default 5000).
import { connect } from 'node:net';

const [address, port, source, timeout] = process.argv.slice(2);
const socket = connect({ host: address, port: Number(port), ...(source ? { localAddress: source } : {}) });
let data = '';
socket.setTimeout(Number(timeout ?? 5000), () => {
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
