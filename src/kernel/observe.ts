import type { DesiredRouter } from '../plan/router.js';
import { NFT_TABLE } from '../plan/names.js';
import { run } from './exec.js';
import { ipJsonLines, type IpLink, type IpRoute } from './ip.js';
import { linkExists, namespaceExists } from './sysfs.js';

/** What the kernel holds right now for one router, read with ip -j, sysctl and nft. */
export interface ObservedRouter {
  namespace: boolean;
  /** The two host-side veth ends, by name; absent when missing. */
  host: Record<string, IpLink>;
  /** Links inside the namespace with their addresses. */
  ns: IpLink[];
  routes: IpRoute[];
  sysctls: Record<string, string>;
  nft: string | undefined;
}

export const NOTHING: ObservedRouter = { namespace: false, host: {}, ns: [], routes: [], sysctls: {}, nft: undefined };

export async function observeRouter(desired: DesiredRouter): Promise<ObservedRouter> {
  const namespace = namespaceExists(desired.namespace);
  const hostNames = [desired.lan.host, desired.wan.host].filter(linkExists);
  // The common case at network start: nothing exists yet, and sysfs told us so without a process.
  if (!namespace && hostNames.length === 0) return NOTHING;
  const [host, inside] = await Promise.all([
    observeHostLinks(hostNames),
    namespace ? observeInside(desired) : Promise.resolve({ ns: [], routes: [], sysctls: {}, nft: undefined }),
  ]);
  return { namespace, host, ...inside };
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
    ipJsonLines(['addr show', 'route show table main'], ns),
    run('ip', ['netns', 'exec', ns, 'sysctl', '-n', ...keys]),
    run('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'ip', NFT_TABLE]),
  ]);
  const arrays = docs as unknown[][];
  const links = (arrays.find((a) => a.length > 0 && 'ifname' in (a[0] as object)) ?? []) as IpLink[];
  const routes = (arrays.find((a) => a.length > 0 && 'dst' in (a[0] as object)) ?? []) as IpRoute[];
  const values = sysctl.stdout.split('\n');
  const sysctls: Record<string, string> = {};
  keys.forEach((k, i) => {
    if (sysctl.exitCode === 0 && values[i] !== undefined) sysctls[k] = values[i]!.trim();
  });
  return { ns: links, routes, sysctls, nft: nft.exitCode === 0 ? nft.stdout : undefined };
}
