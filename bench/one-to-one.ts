/**
 * 1:1 NAT: natns's stateless rules (its own table, rendered by this tree's planner) against the
 * same router publishing the guest through conntrack (DNAT in, SNAT out, as host NAT does it),
 * and against plain routing (no NAT), in the same run; tc `nat` too where the kernel has it.
 * Topology, all in throwaway namespaces:
 *   guest 10.0.0.100 ── router (lan 10.0.0.1 | wan 198.51.100.100) ── upstream 198.51.100.1
 * The guest's public address is 198.51.100.150; BENCH_ONETOONE_GUESTS (1..50, default 1) gives
 * the router that many 1:1 guests, the measured one's rules last. Throughput: iperf3 upstream →
 * public address (inbound, rewritten to the guest) and guest → upstream (outbound); install
 * time: applying the rules, median of 20.
 */
import { spawnSync } from 'node:child_process';
import type { OneToOne } from '../src/domain/model.js';
import { nftReplaceScript, planRouter } from '../src/plan/router.js';
import * as progress from './progress.js';
import { median, round } from './stats.js';

const SECONDS = Number(process.env.BENCH_IPERF_SECONDS ?? 3);

function run(cmd: string, args: string[], input = ''): { ok: boolean; out: string; err: string } {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  return { ok: r.status === 0, out: r.stdout, err: r.stderr };
}

function must(cmd: string, args: string[], input = ''): string {
  const r = run(cmd, args, input);
  if (!r.ok) throw new Error(`${cmd} ${args.join(' ')}: ${r.err}`);
  return r.out;
}

function ms(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const id = `bo${process.pid.toString(16).slice(-4)}`;
const NS = { guest: `${id}-g`, router: `${id}-r`, up: `${id}-u` };

function topology(): void {
  must('ip', ['-batch', '-'], [
    `netns add ${NS.guest}`, `netns add ${NS.router}`, `netns add ${NS.up}`,
    `link add ${id}l type veth peer name lan netns ${NS.router}`,
    `link set ${id}l netns ${NS.guest}`,
    `link add ${id}w type veth peer name wan netns ${NS.router}`,
    `link set ${id}w netns ${NS.up}`,
  ].join('\n') + '\n');
  must('ip', ['-n', NS.guest, '-batch', '-'], `link set lo up\nlink set ${id}l up\naddr add 10.0.0.100/24 dev ${id}l\nroute add default via 10.0.0.1\n`);
  must('ip', ['-n', NS.up, '-batch', '-'], `link set lo up\nlink set ${id}w up\naddr add 198.51.100.1/24 dev ${id}w\n`);
  must('ip', ['-n', NS.router, '-batch', '-'], [
    'link set lo up', 'link set lan up', 'addr add 10.0.0.1/24 dev lan', 'link set wan up', 'addr add 198.51.100.100/24 dev wan',
    'route add default via 198.51.100.1',
    `netns exec ${NS.router} sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.lan.rp_filter=0`,
    'neigh add proxy 198.51.100.150 dev wan', 'route add 198.51.100.150 via 10.0.0.100 dev lan',
  ].join('\n') + '\n');
}

/** The guest measured, and the other 1:1 guests the router holds (BENCH_ONETOONE_GUESTS in all). */
const MEASURED = { owner: 'bench-guest', private: '10.0.0.100', public: '198.51.100.150' };
const GUESTS = Math.max(1, Math.min(50, Number(process.env.BENCH_ONETOONE_GUESTS ?? 1)));

/** This tree's plan for the router namespace (its devices are named lan and wan, as natns's). */
function plan(oneToOne: OneToOne[]) {
  return planRouter({
    network: { name: `${id}-net`, uuid: '7a3c2f1e-0b4d-4c5e-9f60-1a2b3c4d5e6f', bridge: `${id}b`, private: { address: '10.0.0.1', prefix: 24 } },
    lease: { bridge: `${id}p`, address: '198.51.100.100', prefix: 24, gateway: '198.51.100.1' },
    mtu: { lan: 1500, wan: 1500 },
    oneToOne,
  });
}

/** The 1:1 guests: the measured one, and others that sort before it (their rules come first). */
export function benchMappings(guests: number): OneToOne[] {
  return [...Array.from({ length: guests - 1 }, (_, i) => ({ owner: `other-${i}`, private: `10.0.0.${101 + i}`, public: `198.51.100.${101 + i}` })), MEASURED];
}

/** natns's own table for a router with these 1:1 guests, as natns loads it. */
export function statelessScript(oneToOne: OneToOne[]): string {
  return nftReplaceScript(plan(oneToOne));
}

/**
 * The same router publishing the same guests through conntrack, the way host NAT publishes a
 * guest: natns's table without its stateless rules, DNAT in, SNAT out (before the network's
 * own SNAT), and the DNATed connections let through the forward chain.
 */
export function statefulScript(oneToOne: OneToOne[]): string {
  const lines = nftReplaceScript(plan([])).split('\n');
  const at = (needle: string) => lines.findIndex((l) => l.includes(needle));
  const fwd = lines.findIndex((l, i) => i > at('chain forward {') && l.includes('comment "natns:established"'));
  lines.splice(fwd + 1, 0, '\t\tct status dnat accept comment "bench:dnat"');
  lines.splice(at('comment "natns:snat"'), 0, ...oneToOne.map((o) => `\t\toifname "wan" ip saddr ${o.private} snat to ${o.public} comment "bench:1to1"`));
  lines.splice(at('\tchain input {'), 0,
    '\tchain prerouting {', '\t\ttype nat hook prerouting priority dstnat; policy accept;',
    ...oneToOne.map((o) => `\t\tiifname "wan" ip daddr ${o.public} dnat to ${o.private} comment "bench:1to1"`), '\t}', '');
  lines.splice(at('comment "natns:antispoof-wan"'), 0, ...oneToOne.map((o) => `\t\tiifname "wan" ip saddr ${o.public} drop comment "natns:antispoof-wan"`));
  return lines.join('\n');
}

let mappings: OneToOne[] = [];

function installNft(): void {
  must('ip', ['netns', 'exec', NS.router, 'nft', '-f', '-'], statelessScript(mappings));
}

function installStateful(): void {
  must('ip', ['netns', 'exec', NS.router, 'nft', '-f', '-'], statefulScript(mappings));
}

function removeNat(): void {
  run('ip', ['netns', 'exec', NS.router, 'nft', 'delete', 'table', 'ip', 'natns']);
  run('tc', ['-n', NS.router, 'qdisc', 'del', 'dev', 'wan', 'ingress']);
  run('tc', ['-n', NS.router, 'qdisc', 'del', 'dev', 'lan', 'ingress']);
}

/** tc nat on both ingresses; returns the kernel's refusal when the action is not available. */
function installTc(): string | undefined {
  const batch = [
    'qdisc add dev wan ingress',
    'filter add dev wan parent ffff: protocol ip prio 10 u32 match ip dst 198.51.100.150/32 action nat ingress 198.51.100.150/32 10.0.0.100',
    'qdisc add dev lan ingress',
    'filter add dev lan parent ffff: protocol ip prio 10 u32 match ip src 10.0.0.100/32 action nat egress 10.0.0.100/32 198.51.100.150',
  ].join('\n') + '\n';
  const r = run('tc', ['-n', NS.router, '-batch', '-'], batch);
  return r.ok ? undefined : r.err.trim().split('\n')[0];
}

/** Inbound iperf3 from upstream to `target`, in Gbit/s; `out`: from the guest to upstream instead. */
function iperf(target: string, direction: 'in' | 'out' = 'in'): number {
  const [serverNs, clientNs, dst] = direction === 'in' ? [NS.guest, NS.up, target] : [NS.up, NS.guest, '198.51.100.1'];
  const server = spawnSync('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-D', '-1', '-p', '5201'], { encoding: 'utf8' });
  if (server.status !== 0) throw new Error(`iperf3 server: ${server.stderr}`);
  spawnSync('sleep', ['0.2']);
  const out = must('ip', ['netns', 'exec', clientNs, 'iperf3', '-c', dst, '-p', '5201', '-t', String(SECONDS), '-J']);
  return JSON.parse(out).end.sum_received.bits_per_second / 1e9;
}

export async function oneToOne() {
  mappings = benchMappings(GUESTS);
  topology();
  try {
    const tcError = installTc();
    removeNat();
    const result: Record<string, unknown> = {};
    const rounds = 3;
    const gbps: Record<string, number[]> = { routed: [], nft: [], stateful: [], nftOut: [], statefulOut: [], ...(tcError ? {} : { tc: [] }) };
    for (let i = 0; i < rounds; i++) {
      progress.round(i + 1, rounds, 'throughput');
      // Plain routing to the guest's private address: the ceiling for this topology.
      must('ip', ['-n', NS.up, 'route', 'replace', '10.0.0.0/24', 'via', '198.51.100.100']);
      gbps.routed!.push(iperf('10.0.0.100'));
      installNft();
      gbps.nft!.push(iperf('198.51.100.150'));
      gbps.nftOut!.push(iperf('198.51.100.150', 'out'));
      removeNat();
      installStateful();
      gbps.stateful!.push(iperf('198.51.100.150'));
      gbps.statefulOut!.push(iperf('198.51.100.150', 'out'));
      removeNat();
      if (!tcError) {
        installTc();
        gbps.tc!.push(iperf('198.51.100.150'));
        removeNat();
      }
    }
    const installMs: Record<string, number[]> = { nft: [], ...(tcError ? {} : { tc: [] }) };
    for (let i = 0; i < 20; i++) {
      progress.round(i + 1, 20, 'rule install time');
      installMs.nft!.push(ms(installNft));
      removeNat();
      if (!tcError) {
        installMs.tc!.push(ms(() => installTc()));
        removeNat();
      }
    }
    for (const [k, v] of Object.entries(gbps)) result[`${k}Gbps`] = round(median(v));
    for (const [k, v] of Object.entries(installMs)) result[`${k}InstallMs`] = round(median(v));
    result.nftVsRouted = round(median(gbps.nft!) / median(gbps.routed!));
    result.nftVsStatefulIn = round(median(gbps.nft!) / median(gbps.stateful!));
    result.nftVsStatefulOut = round(median(gbps.nftOut!) / median(gbps.statefulOut!));
    result.guests = GUESTS;
    if (tcError) result.tc = `unavailable on this kernel: ${tcError}`;
    else result.tcVsNft = round(median(gbps.tc!) / median(gbps.nft!));
    return result;
  } finally {
    // Whatever still runs in the throwaway namespaces (an iperf3 server) goes with them.
    for (const ns of Object.values(NS)) {
      for (const pid of run('ip', ['netns', 'pids', ns]).out.split('\n').filter(Boolean)) run('kill', ['-9', pid]);
    }
    run('ip', ['-force', '-batch', '-'], `netns del ${NS.guest}\nnetns del ${NS.router}\nnetns del ${NS.up}\n`);
  }
}
