import { formatElapsed, makeProgress } from '../../bench/progress.js';

function terminal(isTTY: boolean) {
  const written: string[] = [];
  return { out: { isTTY, columns: 120, write: (s: string) => written.push(s) }, written };
}

test('on a terminal: part, round of how many and elapsed time on one redrawn line', () => {
  const { out, written } = terminal(true);
  let clock = 1_000;
  const p = makeProgress(out, { TERM: 'xterm' }, () => clock);
  p.part('data plane', 4, 5);
  clock += 65_000;
  p.round(2, 3, 'hostNat');
  p.done();
  expect(written).toEqual([
    '\r\x1b[Kbench 4/5: data plane · 0s',
    '\r\x1b[Kbench 4/5: data plane · round 2/3: hostNat · 1m05s',
    '\r\x1b[K',
  ]);
});

test('steps faster than ten a second are not all drawn', () => {
  const { out, written } = terminal(true);
  let clock = 0;
  const p = makeProgress(out, {}, () => clock);
  p.part('scale', 5, 5);
  for (let i = 1; i <= 1000; i++) {
    clock += 1;
    p.round(i, 1000, 'start', 'network');
  }
  p.done();
  expect(written.length).toBeLessThanOrEqual(12);
  expect(written).toContain('\r\x1b[Kbench 5/5: scale · network 100/1000: start · 0s');
});

test('nothing at all when the output is not a terminal, or a dumb one', () => {
  for (const [isTTY, env] of [[false, { TERM: 'xterm' }], [true, { TERM: 'dumb' }]] as const) {
    const { out, written } = terminal(isTTY);
    const p = makeProgress(out, env);
    p.part('hook latency', 1, 5);
    p.round(1, 20);
    p.done();
    expect(written).toEqual([]);
  }
});

test('elapsed time reads as seconds, then minutes and seconds', () => {
  expect(formatElapsed(59_999)).toBe('59s');
  expect(formatElapsed(60_000)).toBe('1m00s');
  expect(formatElapsed(754_000)).toBe('12m34s');
});
