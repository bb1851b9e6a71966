/** Lowest address in first..last that is not in `used`; undefined when the range is full. Pure. */
export function lowestFree(first: number, last: number, used: ReadonlySet<number>): number | undefined {
  for (let a = first; a <= last; a++) {
    if (!used.has(a)) return a;
  }
  return undefined;
}
