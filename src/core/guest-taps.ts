import { NatnsError } from '../domain/errors.js';
import type { GuestRecord, PortRecord } from '../domain/model.js';
import { Netns } from '../kernel/netns.js';
import { taps } from '../kernel/sysfs.js';
import { diffGuestTaps, plugLines, tapMatches, type GuestTapChanges } from '../plan/guest-taps.js';
import type { NetworkHandle } from './context.js';

/**
 * A network's guest interfaces, from natns's own records: the port records (the network hook's
 * port-created events) and, for a guest with natns metadata whose port natns never heard of (it
 * started before the hooks were installed, say), the qemu hook's guest record. Never from
 * libvirt, so the `started` hook may use it.
 */
function recorded(handle: NetworkHandle, guests: GuestRecord[]): { ports: PortRecord[]; restored: Set<string> } {
  const ports = handle.ports.list();
  const known = new Set(ports.map((p) => p.mac.toLowerCase()));
  const extra = guests.flatMap((g) => g.networks
    .filter((n) => n.network === handle.name && !known.has(n.mac.toLowerCase()))
    .map((n) => ({ port: `guest-${g.uuid}-${n.mac.toLowerCase().replaceAll(':', '')}`, vm: g.name, vmUuid: g.uuid, mac: n.mac })));
  return { ports: [...ports, ...extra], restored: new Set(extra.map((p) => p.port)) };
}

/**
 * How the network's recorded guest interfaces stand against its bridge, from those records and
 * the kernel (sysfs). libvirt 9 makes a new bridge at `virsh net-start` and leaves running
 * guests' taps hanging loose.
 */
export function observeGuestTaps(handle: NetworkHandle, bridge: string, guests: GuestRecord[] = []): GuestTapChanges {
  const { ports } = recorded(handle, guests);
  if (ports.length === 0) return { plug: [], elsewhere: [], gone: [] };
  return diffGuestTaps(bridge, ports, taps((mac) => ports.some((p) => tapMatches(mac, p.mac))));
}

/** The same for many networks with one pass over sysfs (natns list). */
export function observeGuestTapsOf(networks: { handle: NetworkHandle; bridge: string }[], guests: GuestRecord[] = []): GuestTapChanges[] {
  const ports = networks.map((n) => recorded(n.handle, guests).ports);
  const macs = new Set(ports.flat().map((p) => p.mac.toLowerCase().slice(2)));
  const found = macs.size ? taps((mac) => macs.has(mac.toLowerCase().slice(2))) : [];
  return networks.map((n, i) => diffGuestTaps(n.bridge, ports[i]!, found));
}

/**
 * Plug every loose tap of the network's guests back into its bridge (one `ip -batch`). At a
 * network's start (`forgetGone`) the records whose tap is gone are forgotten too: the guest
 * stopped while the network was down, when libvirt sends no port event, and no new port can
 * appear while the network is not running. Repair leaves them: a guest starting right then has
 * its port recorded before libvirt makes its tap. Returns a line per tap plugged; the caller
 * holds the network lock.
 */
export async function plugGuestTaps(handle: NetworkHandle, bridge: string, guests: GuestRecord[], options: { forgetGone: boolean }): Promise<string[]> {
  const { restored } = recorded(handle, guests);
  const changes = observeGuestTaps(handle, bridge, guests);
  if (options.forgetGone) for (const port of changes.gone) handle.ports.remove(port.port);
  // A guest known from its guest record alone gets the port record it lacked, once its tap is plugged.
  for (const { port } of changes.plug) if (restored.has(port.port)) handle.ports.write(port.port, port);
  if (changes.plug.length === 0) return [];
  // -force: one tap gone since it was seen must not keep the others off the bridge.
  const r = await Netns.host.ipBatchForce(plugLines(bridge, changes.plug));
  if (r && r.exitCode !== 0) throw new NatnsError(`could not plug guest interfaces back into ${bridge}: ${r.stderr.trim().split('\n').join('; ')}`);
  return changes.plug.map((g) => `plugged guest ${g.port.vm}'s interface ${g.tap.name} back into ${bridge}`);
}
