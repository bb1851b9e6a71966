// Test upstream host: GET URL every 100 ms (each try given 500 ms) until it answers 200 or
// BUDGET ms have passed. Prints the answer and the milliseconds it took; exit 1 on no answer.
import { get } from 'node:http';

const [url, budget] = process.argv.slice(2);
const started = Date.now();

function once() {
  return new Promise((resolve) => {
    const req = get(url, { timeout: 500 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

for (;;) {
  const body = await once();
  const ms = Date.now() - started;
  if (body !== undefined) {
    process.stdout.write(`${ms} ${body}\n`);
    process.exit(0);
  }
  if (ms > Number(budget)) {
    process.stderr.write(`no answer from ${url} within ${budget} ms\n`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 100));
}
