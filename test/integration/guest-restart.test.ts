import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { guestImage } from '../../src/lab/image.js';
import { renderTemplate } from '../../src/libvirt/templates.js';
import { poolSandbox } from '../helpers/hooknet.js';
import { PrivateLibvirtd } from '../helpers/private-libvirtd.js';
import { repoRoot, type Sandbox, sh } from '../helpers/sandbox.js';

/**
 * A network restart under a running guest (issue 16, item 1). libvirt 9 leaves a running guest's
 * tap off the bridge it makes anew at `virsh net-start`; natns plugs it back from its own port
 * records and the kernel. A real QEMU guest through a libvirtd of the test's own (with this
 * build's network and qemu hooks) must answer on its published port again within 5 s.
 */
let sb: Sandbox;
let upstream: string;
let libvirt: PrivateLibvirtd | undefined;

beforeEach(async () => {
  ({ sb, upstream } = await poolSandbox(true));
});

afterEach(async () => {
  await libvirt?.stop();
  libvirt = undefined;
  await sb.cleanup();
});

const HTTP_WAIT = join(repoRoot, 'test', 'helpers', 'http-wait.mjs');

/** From the upstream host: the guest's port 80 through its published port 8080, within `budget` ms. */
async function fetchGuest(address: string, budget: number): Promise<{ ok: boolean; ms: number; body: string }> {
  const r = await sh('ip', ['netns', 'exec', upstream, process.execPath, HTTP_WAIT, `http://${address}:8080/`, String(budget)]);
  const [ms, ...body] = r.stdout.split(' ');
  return { ok: r.exitCode === 0, ms: Number(ms), body: body.join(' ') };
}

async function tapOf(guest: string): Promise<string> {
  const out = (await libvirt!.virsh('domiflist', guest)).stdout;
  const tap = /^\s*(vnet\d+)\s/m.exec(out)?.[1];
  if (!tap) throw new Error(`no tap for ${guest}: ${out}`);
  return tap;
}

async function masterOf(dev: string): Promise<string | undefined> {
  const [link] = JSON.parse((await sh('ip', ['-j', 'link', 'show', 'dev', dev])).stdout) as { master?: string }[];
  return link?.master;
}

test('a running guest answers on its published port within 5 s of net-destroy + net-start; check reports a tap off its bridge and repair plugs it back', async () => {
  libvirt = new PrivateLibvirtd(sb, { qemu: true });
  await libvirt.start();
  const net = await libvirt.define('n1');
  expect((await libvirt.virsh('net-start', net.name)).all).toMatch(/started/);

  const image = guestImage(join(sb.dir, 'guest-image'));
  const guest = sb.name('g1');
  const file = join(sb.dir, 'guest.xml');
  writeFileSync(file, renderTemplate('guest', {
    name: guest, kernel: image.kernel, initrd: image.initrd, network: net.name, mac: '52:54:00:5e:16:01', serialLog: join(sb.dir, 'guest.log'),
    cmdline: `console=ttyS0 quiet panic=-1 natns.name=${guest} natns.ip=10.0.0.100/24 natns.gw=10.0.0.1 natns.serve=80 natns.probe=198.51.100.1:9`,
    metadata: `<natns:guest xmlns:natns="urn:natns:guest:1">
      <natns:address network="${net.name}" ip="10.0.0.100"/>
      <natns:forward network="${net.name}" proto="tcp" port="8080" to-port="80"/>
    </natns:guest>`,
  }));
  expect((await libvirt.virsh('define', file)).exitCode).toBe(0);
  const started = await libvirt.virsh('start', guest);
  expect({ code: started.exitCode, out: started.all }).toEqual({ code: 0, out: expect.stringContaining('started') });
  const [mapping] = JSON.parse((await libvirt.cli(['list', '--json'])).stdout) as { uuid: string; upstream: { address: string } }[];
  const address = mapping!.upstream.address;
  // QEMU under TCG: the guest boots and serves within a minute.
  expect(await fetchGuest(address, 90_000)).toEqual({ ok: true, ms: expect.any(Number), body: `guest ${guest}` });
  const tap = await tapOf(guest);
  expect(await masterOf(tap)).toBe(net.bridge);

  // The restart: libvirt makes a new bridge and leaves the tap off it; natns's `started` plugs it in.
  expect((await libvirt.virsh('net-destroy', net.name)).exitCode).toBe(0);
  const t0 = Date.now();
  expect((await libvirt.virsh('net-start', net.name)).exitCode).toBe(0);
  const back = await fetchGuest(address, 5_000 - (Date.now() - t0));
  const recovered = Date.now() - t0;
  process.stderr.write(`guest answered again ${recovered} ms after net-start began (net-start and the prober's own start: ${recovered - back.ms} ms)\n`);
  expect(back).toEqual({ ok: true, ms: expect.any(Number), body: `guest ${guest}` });
  expect(recovered).toBeLessThan(5_000);
  expect(await masterOf(tap)).toBe(net.bridge);
  const show = JSON.parse((await libvirt.cli(['show', net.name, '--json'])).stdout) as { guests: { vm: string }[]; differences: string[] };
  expect(show.guests).toEqual([expect.objectContaining({ vm: guest, attached: true })]);
  const clean = await libvirt.cli(['check', net.name]);
  expect({ code: clean.exitCode, out: clean.stdout }).toEqual({ code: 0, out: 'ok: the kernel matches the plan' });

  // A tap knocked off its bridge behind natns's back: check says so, repair plugs it back.
  expect((await sh('ip', ['link', 'set', tap, 'nomaster'])).exitCode).toBe(0);
  const broken = await libvirt.cli(['check', net.name]);
  expect(broken.exitCode).toBe(1);
  expect(broken.stdout).toContain(`${net.name}: guest ${guest}'s interface ${tap} (52:54:00:5e:16:01) is off the network's bridge ${net.bridge}`);
  const repaired = await libvirt.cli(['check', net.name, '--repair']);
  expect({ code: repaired.exitCode, err: repaired.stderr }).toEqual({ code: 0, err: '' });
  expect(repaired.stdout).toContain(`plugged guest ${guest}'s interface ${tap} back into ${net.bridge}`);
  expect(await masterOf(tap)).toBe(net.bridge);
  expect((await fetchGuest(address, 5_000)).ok).toBe(true);
  expect((await libvirt.cli(['check', net.name])).exitCode).toBe(0);

  // natns never heard of the guest's port (say, the hooks came after the guest): its qemu hook
  // record (the guest's natns metadata) is enough, and the port record comes back.
  rmSync(join(sb.env.NATNS_STATE_DIR!, 'ports', mapping!.uuid), { recursive: true, force: true });
  expect((await libvirt.virsh('net-destroy', net.name)).exitCode).toBe(0);
  expect((await libvirt.virsh('net-start', net.name)).exitCode).toBe(0);
  expect((await fetchGuest(address, 5_000)).ok).toBe(true);
  const restored = JSON.parse((await libvirt.cli(['show', net.name, '--json'])).stdout) as { guests: { vm: string }[] };
  expect(restored.guests).toEqual([expect.objectContaining({ vm: guest, mac: '52:54:00:5e:16:01', attached: true })]);

  // The guest stops while its network is down: its record goes with it at the next start.
  expect((await libvirt.virsh('net-destroy', net.name)).exitCode).toBe(0);
  expect((await libvirt.virsh('destroy', guest)).exitCode).toBe(0);
  expect((await libvirt.virsh('net-start', net.name)).exitCode).toBe(0);
  const after = JSON.parse((await libvirt.cli(['show', net.name, '--json'])).stdout) as { guests: unknown[] };
  expect(after.guests).toEqual([]);
}, 240_000);
