import { table } from './output.js';

/**
 * A table that fits `width` columns: while it is wider, the widest of the `shrink` columns loses
 * characters from its end (marked with '~'), never below its header's width. `--json` has every
 * value whole.
 */
export function fitTable(headers: string[], rows: string[][], shrink: number[], width = 80): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
  while (total() > width) {
    const col = shrink.filter((i) => widths[i]! > Math.max(headers[i]!.length, 4)).sort((a, b) => widths[b]! - widths[a]!)[0];
    if (col === undefined) break;
    widths[col]! -= 1;
  }
  const cut = (v: string, w: number) => (v.length > w ? `${v.slice(0, w - 1)}~` : v);
  return table(headers, rows.map((r) => r.map((v, i) => cut(v, widths[i]!))));
}
