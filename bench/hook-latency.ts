/**
 * Hook latency against baselines measured in the same run, alternating variants each round so
 * machine noise hits all of them alike. Reports medians and ratios, never a lone absolute time.
 *   floor:   the same router built by a plain bash script with ip -batch, ip -n NS -batch, nft -f
 *   natns:   natns's start work in-process (startNetwork), and its teardown (stopNetwork)
 *   hook:    the whole hook process, node start included, against `node -e 0`
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeContext } from '../src/core/context.js';
import { startNetwork, stopNetwork } from '../src/core/network.js';
import type { NetworkSpec } from '../src/domain/model.js';
import { shellFloor, sh, timed } from './floor.js';
import * as progress from './progress.js';
import { median, round } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);

async function timedAsync(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

export async function hookLatency() {
  const id = `bn${process.pid.toString(16).slice(-4)}`;
  const dir = mkdtempSync(join(tmpdir(), 'natns-bench-'));
  const env = { NATNS_CONFIG: join(dir, 'config.json'), NATNS_STATE_DIR: join(dir, 'state'), NATNS_LOG_DIR: join(dir, 'log') };
  Object.assign(process.env, env);
  const provider = `${id}-pb`;
  const bridge = `${id}-lb`;
  const net: NetworkSpec = {
    name: `${id}-net`, uuid: randomUUID(), bridge,
    private: { address: '10.0.0.1', prefix: 24 },
    upstream: { kind: 'fixed', bridge: provider, address: '198.51.100.120', prefix: 24, gateway: '198.51.100.1' },
  };
  const hookXml = `<hookData><network><name>${net.name}</name><uuid>${net.uuid}</uuid><bridge name='${bridge}'/><metadata><natns:nat xmlns:natns="urn:natns:network:1"><natns:private address="10.0.0.1" prefix="24"/><natns:upstream bridge="${provider}" address="198.51.100.120" prefix="24" gateway="198.51.100.1"/></natns:nat></metadata></network></hookData>`;
  const plainXml = `<hookData><network><name>plain</name><uuid>${randomUUID()}</uuid><bridge name='virbr9'/></network></hookData>`;
  writeFileSync(env.NATNS_CONFIG, '{"pools": {}}');
  sh('ip', ['-batch', '-'], `link add ${provider} type bridge\nlink set ${provider} up\nlink add ${bridge} type bridge\nlink set ${bridge} up\n`);

  const floor = shellFloor(dir, { name: net.name, uuid: net.uuid, bridge, provider, address: '198.51.100.120', prefix: 24, gateway: '198.51.100.1' });
  const desired = floor.desired;

  const ctx = makeContext(env.NATNS_STATE_DIR, env.NATNS_CONFIG);
  const hook = join(process.cwd(), 'dist', 'hook-network.cjs');
  const s: Record<string, number[]> = { floorStart: [], floorStop: [], natnsStart: [], natnsStop: [], hookStart: [], hookStop: [], nodeBare: [], hookIgnored: [] };
  try {
    // Warm the page cache and the lazy parts of every path once.
    floor.up(); floor.down();
    await startNetwork(net, ctx); await stopNetwork(net, ctx);
    for (let i = 0; i < ROUNDS; i++) {
      progress.round(i + 1, ROUNDS);
      s.floorStart!.push(timed(floor.up));
      s.floorStop!.push(timed(floor.down));
      s.natnsStart!.push(await timedAsync(() => startNetwork(net, ctx)));
      s.natnsStop!.push(await timedAsync(() => stopNetwork(net, ctx)));
      s.hookStart!.push(timed(() => sh(process.execPath, [hook, net.name, 'started', 'begin', '-'], hookXml)));
      s.hookStop!.push(timed(() => sh(process.execPath, [hook, net.name, 'stopped', 'end', '-'], hookXml)));
      s.nodeBare!.push(timed(() => sh(process.execPath, ['-e', '0'])));
      s.hookIgnored!.push(timed(() => sh(process.execPath, [hook, 'plain', 'started', 'begin', '-'], plainXml)));
    }
    // What each started hook process logged as its own work: the rest of its time is node and loading.
    s.hookWork = readFileSync(join(env.NATNS_LOG_DIR, 'natns.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { message: string; ms: number; pid: number })
      .filter((l) => l.message === 'network started begin' && l.pid !== process.pid).map((l) => l.ms);
  } finally {
    spawnSync('ip', ['-force', '-batch', '-'], { input: `link del ${desired.lan.host}\nlink del ${desired.wan.host}\nnetns del ${desired.namespace}\nlink del ${provider}\nlink del ${bridge}\n` });
    rmSync(dir, { recursive: true, force: true });
  }
  const m = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(median(v))]));
  return {
    rounds: ROUNDS,
    medianMs: m,
    ratios: {
      startVsFloor: round(m.natnsStart! / m.floorStart!),
      stopVsFloor: round(m.natnsStop! / m.floorStop!),
      hookStartMinusNodeMs: round(m.hookStart! - m.nodeBare!),
      // The hook's work in a fresh process (cold JIT) against the same work in a warm one.
      hookWorkVsInProcess: round(m.hookWork! / m.natnsStart!),
      hookLoadMs: round(m.hookStart! - m.nodeBare! - m.hookWork!),
      ignoredVsNode: round(m.hookIgnored! / m.nodeBare!),
    },
  };
}
