import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runNetworkHook } from '../../src/hooks/network.js';
import { runQemuHook } from '../../src/hooks/qemu.js';
import { domainXml } from '../helpers/hooknet.js';
import { Sandbox } from '../helpers/sandbox.js';
import { hookData, networkXml } from '../helpers/xml.js';

/**
 * Thousands of generated hook inputs (truncated, mangled, hostile names, entity tricks, wrong
 * arguments) into the hook entry points. Every one must end in success or in one clean,
 * documented refusal: exit code 2, a single "natns: ..." line on stderr, nothing left behind.
 */
let sb: Sandbox;
const saved = { ...process.env };

beforeAll(() => {
  sb = new Sandbox();
  // A pool on a bridge that does not exist: every well-formed natns network is refused before
  // any kernel object is made, so the fuzzer exercises the validation, not the kernel.
  sb.writeConfig({ pools: { default: { bridge: sb.name('nobr'), subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.199' } } });
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
  const fixed = '<natns:upstream bridge="br0x" address="198.51.100.120" prefix="24" gateway="198.51.100.1"/>';
  return [
    hookData(networkXml({ name: 'n1', uuid: UUID, bridge: 'virbr7' })),
    hookData(networkXml({ name: 'n1', uuid: UUID, bridge: 'virbr7', upstream: fixed })),
    hookData(networkXml({ name: 'n1', uuid: UUID, bridge: 'virbr7', upstream: '<natns:upstream pool="default"/><natns:dhcp start="10.0.0.100" end="10.0.0.199"/>' })),
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

test('3000 generated network hook inputs end in success or one clean refusal, and leave nothing', async () => {
  const r = rng(20261123);
  const bases = baseInputs();
  const ops = [['start', 'begin'], ['start', 'begin'], ['started', 'begin'], ['stopped', 'end'], ['port-created', 'begin'], ['x;y', '$(z)']];
  const outcomes = { ok: 0, refused: 0 };
  for (let i = 0; i < 3000; i++) {
    let input = r.pick(bases);
    for (let m = r.int(3) + 1; m > 0; m--) input = mutate(input, r);
    const [op, sub] = r.pick(ops);
    const name = r.next() < 0.9 ? 'n1' : r.pick(NASTY);
    const result = await capture(() => runNetworkHook([name, op!, sub!], input));
    assertClean(result, input);
    outcomes[result.code === 0 ? 'ok' : 'refused'] += 1;
  }
  expect(outcomes.refused).toBeGreaterThan(1000);
  expect(existsSync(join(sb.env.NATNS_STATE_DIR!, 'networks')) ? readdirSync(join(sb.env.NATNS_STATE_DIR!, 'networks')) : []).toEqual([]);
  expect(existsSync(join(sb.env.NATNS_STATE_DIR!, 'leases')) ? readdirSync(join(sb.env.NATNS_STATE_DIR!, 'leases')) : []).toEqual([]);
  expect(readdirSync('/run/netns').filter((n) => n.includes('n1'))).toEqual([]);
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
