import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { hookLatency } from './hook-latency.js';
import { oneToOne } from './one-to-one.js';

const result = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  hookLatency: await hookLatency(),
  oneToOne: await oneToOne(),
};
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/bench-${result.date.replace(/[:.]/g, '-')}.json`;
writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
process.stdout.write(JSON.stringify(result, null, 2) + `\nwritten to ${file}\n`);
