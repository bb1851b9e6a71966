import ipaddr from 'ipaddr.js';
import { InputError } from './errors.js';
import { printable } from './text.js';

/**
 * Addresses at rest are canonical strings ('10.0.0.1', '2001:db8::1'); arithmetic happens here,
 * on the family's integer value, so every layer above speaks text and IPv6 needs no second set
 * of helpers. Parsing and validation are ipaddr.js's; everything here is pure.
 */
export type Family = 'ipv4' | 'ipv6';

/** An address with a prefix length: the gateway 10.0.0.1/24 is { address: '10.0.0.1', prefix: 24 }. */
export interface Cidr {
  address: string;
  prefix: number;
}

const BITS: Record<Family, number> = { ipv4: 32, ipv6: 128 };

/** Dotted quads without leading zeros (ipaddr.js alone also takes '10.1' or octal forms). */
function isStrictIPv4(text: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(text) && !/(^|\.)0\d/.test(text);
}

export function isAddress(text: string, family?: Family): boolean {
  if (typeof text !== 'string') return false;
  if (family !== 'ipv6' && isStrictIPv4(text)) return true;
  return family !== 'ipv4' && text.includes(':') && ipaddr.IPv6.isValid(text) && !text.includes('%');
}

export function familyOf(address: string): Family {
  return address.includes(':') ? 'ipv6' : 'ipv4';
}

/** Validate and return the canonical text; the message says which family was expected. */
export function parseAddress(text: string, what: string, family: Family = 'ipv4'): string {
  if (!isAddress(text, family)) {
    const expected = family === 'ipv4' ? 'an IPv4 address (expected dotted quad like 10.0.0.1)' : 'an IPv6 address (like 2001:db8::1)';
    throw new InputError(`${what}: '${printable(text)}' is not ${expected}`);
  }
  return canonical(text);
}

function canonical(text: string): string {
  const ip = ipaddr.parse(text);
  return ip.kind() === 'ipv6' ? (ip as ipaddr.IPv6).toRFC5952String() : ip.toString();
}

export function parsePrefixLength(text: string | number, what: string, min = 0, max = 32): number {
  const s = String(text);
  if (!/^\d{1,3}$/.test(s) || Number(s) < min || Number(s) > max) {
    throw new InputError(`${what}: prefix length '${printable(s)}' must be a whole number from ${min} to ${max}`);
  }
  return Number(s);
}

/** 'ADDRESS/PREFIX', address and prefix checked against the family. */
export function parseCidr(text: string, what: string, family: Family = 'ipv4'): Cidr {
  const [addr, prefix, extra] = String(text).split('/');
  if (addr === undefined || prefix === undefined || extra !== undefined) {
    const example = family === 'ipv4' ? '198.51.100.0/24' : '2001:db8::/64';
    throw new InputError(`${what}: '${printable(text)}' is not a subnet in CIDR form (like ${example})`);
  }
  return { address: parseAddress(addr, what, family), prefix: parsePrefixLength(prefix, what, 0, BITS[family]) };
}

export function toBigInt(address: string): bigint {
  return ipaddr.parse(address).toByteArray().reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

export function fromBigInt(value: bigint, family: Family): string {
  const bytes: number[] = [];
  for (let i = BITS[family] / 8 - 1, v = value; i >= 0; i--, v >>= 8n) bytes[i] = Number(v & 255n);
  return canonical(ipaddr.fromByteArray(bytes).toString());
}

function hostMask(prefix: number, family: Family): bigint {
  return (1n << BigInt(BITS[family] - prefix)) - 1n;
}

export function networkAddress(c: Cidr): string {
  const family = familyOf(c.address);
  return fromBigInt(toBigInt(c.address) & ~hostMask(c.prefix, family), family);
}

export function broadcastAddress(c: Cidr): string {
  const family = familyOf(c.address);
  return fromBigInt(toBigInt(c.address) | hostMask(c.prefix, family), family);
}

/** The subnet a CIDR lies in, as text: 10.0.0.1/24 -> '10.0.0.0/24'. */
export function subnetText(c: Cidr): string {
  return `${networkAddress(c)}/${c.prefix}`;
}

export function cidrText(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

export function netmask(prefix: number, family: Family = 'ipv4'): string {
  return fromBigInt(((1n << BigInt(BITS[family])) - 1n) & ~hostMask(prefix, family), family);
}

export function contains(c: Cidr, address: string): boolean {
  if (familyOf(address) !== familyOf(c.address)) return false;
  return networkAddress({ address, prefix: c.prefix }) === networkAddress(c);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  if (familyOf(a.address) !== familyOf(b.address)) return false;
  const prefix = Math.min(a.prefix, b.prefix);
  return networkAddress({ address: a.address, prefix }) === networkAddress({ address: b.address, prefix });
}

/** A usable host address: not the network or broadcast address of its IPv4 subnet (below /31). */
export function isHostAddress(c: Cidr): boolean {
  if (familyOf(c.address) === 'ipv6' || c.prefix >= 31) return true;
  return c.address !== networkAddress(c) && c.address !== broadcastAddress(c);
}

/**
 * Why an IPv6 address cannot be a network's own (private gateway, upstream address, pool
 * address): link-local and multicast addresses are not routable identities, and the unspecified,
 * loopback and IPv4-mapped ones are not addresses a router can hold. Undefined when it can.
 */
export function unusableIPv6(address: string): string | undefined {
  if (familyOf(address) !== 'ipv6') return undefined;
  const names: Record<string, string> = {
    linkLocal: 'a link-local address (fe80::/10)', multicast: 'a multicast address (ff00::/8)',
    unspecified: 'the unspecified address', loopback: 'the loopback address', ipv4Mapped: 'an IPv4-mapped address',
  };
  return names[ipaddr.parse(address).range()];
}

export function isLinkLocal(address: string): boolean {
  return familyOf(address) === 'ipv6' && ipaddr.parse(address).range() === 'linkLocal';
}

/**
 * The modified EUI-64 link-local address of a MAC (RFC 4291, appendix A): what the kernel would
 * have made itself, written down so a router whose devices make none (addrgenmode none) still
 * has the same stable link-local address after every rebuild.
 */
export function linkLocalFromMac(mac: string): string {
  const b = mac.split(':').map((h) => parseInt(h, 16));
  const bytes = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  return canonical(ipaddr.fromByteArray(bytes).toString());
}

export function compareAddresses(a: string, b: string): number {
  const x = toBigInt(a), y = toBigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
