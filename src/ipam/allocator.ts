import { compareAddresses, familyOf, fromBigInt, toBigInt, type Cidr } from '../domain/address.js';

/**
 * Lowest address in first..last that is not in `used`; undefined when the range is full. Pure.
 * With a `step` (a prefix pool: 2^(128 - prefix length)) it walks prefix starts.
 */
export function lowestFree(first: string, last: string, used: ReadonlySet<string>, step = 1n): string | undefined {
  const family = familyOf(first);
  const taken = new Set([...used].filter((a) => familyOf(a) === family).map(toBigInt));
  for (let a = toBigInt(first), end = toBigInt(last); a <= end; a += step) {
    if (!taken.has(a)) return fromBigInt(a, family);
  }
  return undefined;
}

/** How many addresses (or, with a step, prefixes) first..last holds. */
export function rangeSize(first: string, last: string, step = 1n): bigint {
  return (toBigInt(last) - toBigInt(first)) / step + 1n;
}

/**
 * How a pool hands out, for every lease backend alike: single addresses, or (an IPv6 pool with a
 * prefixLength, for NPTv6) whole routed prefixes, each leased under its first address.
 */
export function poolShape(pool: { first: string; last: string; subnet: Cidr; prefixLength?: number }) {
  const step = pool.prefixLength === undefined ? 1n : 1n << BigInt(128 - pool.prefixLength);
  return {
    step,
    /** The prefix length a lease of this pool carries: the upstream link's, or the routed prefix's. */
    prefix: pool.prefixLength ?? pool.subnet.prefix,
    inRange: (a: string) => familyOf(a) === familyOf(pool.first) && compareAddresses(a, pool.first) >= 0 && compareAddresses(a, pool.last) <= 0 &&
      (toBigInt(a) - toBigInt(pool.first)) % step === 0n,
    units: pool.prefixLength === undefined ? 'addresses' : `/${pool.prefixLength} prefixes`,
  };
}
