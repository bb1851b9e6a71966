// Connection-rate helper. `tcp-sink.mjs PORT`: accept and close at once, print "ready".
// `tcp-sink.mjs HOST PORT MS`: open and close connections one after another for MS
// milliseconds and print how many completed.
import { connect, createServer } from 'node:net';

const args = process.argv.slice(2);
if (args.length === 1) {
  createServer((s) => s.destroy()).listen(Number(args[0]), '0.0.0.0', () => process.stdout.write('ready\n'));
} else {
  const [host, port, ms] = args;
  const end = Date.now() + Number(ms);
  let n = 0;
  const once = () => new Promise((resolve) => {
    const s = connect({ host, port: Number(port) }, () => { n++; s.destroy(); resolve(); });
    s.on('error', resolve);
  });
  while (Date.now() < end) await once();
  process.stdout.write(`${n}\n`);
}
