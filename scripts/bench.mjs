// Bundle bench/run.ts with the library it measures, then run it (root: it builds real namespaces).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';

await build({
  entryPoints: ['bench/run.ts'],
  outfile: '.cache/bench.mjs',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  banner: { js: "import { createRequire as __r } from 'node:module'; const require = __r(import.meta.url);" },
  // The chart libraries stay in node_modules: vega looks for an optional canvas, resvg loads a
  // native addon. The etcd bench builds a variant of the hooks: esbuild runs from node_modules too.
  external: ['vega', 'vega-lite', '@resvg/resvg-js', 'esbuild'],
  logLevel: 'warning',
});
const r = spawnSync(process.execPath, ['.cache/bench.mjs'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
