import { NFT_TABLE } from '../domain/names.js';
import { unwrapElements } from '../plan/nft-text.js';
import { NOTHING, type FdbEntry, type IpLink, type IpNeighbor, type IpRoute, type IpRule, type ObservedRouter } from '../plan/observed.js';
import type { DesiredRouter } from '../plan/router.js';
import { Netns } from './netns.js';
import { readSettings } from './settings.js';
import { linkExists, linkIndex, namespaceExists } from './sysfs.js';

/** What the kernel holds right now for one router, read with ip -j, sysctl and nft. */
export async function observeRouter(desired: DesiredRouter): Promise<ObservedRouter> {
  const namespace = namespaceExists(desired.namespace);
  const hostNames = [desired.lan.host, desired.wan.host, desired.vxlanName].filter(linkExists);
  const hostSettings = readSettings(Object.keys(desired.hostSettings));
  // The common case at network start: nothing exists yet, and sysfs told us so without a process.
  if (!namespace && hostNames.length === 0) return { ...NOTHING, hostSettings };
  const lowers: Record<string, number> = {};
  for (const l of [desired.lan, desired.wan]) {
    const index = linkIndex(l.master);
    if (index !== undefined) lowers[l.master] = index;
  }
  const [host, inside, fdb] = await Promise.all([
    observeHostLinks(hostNames),
    namespace ? observeInside(desired) : Promise.resolve({ ns: [], routes: [], tableRoutes: [], proxyNeighbors: [], rules: [], sysctls: {}, nft: undefined }),
    hostNames.includes(desired.vxlanName) ? observeFdb(desired.vxlanName) : Promise.resolve([]),
  ]);
  return { namespace, host, lowers, hostSettings, ...inside, fdb };
}

/** The static (permanent) FDB entries of a VXLAN device; learned ones come and go with traffic. */
async function observeFdb(dev: string): Promise<FdbEntry[]> {
  const r = await Netns.host.run(['bridge', '-j', 'fdb', 'show', 'dev', dev]);
  if (r.exitCode !== 0 || r.stdout.trim() === '') return [];
  const entries = JSON.parse(r.stdout) as (FdbEntry & { state?: string })[];
  return entries.filter((e) => e.state === 'permanent' && e.dst !== undefined).map((e) => ({ mac: e.mac, ...(e.dst ? { dst: e.dst } : {}) }));
}

/** The host-namespace devices of these names that exist, as `ip -j -d link show` describes them. */
export async function observeHostLinks(names: string[]): Promise<Record<string, IpLink>> {
  if (names.length === 0) return {};
  const docs = await Netns.host.ipJson(names.map((n) => `link show dev ${n}`));
  const out: Record<string, IpLink> = {};
  for (const link of docs.flat() as IpLink[]) out[link.ifname] = link;
  return out;
}

async function observeInside(desired: DesiredRouter) {
  const ns = new Netns(desired.namespace);
  const keys = Object.keys(desired.sysctls);
  const dualStack = desired.nft6 !== undefined;
  // `route show table all` lists both families' routes.
  // IPv6 policy rules take a process of their own (-6): asked only where the plan has some.
  const [docs, sysctl, nft, docs6] = await Promise.all([
    ns.ipJson(['addr show', 'route show table all', 'neigh show proxy', 'rule show']),
    ns.run(['sysctl', '-n', ...keys]),
    // Both tables from one process: `nft -f` cannot list, and `list ruleset` prints each table
    // exactly as `list table` does.
    // Stateless (-s): the counters' values are not part of the plan.
    ns.run(dualStack ? ['nft', '-s', 'list', 'ruleset'] : ['nft', '-s', 'list', 'table', 'ip', NFT_TABLE]),
    desired.tproxy?.ipv6 ? ns.ipJson(['rule show'], 'ipv6') : Promise.resolve(undefined),
  ]);
  // Each command printed one JSON array (an empty one prints as []); tell them apart by shape.
  const arrays = (docs as Record<string, unknown>[][]).filter((a) => a.length > 0);
  const links = (arrays.find((a) => 'ifname' in a[0]!) ?? []) as unknown as IpLink[];
  const rules = (arrays.find((a) => 'priority' in a[0]! && 'src' in a[0]!) ?? []) as unknown as IpRule[];
  const proxyNeighbors = (arrays.find((a) => 'proxy' in a[0]!) ?? []) as unknown as IpNeighbor[];
  const allRoutes = (arrays.find((a) => 'dst' in a[0]! && !('proxy' in a[0]!)) ?? []) as unknown as IpRoute[];
  const routes = allRoutes.filter((r) => r.table === undefined || r.table === 'main');
  const tableRoutes = allRoutes.filter((r) => r.table !== undefined && r.table !== 'main' && r.table !== 'local');
  const values = sysctl.stdout.split('\n');
  const sysctls: Record<string, string> = {};
  keys.forEach((k, i) => {
    if (sysctl.exitCode === 0 && values[i] !== undefined) sysctls[k] = values[i]!.trim();
  });
  if (!dualStack) return { ns: links, routes, tableRoutes, proxyNeighbors, rules, sysctls, nft: nft.exitCode === 0 ? unwrapElements(nft.stdout) : undefined };
  const ruleset = nft.exitCode === 0 ? unwrapElements(nft.stdout) : '';
  return {
    ns: links, routes, tableRoutes, proxyNeighbors, rules, sysctls, ...(docs6 ? { rules6: (docs6.flat() as IpRule[]) } : {}),
    nft: tableOf(ruleset, 'ip'), nft6: tableOf(ruleset, 'ip6'),
  };
}

/** One table of `nft list ruleset`, as `nft list table` prints it; undefined when absent. */
export function tableOf(ruleset: string, family: 'ip' | 'ip6'): string | undefined {
  const lines = ruleset.split('\n');
  const start = lines.indexOf(`table ${family} ${NFT_TABLE} {`);
  if (start < 0) return undefined;
  const end = lines.indexOf('}', start);
  return end < 0 ? undefined : lines.slice(start, end + 1).join('\n') + '\n';
}
