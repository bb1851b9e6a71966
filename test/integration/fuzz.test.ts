import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeContext } from '../../src/core/context.js';
import { releaseNetwork, stopNetwork } from '../../src/core/network.js';
import { runNetworkHook } from '../../src/hooks/network.js';
import { runQemuHook } from '../../src/hooks/qemu.js';
import { domainXml } from '../helpers/hooknet.js';
import { Sandbox, sh } from '../helpers/sandbox.js';
import { hookData, networkXml } from '../helpers/xml.js';

/**
 * Thousands of generated hook inputs (truncated, mangled, hostile names, entity tricks, wrong
 * arguments) into the hook entry points. Every one must end in success or in one clean,
 * documented refusal: exit code 2, a single "natns: ..." line on stderr, nothing left behind.
 */
let sb: Sandbox;
let net: { name: string; uuid: string };
let lanBridge: string;
let provider: string;
const saved = { ...process.env };

beforeAll(async () => {
  sb = new Sandbox();
  net = sb.network('n1');
  provider = await sb.bridge('pb');
  lanBridge = sb.name('lb');
  // One pool on a real bridge, one on a missing one: part of the corpus is refused before any
  // write, part gets a lease and a record at start begin and a router at started.
  sb.writeConfig({ pools: {
    default: { bridge: provider, subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.199' },
    gone: { bridge: sb.name('nobr'), subnet: '203.0.113.0/24', gateway: '203.0.113.1', first: '203.0.113.100', last: '203.0.113.199' },
    default6: { bridge: provider, subnet: '2001:db8:100::/64', gateway: '2001:db8:100::1', first: '2001:db8:100::100', last: '2001:db8:100::1ff' },
    npt: { bridge: provider, subnet: '2001:db8:200::/60', prefixLength: 64, gateway: 'fe80::1' },
  } });
  // The routers' IPv6 stays between them and the sandbox's namespaces.
  await sh('sysctl', ['-qw', `net.ipv6.conf.${provider}.disable_ipv6=1`]);
  Object.assign(process.env, sb.env);
});

afterAll(async () => {
  process.env = saved;
  await sb.cleanup();
});

/** A small deterministic PRNG, so a failure can be replayed from its seed. */
function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}

const NASTY = ['<', '>', '&', '"', "'", ';', '$(reboot)', '`id`', '\n', '\u0000', '{', '}', '/', '\\', ' ', 'é', '../', '%s', '-1', '99999', '33', '300.1.1.1', 'a'.repeat(200), '&lt;', '<!--', ']]>', '*'];
const UUID = '3b8d1c2e-1f3a-4c5d-8e9f-0a1b2c3d4e5f';

function baseInputs(): string[] {
  const fixed = `<natns:upstream bridge="${provider}" address="198.51.100.120" prefix="24" gateway="198.51.100.1"/>`;
  const base = { name: net.name, uuid: net.uuid, bridge: lanBridge };
  return [
    hookData(networkXml(base)),
    hookData(networkXml({ ...base, upstream: fixed })),
    hookData(networkXml({ ...base, upstream: '<natns:upstream pool="default"/><natns:dhcp start="10.0.0.100" end="10.0.0.199"/>' })),
    hookData(networkXml({ ...base, upstream: '<natns:upstream pool="gone"/>' })),
    // Dual stack, NPTv6 and IPv6-only, for the same network: switching between them gives leases back.
    hookData(networkXml({ ...base, ipv6: {} })),
    hookData(networkXml({ ...base, ipv6: { upstream: '<natns:upstream pool="npt" mode="nptv6"/>' } })),
    hookData(networkXml({ ...base, upstream: '<natns:upstream bridge="' + provider + '" address="2001:db8:100::120" prefix="64" gateway="fe80::1"/>' })
      .replace('<natns:private address="10.0.0.1" prefix="24"/>', '<natns:private address="fd00::1" prefix="64"/>')),
  ];
}

function mutate(input: string, r: ReturnType<typeof rng>): string {
  switch (r.int(7)) {
    case 0: return input.slice(0, r.int(input.length));
    case 1: {
      const i = r.int(input.length);
      return input.slice(0, i) + r.pick(NASTY) + input.slice(i + 1);
    }
    case 2: return input.replace(/="[^"]*"/g, (m) => (r.next() < 0.3 ? `="${r.pick(NASTY)}"` : m));
    case 3: return input.replace(/<name>[^<]*<\/name>/, `<name>${r.pick(NASTY)}${r.pick(NASTY)}</name>`);
    case 4: return `<!DOCTYPE x [<!ENTITY e "${'x'.repeat(r.int(50))}">]>${input.replace('n1', '&e;')}`;
    case 5: return input.replace(/<natns:(private|upstream|dhcp)[^>]*\/>/, (m) => (r.next() < 0.5 ? '' : m + m));
    default: return input.replace(/\d+/g, (m) => (r.next() < 0.2 ? r.pick(['0', '-1', '256', '4294967296', '1e3', '0x10', '']) : m));
  }
}

async function capture(fn: () => Promise<number>): Promise<{ code: number; stderr: string; stdout: string }> {
  const writes = { stderr: '', stdout: '' };
  const origErr = process.stderr.write.bind(process.stderr);
  const origOut = process.stdout.write.bind(process.stdout);
  process.stderr.write = ((chunk: string | Uint8Array) => ((writes.stderr += String(chunk)), true)) as typeof process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array) => ((writes.stdout += String(chunk)), true)) as typeof process.stdout.write;
  try {
    return { code: await fn(), ...writes };
  } finally {
    process.stderr.write = origErr;
    process.stdout.write = origOut;
  }
}

function assertClean(result: { code: number; stderr: string; stdout: string }, input: string): void {
  const ok = result.stdout === '' && (
    (result.code === 0 && result.stderr === '') ||
    (result.code === 2 && /^natns: [^\n]{1,600}\n$/.test(result.stderr) && !/\n\s+at /.test(result.stderr))
  );
  if (!ok) throw new Error(`unclean result ${JSON.stringify(result)} for input ${JSON.stringify(input.slice(0, 400))}`);
}

test('3000 generated network hook inputs (IPv4, dual-stack, NPTv6, IPv6-only) end in success or one clean refusal, and leave nothing half-built', async () => {
  const r = rng(20261123);
  const bases = baseInputs();
  const ops = [['start', 'begin'], ['start', 'begin'], ['started', 'begin'], ['stopped', 'end'], ['port-created', 'begin'], ['x;y', '$(z)']];
  const outcomes = { ok: 0, refused: 0, built: 0 };
  const ctx = makeContext();
  for (let i = 0; i < 3000; i++) {
    let input = r.pick(bases);
    // A quarter of the inputs stay as libvirt would send them, so routers really get built.
    for (let m = r.int(4); m > 0; m--) input = mutate(input, r);
    const [op, sub] = r.pick(ops);
    const name = r.next() < 0.9 ? net.name : r.pick(NASTY);
    // As libvirt does: the bridge the XML names exists from 'start begin' on, and is gone after
    // 'stopped'; libvirt never sends 'started' for a bridge it did not make.
    if (op === 'started' && !input.includes(`<bridge name='${lanBridge}'`)) continue;
    if (op === 'started' && !existsSync(`/sys/class/net/${lanBridge}`)) await sh('ip', ['link', 'add', lanBridge, 'up', 'type', 'bridge']);
    const result = await capture(() => runNetworkHook([name, op!, sub!], input));
    assertClean(result, input);
    outcomes[result.code === 0 ? 'ok' : 'refused'] += 1;
    if (result.code === 0 && op === 'started' && ctx.records.read(net.uuid)?.phase === 'running') outcomes.built += 1;
    if (op === 'stopped' && result.code === 0) await sh('ip', ['link', 'del', lanBridge]);
  }
  console.log(`network hook fuzz: ${JSON.stringify(outcomes)}`);
  expect(outcomes.refused).toBeGreaterThan(1000);
  // Part of the corpus got past validation and built real routers.
  expect(outcomes.built).toBeGreaterThan(20);
  // No lease without its network, no network without its lease (one per family it has).
  const records = ctx.records.list();
  const leases = await ctx.ipam.leases();
  expect(leases.map((l) => `${l.owner.uuid} ${l.address}`).sort())
    .toEqual(records.flatMap((rec) => [rec.lease, rec.lease6].filter((l) => l !== undefined).map((l) => `${rec.uuid} ${l.address}`)).sort());
  // Whatever was built comes down by its names, and its leases go back.
  for (const rec of records) {
    await stopNetwork(rec, ctx);
    await releaseNetwork(rec, ctx, { dropAdminForwards: true });
  }
  expect(await sb.leftovers()).toEqual([]);
  expect(existsSync(join(sb.env.NATNS_STATE_DIR!, 'leases')) ? readdirSync(join(sb.env.NATNS_STATE_DIR!, 'leases')) : []).toEqual([]);
}, 300_000);

test('1000 generated qemu hook inputs: success or one clean refusal, never anything on stdout', async () => {
  const r = rng(7);
  const base = domainXml({ name: 'web1', uuid: UUID, network: 'n1', mac: '52:54:00:00:00:01', metadata: '<natns:address network="n1" ip="10.0.0.100"/><natns:forward network="n1" proto="tcp" port="8080" to-port="80"/>' });
  for (let i = 0; i < 1000; i++) {
    let input = base;
    for (let m = r.int(3) + 1; m > 0; m--) input = mutate(input, r);
    const op = r.pick([['start', 'begin'], ['stopped', 'end'], ['release', 'end'], ['prepare', 'begin']]);
    assertClean(await capture(() => runQemuHook(['web1', op[0]!, op[1]!], input)), input);
  }
  // reconnect never fails, whatever it is given: libvirt would kill the guest.
  const reconnect = await capture(() => runQemuHook(['web1', 'reconnect', 'begin'], base));
  expect(reconnect).toEqual({ code: 0, stderr: '', stdout: '' });
}, 120_000);
