/**
 * Dual stack, measured against IPv4 in the same run, alternating:
 *   data plane: one dual-stack router, its guest sending to the upstream host over IPv4 (SNAT)
 *               and over IPv6 (NAT66, SNAT in the ip6 table); and an NPTv6 router's guest
 *               (stateless prefix rewrite), iperf3 with 1 and 4 streams;
 *   start:      the `started` work in-process (startNetwork), as hook-latency.ts measures it, for
 *               an IPv4-only network, the same with DHCP (it then runs dnsmasq, as every
 *               dual-stack network does for its router advertisements), and a dual-stack one;
 *               and their stop (stopNetwork).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeContext } from '../src/core/context.js';
import { releaseNetwork, startNetwork, stopNetwork } from '../src/core/network.js';
import { linkLocalFromMac } from '../src/domain/address.js';
import type { NetworkSpec } from '../src/domain/model.js';
import { routerMac } from '../src/domain/names.js';
import { iperfGbps } from './dataplane.js';
import * as progress from './progress.js';
import { median, round } from './stats.js';

const ROUNDS = Number(process.env.BENCH_DATAPLANE_ROUNDS ?? 3);
const START_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);

function must(cmd: string, args: string[], input = ''): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

export async function dualStack() {
  const id = `b6${process.pid.toString(16).slice(-4)}`;
  const dir = mkdtempSync(join(tmpdir(), 'natns-ds-'));
  // dnsmasq drops to nobody and must still read its files here.
  chmodSync(dir, 0o755);
  const env = { NATNS_CONFIG: join(dir, 'config.json'), NATNS_STATE_DIR: join(dir, 'state') };
  const pb = `${id}-pb`;
  writeFileSync(env.NATNS_CONFIG, JSON.stringify({
    pools: {
      v4: { bridge: pb, subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.110' },
      v6: { bridge: pb, subnet: '2001:db8:100::/64', gateway: '2001:db8:100::1', first: '2001:db8:100::100', last: '2001:db8:100::110' },
      npt: { bridge: pb, subnet: '2001:db8:200::/60', prefixLength: 64, gateway: '2001:db8:100::1' },
    },
  }));
  const ctx = makeContext(env.NATNS_STATE_DIR, env.NATNS_CONFIG);
  const ns = { up: `${id}-up`, g1: `${id}-g1`, g2: `${id}-g2` };
  const v4: NetworkSpec['private'] = { address: '10.0.0.1', prefix: 24 };
  const p6 = { address: 'fd00::1', prefix: 64 };
  const net = (suffix: string, extra: Partial<NetworkSpec> = {}): NetworkSpec => ({
    name: `${id}-${suffix}`, uuid: randomUUID(), bridge: `${id}-b${suffix}`, private: v4, upstream: { kind: 'pool', pool: 'v4' }, ...extra,
  });
  const dual = net('d', { private6: p6, upstream6: { kind: 'pool', pool: 'v6', mode: 'nat66' } });
  const npt = net('n', { private6: p6, upstream6: { kind: 'pool', pool: 'npt', mode: 'nptv6' } });
  const starts = { ipv4: net('4'), ipv4Dhcp: net('h', { dhcp: { start: '10.0.0.100', end: '10.0.0.199' } }), dualStack: net('s', { private6: p6, upstream6: { kind: 'pool', pool: 'v6', mode: 'nat66' } }) };
  const all = [dual, npt, ...Object.values(starts)];
  const children: ReturnType<typeof spawn>[] = [];
  try {
    must('ip', ['-batch', '-'], [
      `link add ${pb} type bridge`, `link set ${pb} up`, ...all.flatMap((n) => [`link add ${n.bridge} type bridge`, `link set ${n.bridge} up`]),
      ...Object.values(ns).map((n) => `netns add ${n}`),
      `link add ${id}-uph master ${pb} up type veth peer name eth0 netns ${ns.up}`,
      `link add ${id}-g1h master ${dual.bridge} up type veth peer name eth0 netns ${ns.g1}`,
      `link add ${id}-g2h master ${npt.bridge} up type veth peer name eth0 netns ${ns.g2}`,
    ].join('\n') + '\n');
    // The host takes no part in IPv6 on the provider bridge.
    must('sysctl', ['-qw', `net.ipv6.conf.${pb}.disable_ipv6=1`]);
    must('ip', ['-n', ns.up, '-batch', '-'], 'link set lo up\nlink set eth0 up\naddr add 198.51.100.1/24 dev eth0\naddr add 2001:db8:100::1/64 dev eth0 nodad\n');
    for (const g of [ns.g1, ns.g2]) {
      must('ip', ['netns', 'exec', g, 'sysctl', '-qw', 'net.ipv6.conf.eth0.accept_ra=0']);
      must('ip', ['-n', g, '-batch', '-'], 'link set lo up\nlink set eth0 up\naddr add 10.0.0.100/24 dev eth0\nroute add default via 10.0.0.1\naddr add fd00::100/64 dev eth0 nodad\nroute add default via fd00::1 dev eth0\n');
    }
    await startNetwork(dual, ctx);
    await startNetwork(npt, ctx);
    const prefix = ctx.records.read(npt.uuid)!.lease6!.address;
    must('ip', ['-n', ns.up, '-6', 'route', 'add', `${prefix}/64`, 'via', linkLocalFromMac(routerMac(npt.uuid, 'wan')), 'dev', 'eth0']);

    const iperfServer = spawn('ip', ['netns', 'exec', ns.up, 'iperf3', '-s', '-p', '5201'], { stdio: 'ignore' });
    children.push(iperfServer);
    await new Promise((r) => setTimeout(r, 300));
    // Neighbours resolved and the server up before anything is timed.
    for (const [g, dst] of [[ns.g1, '198.51.100.1'], [ns.g1, '2001:db8:100::1'], [ns.g2, '2001:db8:100::1']] as const) {
      for (let i = 0; i < 20 && spawnSync('ip', ['netns', 'exec', g, 'busybox', 'ping', '-c', '1', '-W', '1', dst]).status !== 0; i++);
    }

    const paths = { ipv4: { g: ns.g1, dst: '198.51.100.1' }, nat66: { g: ns.g1, dst: '2001:db8:100::1' }, nptv6: { g: ns.g2, dst: '2001:db8:100::1' } };
    const m: Record<string, Record<string, number[]>> = {};
    for (const k of Object.keys(paths)) m[k] = { gbps1: [], gbps4: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const [k, p] of Object.entries(paths)) {
        progress.round(r + 1, ROUNDS, k);
        for (const [key, streams] of [['gbps1', 1], ['gbps4', 4]] as const) m[k]![key]!.push(iperfGbps(p.g, p.dst, streams));
      }
    }

    // Start and stop work, alternated per round; each network is started once untimed first.
    const s: Record<string, { start: number[]; stop: number[] }> = {};
    for (const [k, n] of Object.entries(starts)) {
      s[k] = { start: [], stop: [] };
      await startNetwork(n, ctx);
      await stopNetwork(n, ctx);
    }
    for (let r = 0; r < START_ROUNDS; r++) {
      progress.round(r + 1, START_ROUNDS, 'start');
      for (const [k, n] of Object.entries(starts)) {
        s[k]!.start.push(await timed(() => startNetwork(n, ctx)));
        s[k]!.stop.push(await timed(() => stopNetwork(n, ctx)));
      }
    }
    const med = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([kk, vv]) => [kk, round(median(vv), 3)]))]));
    const startMs = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(median(v.start))]));
    const stopMs = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(median(v.stop))]));
    return {
      rounds: ROUNDS, startRounds: START_ROUNDS, ...med, startMs, stopMs,
      ratios: {
        nat66VsIpv4_1: round(med.nat66!.gbps1! / med.ipv4!.gbps1!),
        nat66VsIpv4_4: round(med.nat66!.gbps4! / med.ipv4!.gbps4!),
        nptv6VsIpv4_1: round(med.nptv6!.gbps1! / med.ipv4!.gbps1!),
        nptv6VsIpv4_4: round(med.nptv6!.gbps4! / med.ipv4!.gbps4!),
        startDualVsIpv4: round(startMs.dualStack! / startMs.ipv4!),
        startDualVsIpv4Dhcp: round(startMs.dualStack! / startMs.ipv4Dhcp!),
      },
    };
  } finally {
    for (const c of children) c.kill('SIGKILL');
    for (const n of Object.values(ns)) {
      for (const pid of spawnSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) spawnSync('kill', ['-9', pid]);
    }
    for (const n of all) await stopNetwork(n, ctx).catch(() => undefined);
    for (const r of ctx.records.list()) await releaseNetwork(r, ctx, { dropAdminForwards: true }).catch(() => undefined);
    spawnSync('ip', ['-force', '-batch', '-'], {
      input: [`link del ${pb}`, ...all.map((n) => `link del ${n.bridge}`), `link del ${id}-uph`, `link del ${id}-g1h`, `link del ${id}-g2h`, ...Object.values(ns).map((n) => `netns del ${n}`)].join('\n') + '\n',
    });
    rmSync(dir, { recursive: true, force: true });
  }
}
