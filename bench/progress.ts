/**
 * One status line on the terminal while the bench runs: part i/n, round j/m, elapsed time.
 * Written to stderr and only when it is a terminal, so piped or CI output stays clean. Most of
 * the measuring is synchronous (spawnSync), so the line is redrawn on every step and by a timer
 * only when the event loop is free.
 */
export interface StatusOut {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export function makeProgress(out: StatusOut, env: NodeJS.ProcessEnv = process.env, now = Date.now) {
  const enabled = out.isTTY === true && env.TERM !== 'dumb';
  const t0 = now();
  let partText = '';
  let stepText = '';
  let lastDraw = -Infinity;
  let timer: NodeJS.Timeout | undefined;

  const draw = (force = false) => {
    const t = now();
    // The scale loop reports a thousand steps a second; the eye needs ten.
    if (!force && t - lastDraw < 100) return;
    lastDraw = t;
    const line = [partText, stepText, formatElapsed(t - t0)].filter(Boolean).join(' · ');
    out.write(`\r\x1b[K${line.slice(0, Math.max(20, (out.columns ?? 80) - 1))}`);
  };

  return {
    /** A new part of the bench begins: `index` counts from 1. */
    part(name: string, index: number, total: number): void {
      if (!enabled) return;
      partText = `bench ${index}/${total}: ${name}`;
      stepText = '';
      timer ??= setInterval(() => draw(true), 1000).unref();
      draw(true);
    },
    /** Where the current part is: round `i` (from 1) of `n` (or network i of n, …), and what it measures now. */
    round(i: number, n: number, what = '', noun = 'round'): void {
      if (!enabled) return;
      stepText = `${noun} ${i}/${n}${what ? `: ${what}` : ''}`;
      draw();
    },
    /** Clear the line, before the final report is printed. */
    done(): void {
      if (!enabled) return;
      if (timer) clearInterval(timer);
      timer = undefined;
      out.write('\r\x1b[K');
    },
  };
}

const onStderr = makeProgress(process.stderr);
export const { part, round, done } = onStderr;
