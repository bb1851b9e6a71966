/**
 * Scale: N natns networks started one after another through the hook's own code path
 * (prepareNetwork + startNetwork, in-process, real namespaces), then stopped. Reports the
 * per-network start time at the beginning and at the end (nothing may grow with N), the time of
 * `natns list --json` with N networks, and the memory each router costs the kernel.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeContext } from '../src/core/context.js';
import { prepareNetwork, releaseNetwork, startNetwork, stopNetwork } from '../src/core/network.js';
import type { NetworkSpec } from '../src/domain/model.js';
import { shellFloor, timed, type Floor } from './floor.js';
import * as progress from './progress.js';
import { median, round } from './stats.js';

const N = Number(process.env.BENCH_NETWORKS ?? 1000);

function memAvailableKiB(): number {
  return Number(/MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]);
}

/** The shell floor's start, median of 5, at the current N: what the kernel and iproute2 alone cost. */
function floorStartMs(floor: Floor): number {
  return median(Array.from({ length: 5 }, () => {
    const ms = timed(floor.up);
    floor.down();
    return ms;
  }));
}

function ipBatch(lines: string[]): void {
  spawnSync('ip', ['-force', '-batch', '-'], { input: lines.join('\n') + '\n' });
}

export async function scale() {
  const id = `bs${process.pid.toString(16).slice(-4)}`;
  const dir = mkdtempSync(join(tmpdir(), 'natns-scale-'));
  chmodSync(dir, 0o755);
  // libvirt's test driver, which defines none of its networks: list shows the bench's N alone, not
  // also the networks this host's libvirt defines.
  const env = { NATNS_CONFIG: join(dir, 'config.json'), NATNS_STATE_DIR: join(dir, 'state'), NATNS_LOG_DIR: join(dir, 'log'), NATNS_LIBVIRT_URI: 'test:///default' };
  // A /22 upstream pool in 10.x (no traffic is sent): room for 1000 networks.
  writeFileSync(env.NATNS_CONFIG, JSON.stringify({ pools: { scale: { bridge: `${id}-pb`, subnet: '10.250.0.0/22', gateway: '10.250.0.1', first: '10.250.0.10', last: '10.250.3.250' } } }));
  const ctx = makeContext(env.NATNS_STATE_DIR, env.NATNS_CONFIG);
  const nets: NetworkSpec[] = Array.from({ length: N }, (_, i) => ({
    name: `${id}-n${i}`, uuid: randomUUID(), bridge: `${id}b${i}`,
    private: { address: '10.0.0.1', prefix: 24 }, upstream: { kind: 'pool', pool: 'scale' },
  }));
  ipBatch([`link add ${id}-pb type bridge`, `link set ${id}-pb up`, `link add ${id}-fb type bridge`, `link set ${id}-fb up`]);
  const floor = shellFloor(dir, { name: `${id}-floor`, uuid: randomUUID(), bridge: `${id}-fb`, provider: `${id}-pb`, address: '10.250.3.251', prefix: 22, gateway: '10.250.0.1' });
  let floorFirst = 0;
  const memBefore = memAvailableKiB();
  const startMs: number[] = [];
  const stopMs: number[] = [];
  let listMs: number[] = [];
  try {
    floorFirst = floorStartMs(floor);
    // Warm the JIT first, so the first networks measured are not also the first code runs.
    const warm: NetworkSpec = { ...nets[0]!, name: `${id}-warm`, uuid: randomUUID(), bridge: `${id}-wb` };
    for (let i = 0; i < 5; i++) {
      await prepareNetwork(warm, ctx);
      ipBatch([`link add ${warm.bridge} type bridge`, `link set ${warm.bridge} up`]);
      await startNetwork(warm, ctx);
      ipBatch([`link del ${warm.bridge}`]);
      await stopNetwork(warm, ctx);
    }
    await releaseNetwork(ctx.records.read(warm.uuid)!, ctx, { dropAdminForwards: true });
    for (const [i, n] of nets.entries()) {
      progress.round(i + 1, N, 'start', 'network');
      // As libvirt does: `start begin`, then libvirt makes the bridge (not timed), then `started`.
      let t = process.hrtime.bigint();
      await prepareNetwork(n, ctx);
      let ms = Number(process.hrtime.bigint() - t) / 1e6;
      ipBatch([`link add ${n.bridge} type bridge`, `link set ${n.bridge} up`]);
      // libvirt turns IPv6 off on the bridge of a network that defines no IPv6 address.
      writeFileSync(`/proc/sys/net/ipv6/conf/${n.bridge}/disable_ipv6`, '1');
      t = process.hrtime.bigint();
      await startNetwork(n, ctx);
      ms += Number(process.hrtime.bigint() - t) / 1e6;
      startMs.push(ms);
    }
    const memPerNetworkKiB = (memBefore - memAvailableKiB()) / N;
    const floorLast = floorStartMs(floor);
    listMs = [0, 1, 2].map(() => {
      const t = process.hrtime.bigint();
      const r = spawnSync(process.execPath, ['dist/natns.mjs', 'list', '--json'], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
      if (r.status !== 0 || JSON.parse(r.stdout).length !== N) throw new Error(`natns list: ${r.stderr}`);
      return Number(process.hrtime.bigint() - t) / 1e6;
    });
    for (const [i, n] of nets.entries()) {
      progress.round(i + 1, N, 'stop', 'network');
      const t = process.hrtime.bigint();
      await stopNetwork(n, ctx);
      stopMs.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    const head = startMs.slice(0, Math.min(10, N));
    const tail = startMs.slice(-Math.min(10, N));
    return {
      networks: N,
      startMsFirst10: round(median(head)),
      startMsLast10: round(median(tail)),
      lastVsFirst: round(median(tail) / median(head)),
      // The same ratio for the shell floor: how much of the growth the kernel and iproute2 bring.
      floorMsFirst: round(floorFirst),
      floorMsLast: round(floorLast),
      floorLastVsFirst: round(floorLast / floorFirst),
      stopMsMedian: round(median(stopMs)),
      listJsonMs: round(median(listMs)),
      memPerNetworkKiB: round(memPerNetworkKiB, 0),
      // Start time of each network, for the chart (every 10th, to keep the JSON small).
      series: startMs.map((ms, i) => [i + 1, round(ms, 1)]).filter(([i]) => i! % 10 === 0 || i === 1),
    };
  } finally {
    ipBatch([`link del ${floor.desired.lan.host}`, `link del ${floor.desired.wan.host}`, `netns del ${floor.desired.namespace}`]);
    for (const n of nets) await stopNetwork(n, ctx).catch(() => undefined);
    for (const r of ctx.records.list()) await releaseNetwork(r, ctx, { dropAdminForwards: true }).catch(() => undefined);
    ipBatch([`link del ${id}-pb`, `link del ${id}-fb`, ...nets.map((n) => `link del ${n.bridge}`)]);
    rmSync(dir, { recursive: true, force: true });
  }
}
