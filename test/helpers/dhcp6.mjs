// Test guest: one DHCPv6 Solicit on IFACE for MAC (DUID-LL); print the Advertise as JSON
// {address, dns} (the IA_NA address offered, the DNS servers), or fail after 5 s without one.
import { createSocket } from 'node:dgram';

const [iface, mac] = process.argv.slice(2);
const hw = Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
const option = (code, data) => Buffer.concat([Buffer.from([code >> 8, code & 255, data.length >> 8, data.length & 255]), data]);
const solicit = Buffer.concat([
  Buffer.from([1, 0x12, 0x34, 0x56]),
  option(1, Buffer.concat([Buffer.from([0, 3, 0, 1]), hw])),
  option(3, Buffer.alloc(12, 0).fill(7, 0, 4)),
  option(8, Buffer.from([0, 0])),
  option(6, Buffer.from([0, 23])),
]);

function options(buf) {
  const out = [];
  for (let i = 0; i + 4 <= buf.length;) {
    const code = buf.readUInt16BE(i);
    const len = buf.readUInt16BE(i + 2);
    out.push({ code, data: buf.subarray(i + 4, i + 4 + len) });
    i += 4 + len;
  }
  return out;
}
const text = (b) => [...Array(8).keys()].map((k) => b.readUInt16BE(k * 2).toString(16)).join(':').replace(/\b(?:0+:){2,}/, ':').replace(/(^|:)0+(\w)/g, '$1$2');

const sock = createSocket({ type: 'udp6', reuseAddr: true });
const timer = setTimeout(() => {
  process.stderr.write('no DHCPv6 advertise\n');
  process.exit(1);
}, 5000);
sock.on('message', (m) => {
  if (m[0] !== 2) return;
  const opts = options(m.subarray(4));
  const ia = opts.find((o) => o.code === 3);
  const addr = ia && options(ia.data.subarray(12)).find((o) => o.code === 5);
  const dns = opts.find((o) => o.code === 23);
  clearTimeout(timer);
  process.stdout.write(JSON.stringify({
    address: addr ? text(addr.data.subarray(0, 16)) : null,
    dns: dns ? [...Array(dns.data.length / 16).keys()].map((k) => text(dns.data.subarray(k * 16, k * 16 + 16))) : [],
  }) + '\n');
  process.exit(0);
});
sock.bind(546, '::', () => sock.send(solicit, 547, `ff02::1:2%${iface}`));
