// Test guest: try a TCP connection to ADDRESS PORT every 50 ms (each given 250 ms) until one is
// answered; print the wall-clock time (ms) it was answered, then exit.
import { connect } from 'node:net';

const [address, port] = process.argv.slice(2);
const attempt = () => new Promise((resolve) => {
  const socket = connect({ host: address, port: Number(port) });
  const t = setTimeout(() => { socket.destroy(); resolve(false); }, 250);
  socket.on('data', () => { clearTimeout(t); socket.destroy(); resolve(true); });
  socket.on('error', () => { clearTimeout(t); resolve(false); });
});
for (;;) {
  const started = Date.now();
  if (await attempt()) {
    process.stdout.write(`${Date.now()}\n`);
    process.exit(0);
  }
  await new Promise((r) => setTimeout(r, Math.max(0, 50 - (Date.now() - started))));
}
