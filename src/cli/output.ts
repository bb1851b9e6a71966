/** A plain left-aligned text table, as `virsh net-list` prints one. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n') + '\n';
}

/**
 * Words wrapped to `width` columns after `first` (kept as it is), every line after the first
 * indented by `indent` spaces.
 */
export function wrap(first: string, text: string, indent: number, width = 80): string {
  const lines: string[] = [];
  let line = first;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const start = lines.length === 0 ? first.length : indent;
    if (line.length > start && line.length + 1 + word.length > width - (lines.length === 0 ? 0 : indent)) {
      lines.push(line);
      line = word;
    } else {
      line = line.length > (lines.length === 0 ? first.length : 0) ? `${line} ${word}` : `${line}${word}`;
    }
  }
  lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : ' '.repeat(indent) + l)).join('\n');
}
