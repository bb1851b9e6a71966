/**
 * natns's layers, lowest first. A module imports from its own layer and the layers before it,
 * never from one after it; `npm run lint` fails otherwise. The README's layout section draws this.
 *   domain   the vocabulary: model, addresses, names, validation, errors (imports no natns module)
 *   sys      process runner, files, locks, log, paths, the crash-test checkpoint
 *   config   the host config (pools)
 *   libvirt  hook input, network and domain XML, virsh, templates
 *   plan     pure: router plan, patch kinds, diff, dnsmasq config
 *   kernel   namespaces, ip/nft/sysctl batches, observing, dnsmasq processes
 *   state    network records
 *   ipam     lease stores and the IPAM object
 *   core     network and guest lifecycle, reconcile, status
 *   lab      the demo's guests and upstream host
 *   hooks    libvirt hook entry points
 *   agent    the long-running per-host agent: elections of stretched networks' routers
 *   cli      the natns command
 */
const LAYERS = ['domain', 'sys', 'config', 'libvirt', 'plan', 'kernel', 'state', 'ipam', 'core', 'lab', 'hooks', 'agent', 'cli'];

const pointsDown = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `${layer}-only-points-down`,
  comment: `src/${layer} may import only from ${LAYERS.slice(0, i + 1).join(', ')}`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${LAYERS.slice(i + 1).join('|')})/` },
}));

module.exports = {
  forbidden: [
    ...pointsDown,
    {
      name: 'plan-and-domain-are-pure',
      comment: 'planning does no I/O: no files, processes or network from src/plan or src/domain',
      severity: 'error',
      from: { path: '^src/(plan|domain)/' },
      to: { path: '^(node:)?(fs|child_process|net|dgram|os)$|^execa$|^node_modules/execa/', dependencyTypes: ['core', 'npm'] },
    },
    {
      name: 'hook-entries-load-nothing-of-natns',
      comment: 'an ignored hook event must not load natns: the entries reach src/ only through hooks/core.ts',
      severity: 'error',
      from: { path: '^hooks/', pathNot: '^hooks/core\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'no-layer-folder-outside-the-list',
      comment: 'every src/ folder is a layer above: add a new one to LAYERS',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: `^src/(${LAYERS.join('|')})/|\\.(xml|sh|py)$` },
    },
    {
      name: 'shipped-code-never-imports-tests-or-bench',
      severity: 'error',
      from: { path: '^(src|hooks)/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.cjs'] },
    exclude: { path: '\\.d\\.ts$' },
  },
};
