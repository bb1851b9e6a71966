import { rmSync } from 'node:fs';
import { NatnsError } from '../domain/errors.js';
import type { RouterNames } from '../domain/names.js';
import { diffRouter, type RouterChanges } from '../plan/diff.js';
import { linkKind } from '../plan/observed.js';
import { PATCHES } from '../plan/patches/index.js';
import { nftReplaceScript, type DesiredRouter } from '../plan/router.js';
import { checkpoint } from '../sys/checkpoint.js';
import { writeFileAtomic } from '../sys/files.js';
import { Netns } from './netns.js';
import { observeHostLinks, observeRouter } from './observe.js';
import { writeSettings } from './settings.js';
import { linkExists, namespaceExists } from './sysfs.js';

/**
 * Converge the kernel on `desired`: observe, diff, then batched processes: stale namespace
 * links (rarely), one host ip batch, then side by side the namespace's ip batch, its sysctls and
 * one atomic nft -f. Each step is skipped when it has nothing to do. Safe to repeat.
 * `alongside` (the network's DHCP) runs with that last step, once the namespace and its links
 * exist; every step is waited for, and the router's own failure is the one reported first.
 */
export async function ensureRouter(desired: DesiredRouter, nftFile: string, alongside?: () => Promise<void>): Promise<RouterChanges> {
  const changes = diffRouter(desired, await observeRouter(desired));
  if (changes.conflicts.length > 0) throw new NatnsError(changes.conflicts.join('; '));
  const ns = new Netns(desired.namespace);
  // Before the router's port joins the bridge, so it forwards at once (STP off).
  writeSettings(changes.hostSettings);
  await ns.ipBatch(changes.nsFirst, `clear stale links in ${ns.label}`);
  await Netns.host.ipBatch(changes.host, `create namespace ${ns.label} and its patches`);
  await Netns.host.bridgeBatch(changes.fdb, `set the VXLAN remotes of ${desired.vxlan?.name ?? desired.vxlanName}`);
  checkpoint();
  // The three are independent once the links exist, so they run side by side; except that a
  // dual-stack router's IPv6 settings (forwarding, no router advertisements) must hold before
  // its first IPv6 address goes on, or the kernel would solicit routers and learn from them.
  const configure = (desired.nft6 === undefined
    ? Promise.all([ns.ipBatch(changes.ns, `configure addresses and routes in ${ns.label}`), ns.sysctl(changes.sysctls)])
    : ns.sysctl(changes.sysctls).then(() => ns.ipBatch(changes.ns, `configure addresses and routes in ${ns.label}`))
  ).then(() => ns.ipBatch(changes.ns6, `configure IPv6 policy routing in ${ns.label}`, 'ipv6'));
  const results = await Promise.allSettled([configure, changes.nft ? applyNft(desired, ns, nftFile) : undefined, alongside?.()]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return changes;
}

async function applyNft(desired: DesiredRouter, ns: Netns, nftFile: string): Promise<void> {
  // Whole or not at all (a full disk must not leave nft half a script); rebuilt on every start, so not fsync'd.
  writeFileAtomic(nftFile, nftReplaceScript(desired), { durable: false });
  await ns.nftApply(nftFile, `load the nft table of ${ns.label}`);
}

/**
 * Remove a router by its names alone (no plan needed, so it works after the config or the patch
 * kind changed): each patch kind takes its own devices down, then the namespace goes. Missing
 * objects are fine; what is left afterwards is reported together.
 */
export async function removeRouter(names: RouterNames): Promise<void> {
  const hostLinks = Object.values(await observeHostLinks(Object.values(names.hostDevices).filter(linkExists)));
  const ns = new Netns(names.namespace);
  const namespace = ns.exists();
  const plans = Object.values(PATCHES).map((p) => p.teardown(names, hostLinks, namespace));
  if (namespace) await ns.ipBatchForce(plans.flatMap((p) => p.ns));
  // libvirt deletes the bridge, not its ports: the stretch's VXLAN device stays unless removed.
  const lines = [...plans.flatMap((p) => p.host), ...hostLinks.filter((l) => l.ifname === names.hostDevices.vxlan && linkKind(l) === 'vxlan').map((l) => `link del ${l.ifname}`)];
  if (namespace) lines.push(`netns del ${names.namespace}`);
  const result = await Netns.host.ipBatchForce(lines);
  if (!result) return;
  const left = hostLinks.map((l) => l.ifname).filter((d) => lines.includes(`link del ${d}`) && linkExists(d));
  if (namespaceExists(names.namespace)) left.push(`namespace ${names.namespace}`);
  if (left.length > 0) {
    throw new NatnsError(`could not remove ${left.join(', ')}: ${result.stderr.trim() || 'no error given'}`);
  }
}

export function removeNftFile(nftFile: string): void {
  rmSync(nftFile, { force: true });
}
