// UDP test host: answer each datagram with "echo SOURCE" on PORT (IPv6 with -6); or, as a
// client (ADDRESS PORT), send one datagram and print the answer, failing after 2 s.
import { createSocket } from 'node:dgram';

const v6 = process.argv.includes('-6') || (process.argv[2] ?? '').includes(':');
const args = process.argv.slice(2).filter((a) => a !== '-6');
const sock = createSocket(v6 ? 'udp6' : 'udp4');
if (args.length === 1) {
  sock.on('message', (_m, r) => sock.send(`echo ${r.address}`, r.port, r.address));
  sock.bind(Number(args[0]), () => process.stdout.write('ready\n'));
} else {
  const timer = setTimeout(() => process.exit(1), 2000);
  sock.on('message', (m) => {
    clearTimeout(timer);
    process.stdout.write(`${m}\n`);
    process.exit(0);
  });
  sock.send('hi', Number(args[1]), args[0]);
}
