import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { upstreamText, type NetworkRecord } from '../domain/model.js';
import { COUNT_IN, COUNT_OUT } from '../plan/nft-text.js';
import { histogramSamples, type Family, type Labels } from '../sys/prom-text.js';
import { paths } from '../sys/paths.js';
import type { Context } from './context.js';
import { forwardsOf } from './forwards.js';
import { poolUsage } from './pools.js';
import { quickStates } from './status.js';
import { dhcpLeases } from './views.js';

/** Hook durations (seconds): a start is tens of milliseconds, a slow one a second or more. */
const BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Traffic {
  out: { packets: number; bytes: number };
  in: { packets: number; bytes: number };
}

interface NftRule { rule?: { comment?: string; expr?: { counter?: { packets: number; bytes: number } }[] } }

/** The counters of natns's counting rules in a router's tables, both families summed. */
async function traffic(ctx: Context, record: NetworkRecord): Promise<Traffic | undefined> {
  const { netns } = ctx.network(record);
  const r = await netns.run(['nft', '-j', 'list', 'ruleset']);
  if (r.exitCode !== 0) return undefined;
  const t: Traffic = { out: { packets: 0, bytes: 0 }, in: { packets: 0, bytes: 0 } };
  let found = false;
  for (const item of (JSON.parse(r.stdout) as { nftables?: NftRule[] }).nftables ?? []) {
    const side = item.rule?.comment === COUNT_OUT ? t.out : item.rule?.comment === COUNT_IN ? t.in : undefined;
    const counter = item.rule?.expr?.find((e) => e.counter)?.counter;
    if (!side || !counter) continue;
    found = true;
    side.packets += counter.packets;
    side.bytes += counter.bytes;
  }
  return found ? t : undefined;
}

/** Connection tracking in the router's namespace: entries now, and the limit. */
async function conntrack(ctx: Context, record: NetworkRecord): Promise<{ entries: number; limit: number } | undefined> {
  const r = await ctx.network(record).netns.run(['sysctl', '-n', 'net.netfilter.nf_conntrack_count', 'net.netfilter.nf_conntrack_max']);
  const [entries, limit] = r.stdout.trim().split('\n').map(Number);
  return r.exitCode === 0 && Number.isFinite(entries) && Number.isFinite(limit) ? { entries: entries!, limit: limit! } : undefined;
}

interface HookLine { level?: string; message?: string; ms?: number; event?: string; hook?: string }

/** Hook events from natns's log: how many of each, how many failed, and how long the timed ones took. */
export function hookEvents(logText: string): { ok: Map<string, number[]>; counts: Map<string, { ok: number; error: number }> } {
  const ok = new Map<string, number[]>();
  const counts = new Map<string, { ok: number; error: number }>();
  const count = (event: string, key: 'ok' | 'error') => {
    const c = counts.get(event) ?? { ok: 0, error: 0 };
    c[key] += 1;
    counts.set(event, c);
  };
  for (const line of logText.split('\n')) {
    if (!line.startsWith('{')) continue;
    let l: HookLine;
    try {
      l = JSON.parse(line) as HookLine;
    } catch {
      continue;
    }
    if (l.level === 'error' && l.hook && l.event) {
      count(`${l.hook} ${l.event}`, 'error');
      continue;
    }
    const m = /^(network|guest) (\S+ \S+)$/.exec(l.message ?? '');
    if (l.level !== 'info' || !m) continue;
    const event = `${m[1] === 'guest' ? 'qemu' : 'network'} ${m[2]}`;
    count(event, 'ok');
    if (typeof l.ms === 'number') ok.set(event, [...(ok.get(event) ?? []), l.ms / 1000]);
  }
  return { ok, counts };
}

/** Everything `natns metrics` exposes, as metric families (rendered as Prometheus text by the caller). */
export async function collectMetrics(ctx: Context): Promise<Family[]> {
  const records = ctx.records.list();
  const fam = (name: string, type: Family['type'], help: string): Family => ({ name, type, help, samples: [] });
  const state = fam('natns_network_state', 'gauge', 'the router as natns list sees it: 1 for the state it is in (up, drift, down, stopped), with its upstream address');
  // As natns list judges them, from natns's own records (metrics does not ask libvirt).
  const states = await quickStates(records, ctx, Promise.resolve(() => 'unknown'));
  const bytes = fam('natns_network_bytes_total', 'counter', 'bytes through the router, out (guests to upstream) and in (upstream to guests), from counters on natns\'s own nft rules');
  const packets = fam('natns_network_packets_total', 'counter', 'packets through the router, out and in, from counters on natns\'s own nft rules');
  const ctEntries = fam('natns_network_conntrack_entries', 'gauge', 'connection tracking entries in the router\'s namespace');
  const ctLimit = fam('natns_network_conntrack_limit', 'gauge', 'the connection tracking limit (nf_conntrack_max)');
  const forwards = fam('natns_network_forwards', 'gauge', 'published ports (admin and guest forwards)');
  const leases = fam('natns_network_dhcp_leases', 'gauge', 'leases in the network\'s dnsmasq lease file');
  for (const record of records) {
    const net: Labels = { network: record.name };
    const s = states.get(record.uuid)?.state;
    for (const st of ['up', 'drift', 'down', 'stopped']) state.samples.push({ labels: { ...net, upstream: upstreamText(record) || '-', state: st }, value: s === st ? 1 : 0 });
    forwards.samples.push({ labels: net, value: forwardsOf(ctx, record).length });
    leases.samples.push({ labels: net, value: dhcpLeases(ctx, record).leases.length });
    if (!ctx.network(record).netns.exists()) continue;
    const [t, ct] = await Promise.all([traffic(ctx, record), conntrack(ctx, record)]);
    if (t) {
      for (const dir of ['out', 'in'] as const) {
        bytes.samples.push({ labels: { ...net, direction: dir }, value: t[dir].bytes });
        packets.samples.push({ labels: { ...net, direction: dir }, value: t[dir].packets });
      }
    }
    if (ct) {
      ctEntries.samples.push({ labels: net, value: ct.entries });
      ctLimit.samples.push({ labels: net, value: ct.limit });
    }
  }
  const used = fam('natns_pool_used', 'gauge', 'addresses (or prefixes) of the pool that are leased, on any host sharing the lease store');
  const free = fam('natns_pool_free', 'gauge', 'addresses (or prefixes) of the pool that are free');
  for (const p of await poolUsage(ctx)) {
    used.samples.push({ labels: { pool: p.pool, bridge: p.bridge }, value: Number(p.used) });
    free.samples.push({ labels: { pool: p.pool, bridge: p.bridge }, value: Number(p.free) });
  }
  let logText = '';
  try {
    logText = readFileSync(join(paths.log(), 'natns.log'), 'utf8');
  } catch {
    // No log yet.
  }
  const events = hookEvents(logText);
  const total = fam('natns_hook_events_total', 'counter', 'hook events in natns\'s log (since it was last rotated), by result');
  for (const [event, c] of [...events.counts].sort()) {
    total.samples.push({ labels: { event, result: 'ok' }, value: c.ok }, { labels: { event, result: 'error' }, value: c.error });
  }
  const duration = fam('natns_hook_duration_seconds', 'histogram', 'how long natns\'s work in a hook took (successful timed events in the log)');
  for (const [event, values] of [...events.ok].sort()) duration.samples.push(...histogramSamples({ event }, values, BUCKETS));
  return [state, bytes, packets, ctEntries, ctLimit, forwards, leases, used, free, total, duration];
}
