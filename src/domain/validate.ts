import {
  broadcastAddress, contains, familyOf, isHostAddress, overlaps, subnetText, type Cidr,
} from './address.js';
import { InputError } from './errors.js';
import type { Proto } from './model.js';
import { printable } from './text.js';

/**
 * Network names become namespace names, file names and nft comments, so only a conservative
 * alphabet passes; anything else is refused before it reaches a command line.
 */
export const MAX_NETWORK_NAME = 48;
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function validateNetworkName(name: string | undefined): string {
  if (name === undefined || name === '') throw new InputError('network XML has no <name>');
  if (name.length > MAX_NETWORK_NAME || !NETWORK_NAME.test(name)) {
    throw new InputError(
      `network name '${printable(name)}' cannot be used with natns: use at most ${MAX_NETWORK_NAME} letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function validateUuid(uuid: string | undefined, what: string): string {
  const lower = uuid?.toLowerCase();
  if (lower === undefined || !UUID.test(lower)) {
    throw new InputError(`${what}: '${printable(uuid ?? '')}' is not a UUID`);
  }
  return lower;
}

/** Linux interface names: 1..15 bytes, no '/', ':', whitespace, and not '.' or '..'. */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export function validateIfName(name: string | undefined, what: string): string {
  if (name === undefined || !IFNAME.test(name) || name === '.' || name === '..') {
    throw new InputError(
      `${what}: '${printable(name ?? '')}' is not a valid interface name (1 to 15 letters, digits, '_', '.' or '-')`,
    );
  }
  return name;
}

/** A host's name in shared leases: a DNS-like name, so it reads well and never needs quoting. */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;

export function validateHostName(name: string, what: string): string {
  if (!HOST_NAME.test(name)) {
    throw new InputError(`${what}: '${printable(name)}' is not a host name (1 to 253 letters, digits, '.', '_' or '-', starting with a letter or digit)`);
  }
  return name;
}

const POOL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;

export function validatePoolName(name: string | undefined, what: string): string {
  if (name === undefined || !POOL_NAME.test(name)) {
    throw new InputError(`${what}: pool name '${printable(name ?? '')}' must be 1 to 32 letters, digits, '_', '.' or '-'`);
  }
  return name;
}

export function parsePort(value: string | undefined, what: string): number {
  if (value === undefined || !/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new InputError(`${what}: '${printable(value ?? '')}' is not a port number (1 to 65535)`);
  }
  return Number(value);
}

export function parseProto(value: string | undefined, what: string): Proto {
  if (value !== 'tcp' && value !== 'udp') throw new InputError(`${what}: proto must be tcp or udp, not '${printable(value ?? '')}'`);
  return value;
}

export function wholeNumber(text: string, what: string, min: number, max: number): number {
  if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new InputError(`${what}: '${printable(text)}' must be a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A MAC address in libvirt's lower-case colon form; undefined when it is not one. */
export function macOrUndefined(value: string | undefined): string | undefined {
  const mac = value?.toLowerCase();
  return mac !== undefined && MAC.test(mac) ? mac : undefined;
}

/** The private side must not overlap the upstream side, or the namespace could not tell them apart. */
export function checkNoOverlap(priv: Cidr, upstream: Cidr): void {
  if (overlaps(priv, upstream)) {
    throw new InputError(
      `private subnet ${subnetText(priv)} overlaps upstream subnet ${subnetText(upstream)}; the namespace could not route between them`,
    );
  }
}

/** The kernel's "Nexthop has invalid gateway" / "Invalid scope", said before we touch the kernel. */
export function checkOnLink(address: string, prefix: number, gateway: string, what: string): void {
  const own = { address, prefix };
  const subnet = subnetText(own);
  if (!contains(own, gateway)) {
    throw new InputError(`${what} gateway ${gateway} is not on-link for ${address}/${prefix}: it must lie inside ${subnet}`);
  }
  if (gateway === address) throw new InputError(`${what} address ${address} is the same as its gateway`);
  if (!isHostAddress(own)) {
    throw new InputError(`${what} address ${address} is the network or broadcast address of ${subnet}`);
  }
  if (familyOf(address) === 'ipv4' && prefix < 31 && gateway === broadcastAddress(own)) {
    throw new InputError(`${what} gateway ${gateway} is the broadcast address of ${subnet}`);
  }
}

/** An address a guest may hold on a network: a host address of its private subnet other than the gateway. */
export function isGuestAddress(priv: Cidr, ip: string): boolean {
  return contains(priv, ip) && isHostAddress({ address: ip, prefix: priv.prefix }) && ip !== priv.address;
}
