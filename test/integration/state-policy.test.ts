import { execa } from 'execa';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineNet, domainXml, expectStarted, poolSandbox, portHookData, type TestNet } from '../helpers/hooknet.js';
import { CLI, repoRoot, type Sandbox } from '../helpers/sandbox.js';
import { policyViolations, walk } from '../helpers/state-tree.js';

/**
 * One policy for natns's state: root's alone (guest MACs, owners of addresses, the firewall), but
 * for the way dnsmasq needs to its hosts file after it drops to nobody. Not root: a command says
 * so instead of reporting what it cannot see.
 */
let sb: Sandbox;
let provider: string;

beforeEach(async () => {
  ({ sb, provider } = await poolSandbox(false));
});

afterEach(async () => {
  await sb.cleanup();
});

const state = () => sb.env.NATNS_STATE_DIR!;

test('every file natns writes is root-only whatever the umask, but for the way to dnsmasq\'s hosts file, and DHCP reservations still reach dnsmasq', async () => {
  const net: TestNet = defineNet(sb, '1');
  net.xml = net.xml.replace('</natns:nat>', '<natns:dhcp start="10.0.0.150" end="10.0.0.159"/></natns:nat>');
  // libvirtd's umask is its own business: natns sets every mode itself.
  const umask = process.umask(0o077);
  try {
    await expectStarted(sb, net);
    expect((await sb.cli(['forward', 'add', net.name, '--proto', 'tcp', '--port', '2222', '--to', '10.0.0.50:22'])).exitCode).toBe(0);
    const mac = '52:54:00:dd:00:01';
    const guest = { name: sb.name('vm1'), uuid: randomUUID() };
    const xml = domainXml({ ...guest, network: net.name, mac, metadata: `<natns:address network="${net.name}" ip="10.0.0.123"/><natns:forward network="${net.name}" proto="tcp" port="8080" to-port="80"/>` });
    const r = await sb.qemuHook([guest.name, 'start', 'begin', '-'], xml);
    expect({ code: r.exitCode, err: r.stderr }).toEqual({ code: 0, err: '' });
    expect((await sb.hook([net.name, 'port-created', 'begin', '-'], portHookData(net.xml, { port: randomUUID(), vm: guest.name, vmUuid: guest.uuid, mac }))).exitCode).toBe(0);
    // The reservation came after dnsmasq started: dnsmasq re-read its hosts file as nobody.
    const g = await sb.host('g1', net.bridge, '', undefined, mac);
    expect(await sb.dhcp(g)).toBe('10.0.0.123');
  } finally {
    process.umask(umask);
  }
  const entries = walk(state());
  const u = '[0-9a-f-]{36}';
  // Every kind of file natns keeps is there, so the policy below was held against each.
  for (const kind of [
    `networks/${u}\\.json`, `leases/${provider}/198\\.51\\.100\\.100`, `leases/${provider}/\\.owners/${u}`, `guests/${u}\\.json`,
    `forwards/${u}\\.json`, `nft/${u}\\.nft`, `ports/${u}/${u}\\.json`, 'locks',
    `dhcp/${u}/dnsmasq\\.conf`, `dhcp/${u}/hosts`, `dhcp/${u}/leases`, `dhcp/${u}/dnsmasq\\.log`, `dhcp/${u}/dnsmasq\\.pid`,
  ]) {
    expect(entries.filter((e) => new RegExp(`^${kind}$`).test(e.path)).map((e) => e.path)).toHaveLength(1);
  }
  expect(policyViolations(state(), entries)).toEqual([]);
});

test('scripts/state-modes.sh (run by install.sh) brings what an older natns left to the same policy', async () => {
  // An older natns: everything 0755 and 0644, dnsmasq's folder root's, its pid file dnsmasq's.
  const s = state();
  const uuid = randomUUID();
  for (const d of ['', 'networks', `leases/${provider}/.owners`, 'locks', 'nft', `dhcp/${uuid}`, `ports/${uuid}`]) {
    mkdirSync(join(s, d), { recursive: true });
    chmodSync(join(s, d), 0o755);
  }
  for (const f of [`networks/${uuid}.json`, `leases/${provider}/198.51.100.100`, `leases/${provider}/.owners/${uuid}`, `nft/${uuid}.nft`, `dhcp/${uuid}/hosts`, `dhcp/${uuid}/leases`, `dhcp/${uuid}/dnsmasq.conf`, `dhcp/${uuid}/dnsmasq.pid`]) {
    writeFileSync(join(s, f), '{}\n', { mode: 0o644 });
  }
  chownSync(join(s, `dhcp/${uuid}/dnsmasq.pid`), 65534, 65534);
  // The demo's folder (QEMU writes its guests' serial logs there) is not natns state.
  mkdirSync(join(s, 'lab', 'natnsdemo'), { recursive: true, mode: 0o755 });
  writeFileSync(join(s, 'lab', 'natnsdemo', 'guest1.log'), '', { mode: 0o644 });
  const natnsState = () => walk(s).filter((e) => !/^lab(\/|$)/.test(e.path));
  expect(policyViolations(s, natnsState()).length).toBeGreaterThan(10);
  for (let i = 0; i < 2; i++) {
    const r = await execa('sh', [join(repoRoot, 'scripts', 'state-modes.sh'), s], { reject: false });
    expect({ code: r.exitCode, all: r.stderr + r.stdout }).toEqual({ code: 0, all: '' });
    expect(policyViolations(s, natnsState())).toEqual([]);
  }
  expect(walk(s).filter((e) => e.path.startsWith('lab')).map((e) => e.mode)).toEqual(['0755', '0755', '0644']);
});

test('as anyone but root every command says it needs root, instead of reporting what it cannot see; --help still works', async () => {
  const net = defineNet(sb, '1');
  await expectStarted(sb, net);
  const asNobody = (args: string[]) => execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args], { env: sb.env, reject: false });
  for (const args of [['check'], ['list'], ['show', net.name], ['gc'], ['forward', 'list']]) {
    const r = await asNobody(args);
    expect({ code: r.exitCode, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 2, stdout: '', stderr: `natns: 'natns ${args[0]}' needs root: its state (${state()}) and the routers' namespaces are root's; run it as root`,
    });
  }
  const help = await asNobody(['--help']);
  expect({ code: help.exitCode, usage: help.stdout.split('\n')[0] }).toEqual({ code: 0, usage: 'Usage: natns COMMAND [OPTIONS]' });
  const checkHelp = await asNobody(['check', '--help']);
  expect({ code: checkHelp.exitCode, usage: checkHelp.stdout.split('\n')[0] }).toEqual({ code: 0, usage: 'Usage: natns check [NETWORK] [--repair [--dry-run]] [--json]' });
  // And as root the same check is clean: nothing was wrong but the caller.
  expect((await sb.cli(['check', net.name])).stdout).toBe('ok: the kernel matches the plan');
});
