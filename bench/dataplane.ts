/**
 * Data plane: the same guest → upstream traffic through three paths, alternated in one run.
 *   natns:    guest ── bridge ══veth══ [router namespace: nft SNAT] ══veth══ provider bridge ── upstream
 *   natns macvlan: the same with <natns:patch type="macvlan"/>: macvlans of both bridges, no veth
 *   host NAT: guest ── bridge with the gateway address, masquerade in the same namespace ── provider bridge
 *             (libvirt's own NAT; emulated in a namespace playing the host, so the real host is untouched)
 *   direct:   guest ══veth══ upstream (the ceiling)
 * iperf3 with 1 and 4 streams, ping round trip, and new TCP connections per second.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeContext } from '../src/core/context.js';
import { releaseNetwork, startNetwork, stopNetwork } from '../src/core/network.js';
import type { NetworkSpec } from '../src/domain/model.js';
import * as progress from './progress.js';
import { median, round } from './stats.js';

const SECONDS = Number(process.env.BENCH_IPERF_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_DATAPLANE_ROUNDS ?? 3);
const PINGS = Number(process.env.BENCH_PING_COUNT ?? 20);

function must(cmd: string, args: string[], input = ''): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/**
 * One iperf3 run, in Gbit/s. The server takes one test at a time and now and then still holds
 * the last one when the next client comes ('the server is busy'): then iperf3 -J reports an
 * error and no totals, and the run is repeated after a short pause.
 */
export function iperfGbps(ns: string, dst: string, streams: number): number {
  let last = '';
  for (let attempt = 0; attempt < 4; attempt++) {
    const r = spawnSync('ip', ['netns', 'exec', ns, 'iperf3', '-c', dst, '-p', '5201', '-t', String(SECONDS), '-P', String(streams), '-J'], { encoding: 'utf8' });
    try {
      const bps = (JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string }).end?.sum_received?.bits_per_second;
      if (bps !== undefined) return bps / 1e9;
      last = (JSON.parse(r.stdout) as { error?: string }).error ?? 'no totals';
    } catch {
      last = r.stderr.trim() || 'no JSON';
    }
    spawnSync('sleep', ['0.5']);
  }
  throw new Error(`iperf3 from ${ns} to ${dst} gave no result after 4 tries: ${last}`);
}

export async function dataplane() {
  const id = `bd${process.pid.toString(16).slice(-4)}`;
  const dir = mkdtempSync(join(tmpdir(), 'natns-dp-'));
  chmodSync(dir, 0o755);
  const env = { NATNS_CONFIG: join(dir, 'config.json'), NATNS_STATE_DIR: join(dir, 'state') };
  writeFileSync(env.NATNS_CONFIG, JSON.stringify({ pools: { dp: { bridge: `${id}-pb`, subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.110' } } }));
  const ctx = makeContext(env.NATNS_STATE_DIR, env.NATNS_CONFIG);
  const ns = { up: `${id}-up`, g1: `${id}-g1`, host: `${id}-host`, g2: `${id}-g2`, g3: `${id}-g3`, g4: `${id}-g4` };
  const net: NetworkSpec = {
    name: `${id}-net`, uuid: randomUUID(), bridge: `${id}-b1`,
    private: { address: '10.0.0.1', prefix: 24 }, upstream: { kind: 'pool', pool: 'dp' },
  };
  const macvlanNet: NetworkSpec = { ...net, name: `${id}-mv`, uuid: randomUUID(), bridge: `${id}-b4`, patch: 'macvlan' };
  const children: ReturnType<typeof spawn>[] = [];
  try {
    must('ip', ['-batch', '-'], [
      `link add ${id}-pb type bridge`, `link set ${id}-pb up`, `link add ${id}-b1 type bridge`, `link set ${id}-b1 up`,
      ...Object.values(ns).map((n) => `netns add ${n}`),
      `link add ${id}-uph master ${id}-pb up type veth peer name eth0 netns ${ns.up}`,
      `link add ${id}-g1h master ${id}-b1 up type veth peer name eth0 netns ${ns.g1}`,
      `link add ${id}-b4 type bridge`, `link set ${id}-b4 up`,
      `link add ${id}-g4h master ${id}-b4 up type veth peer name eth0 netns ${ns.g4}`,
      `link add ${id}-hh master ${id}-pb up type veth peer name up0 netns ${ns.host}`,
      // direct path: a veth straight from g3 into the upstream host
      `link add ${id}-d type veth peer name d0 netns ${ns.up}`, `link set ${id}-d netns ${ns.g3}`,
    ].join('\n') + '\n');
    must('ip', ['-n', ns.up, '-batch', '-'], 'link set lo up\nlink set eth0 up\naddr add 198.51.100.1/24 dev eth0\nlink set d0 up\naddr add 203.0.113.1/24 dev d0\n');
    for (const g of [ns.g1, ns.g4]) must('ip', ['-n', g, '-batch', '-'], 'link set lo up\nlink set eth0 up\naddr add 10.0.0.100/24 dev eth0\nroute add default via 10.0.0.1\n');
    must('ip', ['-n', ns.g3, '-batch', '-'], `link set lo up\nlink set ${id}-d up\naddr add 203.0.113.2/24 dev ${id}-d\n`);
    // "host NAT": a bridge holding the gateway, the guest on it, masquerade out of up0.
    must('ip', ['-n', ns.host, '-batch', '-'], [
      'link set lo up', 'link add vbr type bridge', 'link set vbr up', 'addr add 10.0.0.1/24 dev vbr',
      'link set up0 up', 'addr add 198.51.100.90/24 dev up0', 'route add default via 198.51.100.1',
      `link add g2h master vbr up type veth peer name eth0 netns ${ns.g2}`,
      `netns exec ${ns.host} sysctl -qw net.ipv4.ip_forward=1`,
    ].join('\n') + '\n');
    must('ip', ['netns', 'exec', ns.host, 'nft', '-f', '-'], 'table ip hostnat {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\toifname "up0" ip saddr 10.0.0.0/24 masquerade\n\t}\n}\n');
    must('ip', ['-n', ns.g2, '-batch', '-'], 'link set lo up\nlink set eth0 up\naddr add 10.0.0.100/24 dev eth0\nroute add default via 10.0.0.1\n');
    await startNetwork(net, ctx);
    await startNetwork(macvlanNet, ctx);

    const iperfServer = spawn('ip', ['netns', 'exec', ns.up, 'iperf3', '-s', '-p', '5201'], { stdio: 'ignore' });
    const sink = spawn('ip', ['netns', 'exec', ns.up, process.execPath, 'bench/tcp-sink.mjs', '7000'], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(iperfServer, sink);
    await new Promise((r) => sink.stdout!.once('data', r));
    await new Promise((r) => setTimeout(r, 300));

    const paths = { natns: { g: ns.g1, dst: '198.51.100.1' }, natnsMacvlan: { g: ns.g4, dst: '198.51.100.1' }, hostNat: { g: ns.g2, dst: '198.51.100.1' }, direct: { g: ns.g3, dst: '203.0.113.1' } };
    const m: Record<string, Record<string, number[]>> = {};
    for (const k of Object.keys(paths)) m[k] = { gbps1: [], gbps4: [], rttMs: [], connPerS: [] };
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      for (const [k, p] of Object.entries(paths)) {
        progress.round(round_ + 1, ROUNDS, k);
        for (const [key, streams] of [['gbps1', 1], ['gbps4', 4]] as const) {
          m[k]![key]!.push(iperfGbps(p.g, p.dst, streams));
        }
        const ping = must('ip', ['netns', 'exec', p.g, 'busybox', 'ping', '-q', '-c', String(PINGS), p.dst]);
        m[k]!.rttMs!.push(Number(/= [\d.]+\/([\d.]+)\//.exec(ping)![1]));
        const conns = Number(must('ip', ['netns', 'exec', p.g, process.execPath, 'bench/tcp-sink.mjs', p.dst, '7000', '1000']).trim());
        m[k]!.connPerS!.push(conns);
      }
    }
    const med = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([kk, vv]) => [kk, round(median(vv), 3)]))]));
    return {
      seconds: SECONDS, rounds: ROUNDS, ...med,
      ratios: {
        natnsVsHostNat1: round(med.natns!.gbps1! / med.hostNat!.gbps1!),
        natnsVsHostNat4: round(med.natns!.gbps4! / med.hostNat!.gbps4!),
        natnsVsDirect1: round(med.natns!.gbps1! / med.direct!.gbps1!),
        macvlanVsHostNat1: round(med.natnsMacvlan!.gbps1! / med.hostNat!.gbps1!),
        macvlanVsHostNat4: round(med.natnsMacvlan!.gbps4! / med.hostNat!.gbps4!),
        macvlanConnRateVsHostNat: round(med.natnsMacvlan!.connPerS! / med.hostNat!.connPerS!),
        connRateVsHostNat: round(med.natns!.connPerS! / med.hostNat!.connPerS!),
      },
    };
  } finally {
    for (const c of children) c.kill('SIGKILL');
    for (const n of Object.values(ns)) {
      for (const pid of spawnSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) spawnSync('kill', ['-9', pid]);
    }
    await stopNetwork(net, ctx).catch(() => undefined);
    await stopNetwork(macvlanNet, ctx).catch(() => undefined);
    for (const r of ctx.records.list()) await releaseNetwork(r, ctx, { dropAdminForwards: true }).catch(() => undefined);
    spawnSync('ip', ['-force', '-batch', '-'], { input: [`link del ${id}-pb`, `link del ${id}-b1`, `link del ${id}-b4`, `link del ${id}-uph`, `link del ${id}-g1h`, `link del ${id}-g4h`, `link del ${id}-hh`, ...Object.values(ns).map((n) => `netns del ${n}`)].join('\n') + '\n' });
    rmSync(dir, { recursive: true, force: true });
  }
}
