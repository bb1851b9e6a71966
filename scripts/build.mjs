// Bundle the CLI and the hooks into dist/: a hook is one small entry file that loads the shared
// chunk only when it has work to do, so ignored events cost little more than starting node.
import { build } from 'esbuild';
import { chmodSync, rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: {
    natns: 'src/cli/bin.ts',
    'hook-network': 'hooks/network.ts',
    'hook-qemu': 'hooks/qemu.ts',
  },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@unraid/libvirt'],
  loader: { '.xml': 'text', '.sh': 'text' },
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __natnsRequire } from 'node:module'; const require = __natnsRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
for (const f of ['natns', 'hook-network', 'hook-qemu']) chmodSync(`dist/${f}.mjs`, 0o755);
