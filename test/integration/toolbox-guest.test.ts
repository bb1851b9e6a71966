import { randomUUID } from 'node:crypto';
import { defineNet, domainXml, expectStarted, poolSandbox, portHookData } from '../helpers/hooknet.js';
import type { Sandbox } from '../helpers/sandbox.js';

/**
 * natns show GUEST and natns leases NETWORK, with real DHCP clients (busybox udhcpc in guest
 * namespaces) against the network's dnsmasq, and the guests' records from the qemu hook.
 */
let sb: Sandbox;
let provider: string;

beforeEach(async () => {
  ({ sb, provider } = await poolSandbox(false));
});

afterEach(async () => {
  await sb.cleanup();
});

async function json(args: string[]): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await sb.cli([...args, '--json']);
  if (r.exitCode !== 0) throw new Error(`natns ${args.join(' ')}: ${r.exitCode} ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('show GUEST gives its network, private and upstream addresses, forwards and 1:1 address; leases NETWORK lists the DHCP leases with their guests', async () => {
  const net = defineNet(sb, '1', { upstream: '<natns:upstream pool="default"/><natns:dhcp start="10.0.0.150" end="10.0.0.199"/>' });
  const plain = defineNet(sb, '2');
  await expectStarted(sb, net);
  await expectStarted(sb, plain);
  const vm1 = sb.name('vm1');
  const vm2 = sb.name('vm2');
  const mac1 = '52:54:00:cc:00:01';
  const mac2 = '52:54:00:cc:00:02';
  const uuid1 = randomUUID();
  const guestXml = domainXml({
    name: vm1, uuid: uuid1, network: net.name, mac: mac1,
    metadata: `<natns:address network="${net.name}" ip="10.0.0.100"/><natns:forward network="${net.name}" proto="tcp" port="8080" to-port="80"/><natns:public network="${net.name}" pool="default"/>`,
  });
  const started = await sb.qemuHook([vm1, 'start', 'begin', '-'], guestXml);
  expect({ code: started.exitCode, err: started.stderr }).toEqual({ code: 0, err: '' });
  // vm2 has no natns metadata: libvirt's port event is all natns hears of it.
  expect((await sb.hook([net.name, 'port-created', 'begin', '-'], portHookData(net.xml, { port: randomUUID(), vm: vm2, vmUuid: randomUUID(), mac: mac2 }))).exitCode).toBe(0);
  const ns1 = await sb.host('g1', net.bridge, '', undefined, mac1);
  const ns2 = await sb.host('g2', net.bridge, '', undefined, mac2);
  expect(await sb.dhcp(ns1)).toBe('10.0.0.100');
  const dynamic = await sb.dhcp(ns2);
  expect(dynamic).toMatch(/^10\.0\.0\.1[5-9]\d$/);

  const leases = await json(['leases', net.name]) as { address: string; mac: string; expires: string; guest?: string }[];
  expect([...leases].sort((a, b) => a.mac.localeCompare(b.mac))).toEqual([
    { address: '10.0.0.100', mac: mac1, guest: vm1, expires: expect.any(String) },
    { address: dynamic, mac: mac2, guest: vm2, expires: expect.any(String) },
  ].map((l) => expect.objectContaining(l)));
  for (const l of leases) expect(Date.parse(l.expires)).toBeGreaterThan(Date.now());
  const text = await sb.cli(['leases', net.name]);
  expect(text.stdout).toMatch(new RegExp(`^ADDRESS +MAC +HOSTNAME +EXPIRES +GUEST\\n-.*\\n10\\.0\\.0\\.100 +${mac1} +\\S+ +\\S+Z +${vm1}(\\n|$)`));
  expect(text.stdout.split('\n').filter((l) => l.length > 80)).toEqual([]);
  expect((await sb.cli(['leases', plain.name])).stdout).toBe(`network ${plain.name} runs no DHCP server (add <natns:dhcp start=... end=.../> to hand out addresses)`);
  expect(await json(['leases', plain.name])).toEqual([]);

  const upstream = (await json(['show', net.name])).upstream.address as string;
  const view = await json(['show', vm1]);
  expect(view).toEqual({
    guest: vm1, uuid: uuid1, running: true,
    networks: [{
      network: net.name, mac: mac1, private: '10.0.0.100', upstream,
      forwards: [{ proto: 'tcp', published: `${upstream}:8080`, to: '10.0.0.100:80' }],
      public: expect.stringMatching(/^198\.51\.100\.1\d\d$/),
    }],
    leases: [{ address: view.networks[0].public, bridge: provider }],
  });
  expect(view.networks[0].public).not.toBe(upstream);
  const shown = await sb.cli(['show', vm1]);
  expect(shown.stdout).toContain(`Network:         ${net.name} (MAC ${mac1})\nPrivate:         10.0.0.100\n`);
  expect(shown.stdout).toContain(`1:1 address:     ${view.networks[0].public}\nForwards:\n  tcp ${upstream}:8080 -> 10.0.0.100:80`);
  // By UUID too; a stopped guest shows the 1:1 address it keeps.
  expect((await json(['show', uuid1])).guest).toBe(vm1);
  expect((await sb.qemuHook([vm1, 'stopped', 'end', '-'], guestXml)).exitCode).toBe(0);
  expect(await json(['show', vm1])).toEqual({ guest: vm1, uuid: uuid1, running: false, networks: [], leases: [{ address: view.networks[0].public, bridge: provider }] });

  // A name natns knows neither as a network nor a guest.
  const unknown = await sb.cli(['show', vm2]);
  expect({ code: unknown.exitCode, err: unknown.stderr }).toEqual({ code: 2, err: `natns: no network named '${vm2}' (known: ${[net.name, plain.name].sort().join(', ')}), nor a guest natns knows; see natns list` });
  expect((await sb.cli(['leases', sb.name('nosuch')])).exitCode).toBe(2);
});
