/**
 * `natns list` at N running networks (issue 16, item 3): N routers started in-process through
 * the hooks' own code path (as the scale part does), then `natns list --json` and `natns list`
 * timed, interleaved with another build of the same command on the same state when
 * LIST_SCALE_BASE=path/to/natns.mjs names one (main's, say). Rows that are not `up` are printed
 * on stderr. Removes everything it made. Build and run (root, from the repository):
 *   npx esbuild --bundle --platform=node --format=esm bench/list-scale.ts --outfile=dist/list-scale.mjs \
 *     --loader:.xml=text --loader:.sh=text --loader:.py=text --packages=external
 *   node dist/list-scale.mjs [N=1000] [ROUNDS=5]
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeContext } from '../src/core/context.js';
import { prepareNetwork, releaseNetwork, startNetwork, stopNetwork } from '../src/core/network.js';
import type { NetworkSpec } from '../src/domain/model.js';
import { median, round } from './stats.js';

const N = Number(process.argv[2] ?? 1000);
const ROUNDS = Number(process.argv[3] ?? 5);
const builds: Record<string, string> = { branch: 'dist/natns.mjs', ...(process.env.LIST_SCALE_BASE ? { base: process.env.LIST_SCALE_BASE } : {}) };

function ipBatch(lines: string[]): void {
  spawnSync('ip', ['-force', '-batch', '-'], { input: lines.join('\n') + '\n' });
}

async function main() {
  const id = `tstls${process.pid.toString(16).slice(-4)}`;
  const dir = mkdtempSync(join(tmpdir(), 'natns-list-scale-'));
  chmodSync(dir, 0o755);
  const env = { NATNS_CONFIG: join(dir, 'config.json'), NATNS_STATE_DIR: join(dir, 'state'), NATNS_LOG_DIR: join(dir, 'log') };
  writeFileSync(env.NATNS_CONFIG, JSON.stringify({ pools: { scale: { bridge: `${id}-pb`, subnet: '10.250.0.0/22', gateway: '10.250.0.1', first: '10.250.0.10', last: '10.250.3.250' } } }));
  const ctx = makeContext(env.NATNS_STATE_DIR, env.NATNS_CONFIG);
  const nets: NetworkSpec[] = Array.from({ length: N }, (_, i) => ({
    name: `${id}-n${i}`, uuid: randomUUID(), bridge: `${id}b${i}`,
    private: { address: '10.0.0.1', prefix: 24 }, upstream: { kind: 'pool', pool: 'scale' },
  }));
  ipBatch([`link add ${id}-pb type bridge`, `link set ${id}-pb up`]);
  try {
    for (const [i, n] of nets.entries()) {
      await prepareNetwork(n, ctx);
      ipBatch([`link add ${n.bridge} type bridge`, `link set ${n.bridge} up`]);
      await startNetwork(n, ctx);
      if ((i + 1) % 100 === 0) process.stderr.write(`${i + 1} networks\n`);
    }
    // LIST_SCALE_HOLD=FILE: wait while FILE exists (to look at the routers by hand), then measure.
    const hold = process.env.LIST_SCALE_HOLD;
    if (hold) {
      writeFileSync(hold, JSON.stringify(env));
      while (existsSync(hold)) await new Promise((r) => setTimeout(r, 500));
    }
    const times: Record<string, number[]> = {};
    let states: Record<string, number> = {};
    for (let r = 0; r < ROUNDS; r++) {
      for (const [build, cli] of Object.entries(builds)) {
        for (const args of [['list', '--json'], ['list']]) {
          const t = process.hrtime.bigint();
          const out = spawnSync(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
          const ms = Number(process.hrtime.bigint() - t) / 1e6;
          if (out.status !== 0) throw new Error(`${build} ${args.join(' ')}: ${out.stderr}`);
          if (args.length === 2) {
            // The libvirt asked may define natns networks of its own (listed, never started here).
            const rows = (JSON.parse(out.stdout) as { network: string; state: string }[]).filter((m) => m.network.startsWith(`${id}-`));
            if (rows.length !== N) throw new Error(`${build}: ${rows.length} rows`);
            const odd = rows.find((m) => m.state !== 'up');
            if (odd && build === 'branch') process.stderr.write(`not up: ${JSON.stringify(odd)}\n`);
            if (build === 'branch') states = rows.reduce<Record<string, number>>((a, m) => ({ ...a, [m.state]: (a[m.state] ?? 0) + 1 }), {});
          }
          (times[`${build} ${args.join(' ')}`] ??= []).push(ms);
        }
      }
    }
    process.stdout.write(JSON.stringify({
      networks: N, rounds: ROUNDS, libvirt: process.env.NATNS_LIBVIRT_URI ?? 'qemu:///system', states,
      medianMs: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, round(median(v))])),
      maxMs: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, round(Math.max(...v))])),
    }, null, 2) + '\n');
  } finally {
    for (const n of nets) await stopNetwork(n, ctx).catch(() => undefined);
    for (const r of ctx.records.list()) await releaseNetwork(r, ctx, { dropAdminForwards: true }).catch(() => undefined);
    ipBatch([`link del ${id}-pb`, ...nets.map((n) => `link del ${n.bridge}`)]);
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
