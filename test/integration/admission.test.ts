import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defineNet, domainXml, expectStarted, poolSandbox, type TestNet } from '../helpers/hooknet.js';
import { hookData, networkXml } from '../helpers/xml.js';
import { type Sandbox, sh } from '../helpers/sandbox.js';

/**
 * Upstream identities are guarded at `start begin`, and a refusal costs nothing: no lease, no
 * record, no kernel object, and never a word about deleting a bridge natns did not make.
 */
let sb: Sandbox;
let provider: string;

beforeEach(async () => {
  ({ sb, provider } = await poolSandbox(false));
});

afterEach(async () => {
  await sb.cleanup();
});

function leaseFiles(): string[] {
  try {
    return readdirSync(join(sb.env.NATNS_STATE_DIR!, 'leases'), { recursive: true }).map(String).filter((f) => /\d+\.\d+\.\d+\.\d+$/.test(f));
  } catch {
    return [];
  }
}

async function refusedAtStartBegin(net: TestNet, message: RegExp): Promise<void> {
  const before = leaseFiles();
  const r = await sb.hook([net.name, 'start', 'begin', '-'], net.xml);
  expect({ code: r.exitCode, lines: r.stderr.trim().split('\n').length }).toEqual({ code: 2, lines: 1 });
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/ip link del|remove it/);
  expect(leaseFiles()).toEqual(before);
  const list = JSON.parse((await sb.cli(['list', '--json'])).stdout) as { network: string }[];
  expect(list.map((m) => m.network)).not.toContain(net.name);
}

const fixed = (address: string) => (p: string) => `<natns:upstream bridge="${p}" address="${address}" prefix="24" gateway="198.51.100.1"/>`;

test("a fixed upstream address that is a pool's gateway, or the host's own address there, is refused", async () => {
  sb.writeConfig({ pools: { default: { bridge: provider, subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.199' }, other: { bridge: provider, subnet: '198.51.100.0/24', gateway: '198.51.100.254', first: '198.51.100.200', last: '198.51.100.209' } } });
  await refusedAtStartBegin(defineNet(sb, '1', { upstream: fixed('198.51.100.254')(provider) }), /upstream address 198\.51\.100\.254 is the gateway of pool 'other'/);
  await sh('ip', ['addr', 'add', '198.51.100.2/24', 'dev', provider]);
  await refusedAtStartBegin(defineNet(sb, '2', { upstream: fixed('198.51.100.2')(provider) }), /upstream address 198\.51\.100\.2 is this host's own address on/);
  // Must pass: another fixed address on the same bridge.
  await expectStarted(sb, defineNet(sb, '3', { upstream: fixed('198.51.100.3')(provider) }));
});

test("a pool whose next free address is the host's own gives it to nobody, and the refused network keeps nothing", async () => {
  await sh('ip', ['addr', 'add', '198.51.100.100/24', 'dev', provider]);
  await refusedAtStartBegin(defineNet(sb, '1'), /upstream address 198\.51\.100\.100 is this host's own address on .*take it out of the pool's range/);
});

test("an address another network or a guest leases is refused", async () => {
  const a = defineNet(sb, '1');
  await expectStarted(sb, a);
  const mac = '52:54:00:dd:00:01';
  const name = sb.name('vm1');
  const guest = await sb.qemuHook([name, 'start', 'begin', '-'], domainXml({ name, uuid: randomUUID(), network: a.name, mac, metadata: `<natns:address network="${a.name}" ip="10.0.0.100"/><natns:public network="${a.name}" address="198.51.100.150"/>` }));
  expect(guest.exitCode).toBe(0);
  await refusedAtStartBegin(defineNet(sb, '2', { upstream: fixed('198.51.100.100')(provider) }), /198\.51\.100\.100 on .* is already used by/);
  await refusedAtStartBegin(defineNet(sb, '3', { upstream: fixed('198.51.100.150')(provider) }), /198\.51\.100\.150 on .* is already used by .*vm1/);
});

test("a guest's 1:1 address that is the host's own address is refused", async () => {
  const a = defineNet(sb, '1');
  await expectStarted(sb, a);
  await sh('ip', ['addr', 'add', '198.51.100.2/24', 'dev', provider]);
  const name = sb.name('vm1');
  const xml = domainXml({ name, uuid: randomUUID(), network: a.name, mac: '52:54:00:dd:00:01', metadata: `<natns:address network="${a.name}" ip="10.0.0.100"/><natns:public network="${a.name}" address="198.51.100.2"/>` });
  const before = leaseFiles();
  const r = await sb.qemuHook([name, 'start', 'begin', '-'], xml);
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toMatch(/public address 198\.51\.100\.2 is this host's own address/);
  expect(leaseFiles()).toEqual(before);
});

test("bridges that would join a tenant to the provider network or to another tenant are refused, and left alone", async () => {
  const a = defineNet(sb, '1');
  await expectStarted(sb, a);
  // The tenant's bridge is the provider bridge.
  const onProvider = sb.network('2');
  await refusedAtStartBegin({ ...onProvider, bridge: provider, xml: hookData(networkXml({ ...onProvider, bridge: provider })) }, new RegExp(`bridge ${provider} is the upstream bridge of pool 'default'`));
  expect((await sh('ip', ['link', 'show', provider])).exitCode).toBe(0);
  // The upstream bridge is another tenant's private bridge.
  const other = sb.network('5');
  const xml = hookData(networkXml({ ...other, bridge: sb.name('b5'), privateAddress: '172.16.0.1', upstream: `<natns:upstream bridge="${a.bridge}" address="10.0.0.200" prefix="24" gateway="10.0.0.1"/>` }));
  await refusedAtStartBegin({ ...other, bridge: sb.name('b5'), xml }, new RegExp(`upstream bridge ${a.bridge} is the private bridge of natns network '${a.name}'`));
  // A bridge that exists and is not natns's: refused without a word about deleting it.
  const foreign = await sb.bridge('fb');
  const taken = sb.network('6');
  await refusedAtStartBegin({ ...taken, bridge: foreign, xml: hookData(networkXml({ ...taken, bridge: foreign })) }, new RegExp(`bridge ${foreign} already exists and natns did not make it.*give the network another bridge name`));
  expect((await sh('ip', ['link', 'show', foreign])).exitCode).toBe(0);
});
