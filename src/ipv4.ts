import { InputError } from './errors.js';
import { printable } from './text.js';

/** IPv4 arithmetic on 32-bit unsigned integers; everything here is pure. */

const DOTTED = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(text: string): boolean {
  return DOTTED.test(text);
}

export function parseIPv4(text: string, what: string): number {
  if (typeof text !== 'string' || !DOTTED.test(text)) {
    throw new InputError(`${what}: '${printable(text)}' is not an IPv4 address (expected dotted quad like 10.0.0.1)`);
  }
  return text.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

export function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
}

export function parsePrefix(text: string | number, what: string, min = 0, max = 32): number {
  const s = String(text);
  if (!/^\d{1,2}$/.test(s) || Number(s) < min || Number(s) > max) {
    throw new InputError(`${what}: prefix length '${printable(s)}' must be a whole number from ${min} to ${max}`);
  }
  return Number(s);
}

export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function networkOf(address: number, prefix: number): number {
  return (address & mask(prefix)) >>> 0;
}

export function broadcastOf(address: number, prefix: number): number {
  return (networkOf(address, prefix) | (~mask(prefix) >>> 0)) >>> 0;
}

export function inSubnet(address: number, network: number, prefix: number): boolean {
  return networkOf(address, prefix) === networkOf(network, prefix);
}

export function subnetsOverlap(a: number, aPrefix: number, b: number, bPrefix: number): boolean {
  const p = Math.min(aPrefix, bPrefix);
  return networkOf(a, p) === networkOf(b, p);
}

/** A usable host address: not the network or broadcast address of its subnet (for prefixes below /31). */
export function isHostAddress(address: number, prefix: number): boolean {
  if (prefix >= 31) return true;
  return address !== networkOf(address, prefix) && address !== broadcastOf(address, prefix);
}

export interface Cidr {
  address: number;
  prefix: number;
}

export function parseCidr(text: string, what: string): Cidr {
  const [addr, prefix, extra] = String(text).split('/');
  if (addr === undefined || prefix === undefined || extra !== undefined) {
    throw new InputError(`${what}: '${printable(text)}' is not a subnet in CIDR form (like 198.51.100.0/24)`);
  }
  return { address: parseIPv4(addr, what), prefix: parsePrefix(prefix, what) };
}

export function formatCidr(address: number, prefix: number): string {
  return `${formatIPv4(address)}/${prefix}`;
}
