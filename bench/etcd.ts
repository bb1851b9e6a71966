/**
 * What an etcd lease costs a network start, against the file store, in one run with interleaved
 * rounds (medians): the lease alone in a warm process, and the whole `start begin` hook process
 * for the file store, the etcd backend as built (etcd's JSON gateway over node:http), and a
 * variant of the same hooks on the etcd3 package (gRPC), loaded the best way a hook could
 * (its own bundle, through V8's code cache, only when the config says etcd).
 * Needs root (a bridge) and Debian's etcd-server; starts its own etcd on loopback.
 */
import { build, type Plugin } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../src/config/config.js';
import type { Upstream } from '../src/domain/model.js';
import type { Ipam } from '../src/ipam/ipam.js';
import { selectIpam } from '../src/ipam/select.js';
import { EtcdServer } from '../test/helpers/etcd.js';
import { sh, timed } from './floor.js';
import { median, round } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);

/** hooks/ and dist/hook-core.cjs again, with bench/etcd3-gateway.ts for the JSON gateway client. */
async function buildEtcd3Hooks(dir: string): Promise<string> {
  const hooks = join(dir, 'hooks');
  mkdirSync(hooks, { recursive: true });
  const swap: Plugin = {
    name: 'etcd3-gateway',
    setup(b) {
      b.onResolve({ filter: /\/etcd-gateway\.js$/ }, (args) => (args.importer.endsWith('etcd3-gateway.ts') ? undefined : { path: resolve('bench/etcd3-gateway.ts') }));
    },
  };
  const common = { bundle: true, format: 'cjs', platform: 'node', target: 'node20', minify: true, logLevel: 'warning' } as const;
  await build({ ...common, entryPoints: ['hooks/core.ts'], outfile: join(hooks, 'hook-core.cjs'), external: ['@unraid/libvirt'], loader: { '.xml': 'text', '.sh': 'text' }, plugins: [swap] });
  await build({ ...common, entryPoints: ['node_modules/etcd3/lib/index.js'], outfile: join(hooks, 'etcd3-bundle.cjs') });
  cpSync('dist/hook-network.cjs', join(hooks, 'hook-network.cjs'));
  // etcd3 reads its .proto files from beside its own code at load time.
  cpSync('node_modules/etcd3/proto', join(dir, 'proto'), { recursive: true });
  const warm = spawnSync(process.execPath, [join(hooks, 'hook-network.cjs'), '--warm-code-cache']);
  if (warm.status !== 0) throw new Error(`etcd3 hook variant: warm-up failed: ${warm.stderr}`);
  return join(hooks, 'hook-network.cjs');
}

export async function etcdBench() {
  const id = `be${process.pid.toString(16).slice(-4)}`;
  const dir = mkdtempSync(join(tmpdir(), 'natns-bench-etcd-'));
  const provider = `${id}-pb`;
  let etcd3Hook: string;
  try {
    etcd3Hook = await buildEtcd3Hooks(join(dir, 'etcd3-hooks'));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  sh('ip', ['-batch', '-'], `link add ${provider} type bridge\nlink set ${provider} up\n`);
  let server: EtcdServer;
  try {
    server = await EtcdServer.start(join(dir, 'etcd'));
  } catch (err) {
    sh('ip', ['link', 'del', provider]);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const pool = { default: { bridge: provider, subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.2', last: '198.51.100.250' } };
  const variant = (name: string, ipam?: object) => {
    const v = { name, env: { NATNS_CONFIG: join(dir, name, 'config.json'), NATNS_STATE_DIR: join(dir, name, 'state'), NATNS_LOG_DIR: join(dir, name, 'log') } };
    mkdirSync(join(dir, name), { recursive: true, mode: 0o755 });
    writeFileSync(v.env.NATNS_CONFIG, JSON.stringify({ host: 'bench', ...(ipam ? { ipam } : {}), pools: pool }));
    return v;
  };
  const etcd = (prefix: string) => ({ backend: 'etcd', endpoints: [server.endpoint], prefix });
  const hook = join(process.cwd(), 'dist', 'hook-network.cjs');
  const variants = [
    { ...variant('files'), hook },
    { ...variant('gateway', etcd('/gateway/')), hook },
    { ...variant('etcd3', etcd('/etcd3/')), hook: etcd3Hook },
  ];
  /** One network of a variant, started as libvirt does, hook by hook. */
  const network = (v: (typeof variants)[number], i: number) => {
    const name = `${id}-${v.name[0]}${i}`;
    const bridge = `${id}-${v.name[0]}l${i}`;
    const xml = `<hookData><network><name>${name}</name><uuid>${randomUUID()}</uuid><bridge name='${bridge}'/><metadata><natns:nat xmlns:natns="urn:natns:network:1"><natns:private address="10.0.0.1" prefix="24"/><natns:upstream pool="default"/></natns:nat></metadata></network></hookData>`;
    const hookCall = (...args: string[]) => () => {
      const r = spawnSync(process.execPath, [v.hook, name, ...args, '-'], { input: xml, env: { ...process.env, ...v.env } });
      if (r.status !== 0) throw new Error(`${v.name}: ${args.join(' ')} failed: ${r.stderr}`);
    };
    return {
      startBegin: hookCall('start', 'begin'),
      startedBegin: () => {
        sh('ip', ['-batch', '-'], `link add ${bridge} type bridge\nlink set ${bridge} up\n`);
        return timed(hookCall('started', 'begin'));
      },
      stop: () => {
        sh('ip', ['link', 'del', bridge]);
        hookCall('stopped', 'end')();
      },
    };
  };
  const s: Record<string, number[]> = { nodeBare: [] };
  const lease: Record<string, number[]> = {};
  try {
    // Each variant's first call writes its caches (and etcd3's bundle cache): not measured.
    for (const v of variants) network(v, 999).startBegin();
    for (let i = 0; i < ROUNDS; i++) {
      // Rotate the order, so no variant always runs right after another.
      for (const v of [...variants.slice(i % 3), ...variants.slice(0, i % 3)]) {
        // A network's first start (its lease is created, then confirmed by `started`), and a
        // restart (its lease is found).
        const net = network(v, i);
        (s[`${v.name}StartBeginNew`] ??= []).push(timed(net.startBegin));
        (s[`${v.name}StartedBegin`] ??= []).push(net.startedBegin());
        net.stop();
        (s[`${v.name}StartBeginAgain`] ??= []).push(timed(net.startBegin));
      }
      s.nodeBare!.push(timed(() => sh(process.execPath, ['-e', '0'])));
    }
    // The lease alone, in a warm process: what `start begin` (a new lease) and `started begin`
    // (the same lease confirmed) ask of the store for one network start.
    const ipams = new Map<string, Ipam>();
    for (const v of variants.slice(0, 2)) {
      const ipam = selectIpam(() => loadConfig(v.env.NATNS_CONFIG), v.env.NATNS_STATE_DIR);
      await ipam.claim({ kind: 'pool', pool: 'default' }, { uuid: randomUUID(), name: 'warm' });
      ipams.set(v.name, ipam);
    }
    for (let i = 0; i < ROUNDS * 5; i++) {
      for (const [name, ipam] of ipams) {
        const owner = { uuid: randomUUID(), name: `l${i}` };
        const t = process.hrtime.bigint();
        const upstream: Upstream = await ipam.claim({ kind: 'pool', pool: 'default' }, owner);
        await ipam.claim({ kind: 'pool', pool: 'default' }, owner, upstream);
        (lease[name] ??= []).push(Number(process.hrtime.bigint() - t) / 1e6);
        await ipam.release(upstream, owner.uuid);
      }
    }
    // The work each hook logged for itself: the rest of its time is node and loading.
    for (const v of variants) {
      const log = readFileSync(join(v.env.NATNS_LOG_DIR, 'natns.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { message: string; ms: number });
      const begins = log.filter((l) => l.message === 'network start begin').map((l) => l.ms).slice(1);
      s[`${v.name}StartBeginNewWork`] = begins.filter((_, i) => i % 2 === 0);
      s[`${v.name}StartBeginAgainWork`] = begins.filter((_, i) => i % 2 === 1);
      s[`${v.name}StartedBeginWork`] = log.filter((l) => l.message === 'network started begin').map((l) => l.ms);
    }
  } finally {
    await server.stop();
    sh('ip', ['link', 'del', provider]);
    rmSync(dir, { recursive: true, force: true });
  }
  const m = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(median(v))]));
  const l = Object.fromEntries(Object.entries(lease).map(([k, v]) => [k, round(median(v))]));
  return {
    rounds: ROUNDS,
    medianMs: m,
    leasePerStartMs: { files: l.files, etcd: l.gateway, ratio: round(l.gateway! / l.files!) },
    startedBeginMinusFilesMs: { gateway: round(m.gatewayStartedBegin! - m.filesStartedBegin!), etcd3: round(m.etcd3StartedBegin! - m.filesStartedBegin!) },
    startBeginMinusFilesMs: {
      gatewayNew: round(m.gatewayStartBeginNew! - m.filesStartBeginNew!),
      gatewayAgain: round(m.gatewayStartBeginAgain! - m.filesStartBeginAgain!),
      etcd3New: round(m.etcd3StartBeginNew! - m.filesStartBeginNew!),
      etcd3Again: round(m.etcd3StartBeginAgain! - m.filesStartBeginAgain!),
    },
  };
}
