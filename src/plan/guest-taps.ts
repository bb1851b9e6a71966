import type { PortRecord } from '../domain/model.js';

/** A tap device on the host, as sysfs shows it. */
export interface TapState {
  name: string;
  mac: string;
  /** The bridge (or other master) it is a port of; undefined when it hangs loose. */
  master?: string;
}

/** One guest interface natns recorded on the network, with the tap that carries it now. */
export interface GuestTap {
  port: PortRecord;
  tap: TapState;
}

/** How a network's recorded guest interfaces stand against the bridge. */
export interface GuestTapChanges {
  /** Taps that hang loose (libvirt's new bridge after a restart, or knocked off): plug them in. */
  plug: GuestTap[];
  /** Taps that are ports of another master: reported, never moved (someone put them there). */
  elsewhere: GuestTap[];
  /** Records whose tap is gone: the guest stopped or was unplugged while natns did not hear it. */
  gone: PortRecord[];
}

/**
 * libvirt gives a guest's tap the guest's MAC with the first octet set to 0xfe (so the bridge
 * never takes the guest's own address): the two match on the last five octets.
 */
export function tapMatches(tapMac: string, guestMac: string): boolean {
  return tapMac.toLowerCase().slice(2) === guestMac.toLowerCase().slice(2) && tapMac.length === guestMac.length;
}

/** The diff: which recorded guest interfaces are off the network's bridge. Pure. */
export function diffGuestTaps(bridge: string, ports: PortRecord[], taps: TapState[]): GuestTapChanges {
  const out: GuestTapChanges = { plug: [], elsewhere: [], gone: [] };
  for (const port of [...ports].sort((a, b) => a.vm.localeCompare(b.vm) || a.mac.localeCompare(b.mac))) {
    const tap = taps.find((t) => tapMatches(t.mac, port.mac));
    if (!tap) out.gone.push(port);
    else if (tap.master === undefined) out.plug.push({ port, tap });
    else if (tap.master !== bridge) out.elsewhere.push({ port, tap });
  }
  return out;
}

/** One `ip -batch` for the host: each loose tap back into the bridge, up. */
export function plugLines(bridge: string, plug: GuestTap[]): string[] {
  return plug.flatMap(({ tap }) => [`link set dev ${tap.name} master ${bridge}`, `link set dev ${tap.name} up`]);
}

export function offBridgeText(bridge: string, g: GuestTap): string {
  return g.tap.master === undefined
    ? `guest ${g.port.vm}'s interface ${g.tap.name} (${g.port.mac}) is off the network's bridge ${bridge}: 'natns check --repair' plugs it back`
    : `guest ${g.port.vm}'s interface ${g.tap.name} (${g.port.mac}) is a port of ${g.tap.master}, not of the network's bridge ${bridge}: move it with 'ip link set ${g.tap.name} master ${bridge}' if it belongs here`;
}
