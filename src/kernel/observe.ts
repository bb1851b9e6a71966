import type { DesiredRouter } from '../plan/router.js';
import { NFT_TABLE } from '../plan/names.js';
import { run } from './exec.js';
import { ipJsonLines, type IpLink, type IpNeighbor, type IpRoute, type IpRule } from './ip.js';
import { inNetns } from './netns.js';
import { linkExists, linkIndex, namespaceExists } from './sysfs.js';

function runIn(ns: string, argv: string[]) {
  const cmd = inNetns(ns, argv);
  return run(cmd.file, cmd.args);
}

/** What the kernel holds right now for one router, read with ip -j, sysctl and nft. */
export interface ObservedRouter {
  namespace: boolean;
  /** The two host-side veth ends, by name; absent when missing. */
  host: Record<string, IpLink>;
  /** ifindex of each macvlan's lower device in the host namespace. */
  lowers: Record<string, number>;
  /** Links inside the namespace with their addresses. */
  ns: IpLink[];
  /** Routes of the main table. */
  routes: IpRoute[];
  /** Routes of every other table (the transparent proxy's local route lives in one). */
  tableRoutes: IpRoute[];
  proxyNeighbors: IpNeighbor[];
  rules: IpRule[];
  sysctls: Record<string, string>;
  nft: string | undefined;
}

export const NOTHING: ObservedRouter = {
  namespace: false, host: {}, lowers: {}, ns: [], routes: [], tableRoutes: [], proxyNeighbors: [], rules: [], sysctls: {}, nft: undefined,
};

export async function observeRouter(desired: DesiredRouter): Promise<ObservedRouter> {
  const namespace = namespaceExists(desired.namespace);
  const hostNames = [desired.lan.host, desired.wan.host].filter(linkExists);
  // The common case at network start: nothing exists yet, and sysfs told us so without a process.
  if (!namespace && hostNames.length === 0) return NOTHING;
  const lowers: Record<string, number> = {};
  for (const l of [desired.lan, desired.wan].filter((l) => l.kind === 'macvlan')) {
    const index = linkIndex(l.master);
    if (index !== undefined) lowers[l.master] = index;
  }
  const [host, inside] = await Promise.all([
    observeHostLinks(hostNames),
    namespace ? observeInside(desired) : Promise.resolve({ ns: [], routes: [], tableRoutes: [], proxyNeighbors: [], rules: [], sysctls: {}, nft: undefined }),
  ]);
  return { namespace, host, lowers, ...inside };
}

async function observeHostLinks(names: string[]): Promise<Record<string, IpLink>> {
  if (names.length === 0) return {};
  const docs = await ipJsonLines(names.map((n) => `link show dev ${n}`));
  const out: Record<string, IpLink> = {};
  for (const link of docs.flat() as IpLink[]) out[link.ifname] = link;
  return out;
}

async function observeInside(desired: DesiredRouter) {
  const ns = desired.namespace;
  const keys = Object.keys(desired.sysctls);
  const [docs, sysctl, nft] = await Promise.all([
    ipJsonLines(['addr show', 'route show table all', 'neigh show proxy', 'rule show'], ns),
    runIn(ns, ['sysctl', '-n', ...keys]),
    runIn(ns, ['nft', 'list', 'table', 'ip', NFT_TABLE]),
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
  return { ns: links, routes, tableRoutes, proxyNeighbors, rules, sysctls, nft: nft.exitCode === 0 ? nft.stdout : undefined };
}
