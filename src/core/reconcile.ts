import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { errorText, NatnsError } from '../domain/errors.js';
import { upstreamBridgeOf, upstreamText, type Lease, type NetworkRecord, type NetworkSpec } from '../domain/model.js';
import { hostDeviceNames, isNatnsHostDevice, NAMESPACE_PREFIX, namespaceName } from '../domain/names.js';
import { dnsmasqAbsence } from '../kernel/dnsmasq.js';
import { hostForwardDrops } from '../kernel/host.js';
import { Netns } from '../kernel/netns.js';
import { linkExists, namespaceExists } from '../kernel/sysfs.js';
import { readNetwork } from '../libvirt/network-xml.js';
import { libvirtUri, virsh } from '../libvirt/virsh.js';
import { child, parseXml } from '../libvirt/xml.js';
import { offBridgeText } from '../plan/guest-taps.js';
import { badFileText } from '../sys/bad-files.js';
import { paths } from '../sys/paths.js';
import { run } from '../sys/run.js';
import type { Context, NetworkHandle } from './context.js';
import { observeGuestTaps } from './guest-taps.js';
import { releaseNetwork, repairNetwork, stopNetwork } from './network.js';
import { salvage, scanState } from './salvage.js';
import { inspect } from './status.js';

export interface Finding {
  network?: string;
  what: string;
}

function claimed(ctx: Context, leases: Lease[]): { namespaces: Set<string>; devices: Set<string>; uuids: Set<string> } {
  // A network whose record cannot be read still owns its router and lease (its lease names it):
  // it is reported as a bad file, not as orphans for repair to remove.
  const unreadable = ctx.records.unreadable().map((uuid) => ({ uuid, name: leases.find((l) => l.owner.uuid === uuid)?.owner.name }));
  const networks: { uuid: string; name?: string | undefined }[] = [...ctx.records.list(), ...unreadable];
  return {
    namespaces: new Set(networks.flatMap((n) => n.name === undefined ? [] : [namespaceName(n.name)])),
    devices: new Set(networks.flatMap((n) => Object.values(hostDeviceNames(n.uuid)))),
    uuids: new Set(networks.map((n) => n.uuid)),
  };
}

/** What libvirt says about its networks, by UUID. Asked by the CLI only: a hook calling libvirt would deadlock it. */
export interface LibvirtNetworks {
  active: Set<string>;
  /** Defined but not running. */
  inactive: Set<string>;
}

export async function libvirtNetworks(): Promise<LibvirtNetworks> {
  // One virsh process, one connection: both lists, told apart by a line virsh echoes between them.
  const out = await virsh(['net-list --uuid ; echo natns-split ; net-list --uuid --inactive'], 'ask libvirt (virsh net-list)');
  const lines = out.split('\n').map((l) => l.trim().toLowerCase());
  const split = lines.indexOf('natns-split');
  if (split < 0) throw new NatnsError(`ask libvirt (virsh net-list): its answer lacks the line between the two lists: ${out.trim().slice(0, 200)}`);
  const uuids = (part: string[]) => new Set(part.filter((l) => /^[0-9a-f-]{36}$/.test(l)));
  return { active: uuids(lines.slice(0, split)), inactive: uuids(lines.slice(split + 1)) };
}

/**
 * Read-only: every difference between what natns planned and what the kernel holds, and, when
 * libvirt answered, every router of a network libvirt does not run.
 */
export async function check(ctx: Context, only?: string, libvirt?: LibvirtNetworks): Promise<Finding[]> {
  const findings: Finding[] = [];
  const records = ctx.records.list().filter((r) => only === undefined || r.name === only || r.uuid === only);
  for (const record of records) {
    const says = libvirt === undefined ? 'unknown' : libvirt.active.has(record.uuid) ? 'active' : libvirt.inactive.has(record.uuid) ? 'inactive' : 'undefined';
    findings.push(...(await checkNetwork(record, ctx, says)).map((what) => ({ network: record.name, what })));
  }
  const running = records.filter((r) => r.phase === 'running');
  const bridges = [...new Set(running.flatMap((r) => [r.bridge, upstreamBridgeOf(r)]))].sort();
  findings.push(...(await hostForwardDrops(bridges)).map((what) => ({ what })));
  if (only === undefined) findings.push(...(await orphans(ctx)).map((o) => ({ what: o.what })));
  // Every state file that could not be used (all of them when checking everything).
  if (only === undefined) await scanState(ctx);
  findings.push(...ctx.badFiles.take().map((b) => ({ what: badFileText(b) })));
  return findings;
}

/**
 * libvirt's word decides whether a network should have a router at all. 'inactive' means defined
 * but not running: a router there is one libvirt will never stop (libvirtd killed in the middle of
 * a net-start, after natns's hooks built it), so it is reported. A network libvirt does not
 * define at all ('undefined') is judged by natns's record alone, as without libvirt: for an admin
 * such a router is as dead as an inactive network's (a transient network whose net-create was
 * cut short), and check --repair removes both; but check cannot tell it from a record whose
 * hooks never came from this libvirt (the integration tests drive the hooks with a state folder
 * of their own), and a network libvirt forgot is `natns gc`'s case, as its address is.
 */
async function checkNetwork(record: NetworkRecord, ctx: Context, libvirt: 'active' | 'inactive' | 'undefined' | 'unknown'): Promise<string[]> {
  const handle = ctx.network(record);
  if (libvirt === 'active' && record.phase !== 'running') {
    const why = record.phase === 'failed' ? 'its last start failed' : `natns has it ${record.phase}`;
    return [`libvirt reports it active, but its router was never completed (${why}): 'natns check --repair' builds it`];
  }
  // A failed start was torn down and libvirt calls the network inactive: nothing in the kernel
  // differs, yet the network the admin started is not running. That is a finding.
  if (record.phase === 'failed') {
    return [`its last start failed (the reason is in ${join(paths.log(), 'natns.log')}); start it again with 'virsh net-start ${record.name}' once that is fixed`];
  }
  if (libvirt === 'inactive') {
    const left = routerLeft(handle);
    return left.length ? [`libvirt does not report it active, but its router is up (${left.join(', ')}): 'natns check --repair' removes it`] : [];
  }
  if (record.phase !== 'running') {
    const left = routerLeft(handle);
    return left.length ? [`the network is ${record.phase} but its router is still present: ${left.join(', ')}`] : [];
  }
  const found = await inspect(record, ctx);
  if (!found.changes) return [`the network should be running but its bridge ${record.bridge} or ${upstreamBridgeOf(record)} is gone`];
  const taps = observeGuestTaps(handle, record.bridge, ctx.guests.list());
  const out = [...found.changes.conflicts, ...found.changes.differences, ...[...taps.plug, ...taps.elsewhere].map((g) => offBridgeText(record.bridge, g))];
  const dhcp = record.dhcp || record.private6 ? dnsmasqAbsence(handle.dhcpDir, handle.names.namespace) : undefined;
  if (dhcp) out.push(dhcp);
  return out;
}

/** The router's namespace and host devices that exist. */
function routerLeft(handle: NetworkHandle): string[] {
  return [
    ...(handle.netns.exists() ? [`namespace ${handle.names.namespace}`] : []),
    ...Object.values(handle.names.hostDevices).filter(linkExists),
  ];
}

interface Orphan {
  what: string;
  remove: () => Promise<void>;
}

/** natns-named objects and leases that no network record claims. */
async function orphans(ctx: Context): Promise<Orphan[]> {
  const leases = await ctx.ipam.leases();
  const { namespaces, devices, uuids } = claimed(ctx, leases);
  const out: Orphan[] = [];
  for (const ns of safeReaddir('/run/netns')) {
    if (!ns.startsWith(NAMESPACE_PREFIX) || namespaces.has(ns)) continue;
    out.push({
      what: `namespace ${ns} belongs to no network`,
      remove: async () => {
        // Whatever still runs in it (a dnsmasq) must go first, or the namespace lingers.
        const pids = (await Netns.host.run(['ip', 'netns', 'pids', ns])).stdout.split('\n').filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // Gone already.
          }
        }
        await Netns.host.run(['ip', 'netns', 'del', ns]);
      },
    });
  }
  for (const dev of safeReaddir('/sys/class/net')) {
    if (!isNatnsHostDevice(dev) || devices.has(dev)) continue;
    out.push({ what: `link ${dev} belongs to no network`, remove: async () => void (await Netns.host.run(['ip', 'link', 'del', dev])) });
  }
  for (const lease of leases) {
    // A stopped guest keeps its public address; repair releases it once libvirt forgets the guest.
    if (uuids.has(lease.owner.uuid) || lease.owner.kind === 'guest') continue;
    out.push({
      what: `lease ${lease.address} on ${lease.bridge} belongs to no network (was ${lease.owner.name})`,
      remove: () => ctx.ipam.release(lease, lease.owner.uuid),
    });
  }
  return out;
}

/**
 * Converge on what libvirt says: networks it reports active are (re)built from their live XML,
 * routers of inactive ones are removed, networks it no longer defines are forgotten and their
 * addresses released, and natns-named leftovers nobody claims are removed. With `only`, just that
 * network's router is converged or removed. Repair never makes a network worse: what it cannot
 * fix is reported and left as it was (see repairNetwork).
 */
export async function repair(ctx: Context, only?: string, options: { dryRun?: boolean } = {}): Promise<{ actions: string[]; errors: string[] }> {
  const dryRun = options.dryRun === true;
  const actions: string[] = [];
  const errors: string[] = [];
  const attempt = async (what: string | undefined, fn: () => Promise<string | undefined>) => {
    try {
      const done = await fn();
      if (done) actions.push(done);
    } catch (err) {
      errors.push(what ? `${what}: ${errorText(err)}` : errorText(err));
    }
  };
  const wanted = (n: { name: string; uuid: string }) => only === undefined || n.name === only || n.uuid === only;
  // Taken before libvirt is asked: libvirt holds a network while its hooks run, so a hook its
  // answer does not reflect writes the record after this, and repairNetwork and stopNetwork then
  // leave that network alone.
  const seen = new Map(ctx.records.list().map((r) => [r.uuid, r.updated]));
  let networks: LibvirtNetworks;
  let guests: Set<string>;
  try {
    [networks, guests] = await Promise.all([libvirtNetworks(), libvirtUuids(['list', '--uuid', '--all'])]);
  } catch (err) {
    // Without libvirt's word, repair could only guess which routers should run.
    throw new NatnsError(`cannot repair without libvirt: ${errorText(err)}; start libvirtd, then run 'natns check --repair' again`);
  }
  const { active } = networks;
  const defined = { networks: new Set([...networks.active, ...networks.inactive]), guests };
  // A dry run leaves unusable state files where they are: check lists them.
  if (only === undefined && !dryRun) {
    // Unusable state files go aside first, rebuilt from libvirt and the rest of the state.
    const salvaged = await salvage(ctx, { active, spec: (uuid) => defined.networks.has(uuid) ? libvirtSpec(uuid, ['--inactive']) : Promise.resolve(undefined) });
    actions.push(...salvaged.actions);
    errors.push(...salvaged.errors);
  }
  for (const uuid of active) {
    const known = ctx.records.read(uuid);
    if (known && !wanted(known)) continue;
    // Errors name the network themselves.
    await attempt(undefined, async () => {
      const xml = await virsh(['net-dumpxml', uuid], `read network ${uuid} from libvirt`);
      const node = child(parseXml(xml, `network ${uuid}`), 'network');
      const spec = node ? readNetwork(node).spec : undefined;
      if (!spec || !wanted(spec)) return undefined;
      if (dryRun) return wouldConverge(spec.name, known, ctx);
      const result = await repairNetwork(spec, ctx, seen.get(uuid));
      actions.push(...result.guests.plugged);
      if (result.guests.error) errors.push(`network '${spec.name}': ${result.guests.error}`);
      const n = result.changes.differences.length;
      const done = [...(n ? [`${n} difference${n === 1 ? '' : 's'} repaired`] : []), ...(result.dnsmasq === 'started' ? ['dnsmasq started'] : [])];
      return done.length ? `converged network ${spec.name} (${done.join(', ')})` : undefined;
    });
  }
  for (const record of ctx.records.list()) {
    if (active.has(record.uuid) || !wanted(record)) continue;
    await attempt(`network '${record.name}'`, async () => {
      const { names } = ctx.network(record);
      const left = namespaceExists(names.namespace) || Object.values(names.hostDevices).some(linkExists);
      if (dryRun) return left ? `would remove the router of inactive network ${record.name}` : undefined;
      if (left || record.phase === 'running') {
        await stopNetwork(record, ctx, { seen: seen.get(record.uuid) });
        if (left) actions.push(`removed the router of inactive network ${record.name}`);
      }
      return undefined;
    });
  }
  if (only !== undefined) return { actions, errors };
  const released = await releaseUndefined(ctx, defined, { dryRun });
  actions.push(...released.actions);
  errors.push(...released.errors);
  for (const o of await orphans(ctx)) {
    await attempt(o.what, async () => {
      if (dryRun) return `would remove: ${o.what}`;
      await o.remove();
      return `removed: ${o.what}`;
    });
  }
  return { actions, errors };
}

/** What repair would do to an active network, from the same comparison `natns show` makes. */
async function wouldConverge(name: string, record: NetworkRecord | undefined, ctx: Context): Promise<string | undefined> {
  if (!record) return `would build the router of network ${name} (natns holds no record of it)`;
  const found = await inspect(record, ctx);
  if (!found.changes) return `would build the router of network ${name} (its bridges are not both present)`;
  const n = found.changes.conflicts.length + found.changes.differences.length + observeGuestTaps(ctx.network(record), record.bridge, ctx.guests.list()).plug.length;
  return n ? `would converge network ${name} (${n} difference${n === 1 ? '' : 's'})` : undefined;
}

async function libvirtSpec(uuid: string, flags: string[] = []) {
  const xml = await virsh(['net-dumpxml', ...flags, uuid], `read network ${uuid}`);
  const node = child(parseXml(xml, `network ${uuid}`), 'network');
  return node ? readNetwork(node).spec : undefined;
}

/**
 * The natns networks among these (libvirt's persistent definitions), read by one virsh process
 * however many there are: virsh runs commands separated by ';' in one connection. A network
 * undefined meanwhile is left out.
 */
export async function libvirtSpecs(uuids: string[]): Promise<NetworkSpec[]> {
  const valid = uuids.filter((u) => /^[0-9a-f-]{36}$/.test(u));
  if (valid.length === 0) return [];
  const r = await run('virsh', ['-c', libvirtUri(), valid.map((u) => `net-dumpxml --inactive ${u}`).join(' ; ')]);
  const specs: NetworkSpec[] = [];
  for (const doc of r.stdout.split('</network>').slice(0, -1)) {
    try {
      const node = child(parseXml(`${doc.slice(doc.indexOf('<network'))}</network>`, 'network from libvirt'), 'network');
      const spec = node ? readNetwork(node).spec : undefined;
      if (spec) specs.push(spec);
    } catch {
      // Not natns's to judge: a network whose metadata natns refuses shows up at its start.
    }
  }
  return specs;
}

async function libvirtUuids(args: string[]): Promise<Set<string>> {
  const out = await virsh(args, `ask libvirt (virsh ${args[0]})`);
  return new Set(out.split('\n').map((l) => l.trim().toLowerCase()).filter(Boolean));
}

/**
 * libvirt runs no hook when a network or guest is undefined: release the addresses of those it
 * no longer knows (a network whose router still exists is left for repair to stop first). Each
 * failure is reported and the rest carries on.
 */
export async function releaseUndefined(
  ctx: Context,
  defined?: { networks: Set<string>; guests: Set<string> },
  options: { dryRun?: boolean } = {},
): Promise<{ actions: string[]; errors: string[] }> {
  const actions: string[] = [];
  const errors: string[] = [];
  const networks = defined?.networks ?? await libvirtUuids(['net-list', '--uuid', '--all']);
  const guests = defined?.guests ?? await libvirtUuids(['list', '--uuid', '--all']);
  for (const record of ctx.records.list()) {
    if (networks.has(record.uuid) || ctx.network(record).netns.exists()) continue;
    if (options.dryRun) {
      actions.push(`would release ${upstreamText(record)} of undefined network ${record.name}`);
      continue;
    }
    try {
      // libvirt forgot the network: nothing could ever use its forwards again.
      await releaseNetwork(record, ctx, { dropAdminForwards: true });
      actions.push(`released ${upstreamText(record)} of undefined network ${record.name}`);
    } catch (err) {
      errors.push(`${record.name}: ${errorText(err)}`);
    }
  }
  for (const lease of (await ctx.ipam.leases()).filter((l) => l.owner.kind === 'guest' && !guests.has(l.owner.uuid))) {
    if (options.dryRun) {
      actions.push(`would release public address ${lease.address} of undefined guest ${lease.owner.name}`);
      continue;
    }
    try {
      await ctx.ipam.release(lease, lease.owner.uuid);
      ctx.guests.remove(lease.owner.uuid);
      actions.push(`released public address ${lease.address} of undefined guest ${lease.owner.name}`);
    } catch (err) {
      errors.push(`guest ${lease.owner.name}: ${errorText(err)}`);
    }
  }
  return { actions, errors };
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
