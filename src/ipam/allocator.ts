import { familyOf, fromBigInt, toBigInt } from '../domain/address.js';

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
