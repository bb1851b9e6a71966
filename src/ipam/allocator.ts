import { familyOf, fromBigInt, toBigInt } from '../domain/address.js';

/** Lowest address in first..last that is not in `used`; undefined when the range is full. Pure. */
export function lowestFree(first: string, last: string, used: ReadonlySet<string>): string | undefined {
  const family = familyOf(first);
  const taken = new Set([...used].filter((a) => familyOf(a) === family).map(toBigInt));
  for (let a = toBigInt(first), end = toBigInt(last); a <= end; a++) {
    if (!taken.has(a)) return fromBigInt(a, family);
  }
  return undefined;
}

/** How many addresses first..last holds. */
export function rangeSize(first: string, last: string): bigint {
  return toBigInt(last) - toBigInt(first) + 1n;
}
