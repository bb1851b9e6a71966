// Test guest: ask SERVER (port 53, UDP) for version.bind TXT in class CHAOS, which dnsmasq
// answers itself; print the version it names, or fail after 3 s.
import { createSocket } from 'node:dgram';

const server = process.argv[2];
const name = Buffer.concat(['version', 'bind'].map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])));
const query = Buffer.concat([Buffer.from([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), name, Buffer.from([0, 0, 16, 0, 3])]);
const sock = createSocket(server.includes(':') ? 'udp6' : 'udp4');
const timer = setTimeout(() => process.exit(1), 3000);
sock.on('message', (m) => {
  clearTimeout(timer);
  process.stdout.write(`${m.toString('latin1').match(/dnsmasq-[\w.]+/)?.[0] ?? 'no version in the answer'}\n`);
  process.exit(0);
});
sock.send(query, 53, server);
