// Bundle the CLI and the hooks into dist/. A hook is one small entry file; only when it has work
// to do does it load hook-core.cjs, one minified script that hooks/hook-loader.ts runs through
// V8's code cache (written here by a warm-up run), so neither parsing nor compiling is paid per call.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: { natns: 'src/cli/bin.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@unraid/libvirt'],
  loader: { '.xml': 'text', '.sh': 'text', '.py': 'text' },
  define: { NATNS_VERSION: JSON.stringify(JSON.parse(readFileSync('package.json', 'utf8')).version) },
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __natnsRequire } from 'node:module'; const require = __natnsRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
// Each hook entry is one self-contained file: an ignored event loads nothing else.
await build({
  entryPoints: { 'hook-network': 'hooks/network.ts', 'hook-qemu': 'hooks/qemu.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
await build({
  entryPoints: ['hooks/core.ts'],
  outfile: 'dist/hook-core.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: true,
  sourcemap: 'linked',
  external: ['@unraid/libvirt'],
  loader: { '.xml': 'text', '.sh': 'text', '.py': 'text' },
  logLevel: 'warning',
});
chmodSync('dist/natns.mjs', 0o755);
for (const f of ['hook-network', 'hook-qemu']) chmodSync(`dist/${f}.cjs`, 0o755);
// What libvirt runs: one shell shim per hook folder, in front of the Node hooks (hooks/hook.sh).
const shim = readFileSync('hooks/hook.sh', 'utf8');
for (const kind of ['network', 'qemu']) {
  writeFileSync(`dist/hook-${kind}.sh`, shim.replaceAll('@KIND@', kind), { mode: 0o755 });
}
const warm = spawnSync(process.execPath, ['dist/hook-network.cjs', '--warm-code-cache'], { stdio: 'inherit' });
if (warm.status !== 0) throw new Error('the hooks\' warm-up run failed');
// The man page and the bash completion, from the built command's own command line (install.sh installs both).
for (const [what, file] of [['man', 'dist/natns.8'], ['bash-completion', 'dist/natns.bash']]) {
  const r = spawnSync(process.execPath, ['dist/natns.mjs', '_generate', what], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`natns _generate ${what} failed: ${r.stderr}`);
  writeFileSync(file, r.stdout);
}
