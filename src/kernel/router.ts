import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { NatnsError } from '../errors.js';
import { diffRouter, type RouterChanges } from '../plan/diff.js';
import { hostDeviceNames, namespaceName, NS_LAN, NS_WAN } from '../plan/names.js';
import { nftReplaceScript, type DesiredRouter } from '../plan/router.js';
import { checkpoint } from '../core/checkpoint.js';
import { run, runChecked } from './exec.js';
import { inNetns } from './netns.js';
import { ipBatch, ipJsonLines, type IpLink } from './ip.js';
import { observeRouter } from './observe.js';
import { linkExists, namespaceExists } from './sysfs.js';

/**
 * Converge the kernel on `desired`: observe, diff, then at most three batched processes
 * (host ip batch, namespace ip batch that also runs sysctl and nft -f). Safe to repeat.
 */
export async function ensureRouter(desired: DesiredRouter, nftFile: string): Promise<RouterChanges> {
  const changes = diffRouter(desired, await observeRouter(desired));
  if (changes.conflicts.length > 0) throw new NatnsError(changes.conflicts.join('; '));
  const ns = desired.namespace;
  await ipBatch(changes.nsFirst, `clear stale links in ${ns}`, ns);
  await ipBatch(changes.host, `create namespace ${ns} and its veth patches`);
  checkpoint();
  // The three are independent once the links exist, so they run side by side.
  const sysctls = Object.entries(changes.sysctls).map(([k, v]) => `${k}=${v}`);
  await Promise.all([
    ipBatch(changes.ns, `configure addresses and routes in ${ns}`, ns),
    sysctls.length > 0 ? inside(ns, ['sysctl', '-qw', ...sysctls], `set ${sysctls.join(' ')} in ${ns}`) : undefined,
    changes.nft ? applyNft(desired, nftFile) : undefined,
  ]);
  return changes;
}

async function inside(ns: string, argv: string[], what: string, input?: string): Promise<void> {
  const cmd = inNetns(ns, argv);
  await runChecked(cmd.file, cmd.args, what, input);
}

/** One nft transaction; the script is also kept on disk as what natns last applied. */
async function applyNft(desired: DesiredRouter, nftFile: string): Promise<void> {
  const script = nftReplaceScript(desired);
  mkdirSync(dirname(nftFile), { recursive: true });
  writeFileSync(nftFile, script, { mode: 0o600 });
  await inside(desired.namespace, ['nft', '-f', nftFile], `load the nft table of ${desired.namespace}`);
}

export interface RouterNames {
  namespace: string;
  hostDevices: string[];
}

export function routerNames(network: string, uuid: string): RouterNames {
  const d = hostDeviceNames(uuid);
  return { namespace: namespaceName(network), hostDevices: [d.lan, d.wan] };
}

/**
 * Remove a router by its names alone (no plan needed, so it works after the config changed).
 * Deleting the host ends first takes the veth pairs down synchronously; a namespace delete
 * alone would leave them to the kernel's asynchronous cleanup and a quick restart would collide.
 * A device under natns's name that is not a veth is not natns's and stays. Missing objects are
 * fine; every failure is collected and reported together.
 */
export async function removeRouter(names: RouterNames): Promise<void> {
  const present = names.hostDevices.filter(linkExists);
  const kinds = present.length ? ((await ipJsonLines(present.map((d) => `link show dev ${d}`))).flat() as IpLink[]) : [];
  const ours = kinds.filter((l) => l.linkinfo?.info_kind === 'veth').map((l) => l.ifname);
  const lines = ours.map((d) => `link del ${d}`);
  // A macvlan patch has no host end: delete it inside first, because a namespace's own links die
  // asynchronously and the next start's macvlan with the same MAC on the same lower would collide.
  if (present.length === 0 && namespaceExists(names.namespace)) {
    const cmd = inNetns(names.namespace, ['ip', '-force', '-batch', '-']);
    await run(cmd.file, cmd.args, `link del ${NS_LAN}\nlink del ${NS_WAN}\n`);
  }
  if (namespaceExists(names.namespace)) lines.push(`netns del ${names.namespace}`);
  if (lines.length === 0) return;
  const result = await run('ip', ['-force', '-batch', '-'], lines.join('\n') + '\n');
  const left = ours.filter(linkExists);
  if (namespaceExists(names.namespace)) left.push(`namespace ${names.namespace}`);
  if (left.length > 0) {
    throw new NatnsError(`could not remove ${left.join(', ')}: ${result.stderr.trim() || 'no error given'}`);
  }
}

export function removeNftFile(nftFile: string): void {
  rmSync(nftFile, { force: true });
}
