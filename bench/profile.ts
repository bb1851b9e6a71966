/**
 * Which run this is: the full one the README quotes, or BENCH_QUICK=1, a smaller one for trying the
 * bench out and for CI. The measuring modules read their knobs from the environment when they are
 * loaded, so run.ts imports this module first and it fills in the quick defaults before they do;
 * a knob set explicitly always wins.
 */
export const QUICK_DEFAULTS: Record<string, string> = {
  BENCH_ROUNDS: '5',
  BENCH_VIRSH_ROUNDS: '3',
  BENCH_IPERF_SECONDS: '1',
  BENCH_DATAPLANE_ROUNDS: '1',
  BENCH_PING_COUNT: '5',
  BENCH_NETWORKS: '50',
};

export const quick = /^(1|true|yes)$/i.test(process.env.BENCH_QUICK ?? '');
if (quick) {
  for (const [k, v] of Object.entries(QUICK_DEFAULTS)) process.env[k] ??= v;
}

/** The knobs that shaped this run, for the report. */
export function settings(): Record<string, string> {
  const keys = ['BENCH_ONLY', ...Object.keys(QUICK_DEFAULTS)];
  return Object.fromEntries(keys.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!]));
}
