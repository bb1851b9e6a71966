/**
 * Text tables as `virsh net-list` prints them: left-aligned, two spaces apart, fitted to the
 * width (80 columns, or a wider terminal's): the columns named in `shrink` give up characters
 * (ending in '…'), widest first, until the table fits. Wide details belong to `show` or `--wide`,
 * which passes `width: Infinity`. `paint` colours a cell's text, never its padding (colour
 * never counts as width); it is used only when colour() says so.
 */
export interface TableOptions {
  width?: number;
  shrink?: number[];
  paint?: (column: number, value: string) => ((text: string) => string) | undefined;
}

export function table(headers: string[], rows: string[][], o: TableOptions = {}): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const limit = o.width ?? outputWidth();
  const total = () => widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
  const shrink = o.shrink ?? [];
  while (total() > limit) {
    // Never below its header, nor below 6 characters.
    const candidates = shrink.filter((i) => widths[i]! > Math.max(headers[i]!.length, 6));
    if (candidates.length === 0) break;
    const widest = candidates.reduce((a, b) => (widths[b]! > widths[a]! ? b : a));
    widths[widest]! -= 1;
  }
  const fit = (c: string, w: number) => (c.length > w ? `${c.slice(0, w - 1)}…` : c);
  const line = (cells: string[], paint: boolean) => cells.map((c, i) => {
    const text = fit(c, widths[i]!);
    const brush = paint ? o.paint?.(i, c) : undefined;
    return (brush ? brush(text) : text) + ' '.repeat(widths[i]! - text.length);
  }).join('  ').trimEnd();
  const painting = o.paint !== undefined && colour();
  return [line(headers, false), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => line(r, painting))].join('\n') + '\n';
}

/** 80 columns, or the terminal's width where it is wider. */
export function outputWidth(stream: NodeJS.WriteStream = process.stdout): number {
  return stream.isTTY && (stream.columns ?? 0) > 80 ? stream.columns : 80;
}

/** Colour only on a terminal, never with NO_COLOR set (https://no-color.org) or on a dumb one. */
export function colour(stream: NodeJS.WriteStream = process.stdout): boolean {
  return stream.isTTY === true && (process.env.NO_COLOR ?? '') === '' && process.env.TERM !== 'dumb';
}

const sgr = (code: number) => (text: string) => `\x1b[${code}m${text}\x1b[0m`;

/** A state's colour: up green, drift yellow, down red, stopped dim. */
export function stateColour(state: string): ((text: string) => string) | undefined {
  return ({ up: sgr(32), drift: sgr(33), down: sgr(31), stopped: sgr(2) } as Record<string, (t: string) => string>)[state];
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
