import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { poolConfig, poolSandbox } from '../helpers/hooknet.js';
import { PrivateLibvirtd } from '../helpers/private-libvirtd.js';
import { HOOK, QEMU_HOOK, sh, type Sandbox } from '../helpers/sandbox.js';

/**
 * natns doctor: every check gives a pass/fail line with its fix, against what this host really
 * has (kernel probes in throwaway namespaces, ARP from one, the host's own routes and sysctls) and
 * against a libvirtd of the test's own for the hook checks.
 */
interface Finding { check: string; status: 'pass' | 'fail' | 'warn'; detail: string; fix?: string }

let sb: Sandbox;
let provider: string;

beforeEach(async () => {
  ({ sb, provider } = await poolSandbox(true));
});

afterEach(async () => {
  await sb.cleanup();
});

async function doctor(cli: (args: string[]) => Promise<{ exitCode?: number; stdout: string; stderr: string }>): Promise<{ code: number | undefined; findings: Finding[]; ok: boolean }> {
  const r = await cli(['doctor', '--json']);
  const out = JSON.parse(r.stdout) as { ok: boolean; findings: Finding[] };
  return { code: r.exitCode, ...out };
}

const byCheck = (findings: Finding[]) => Object.fromEntries(findings.map((f) => [f.check, f]));

function probeLeftovers(): string[] {
  return readdirSync('/run/netns').filter((n) => n.startsWith('nnprobe-'))
    .concat(readdirSync('/sys/class/net').filter((n) => /^nnp[0-9a-f]{8}$/.test(n)));
}

test('doctor: kernel probes, tools, pools (bridge missing, gateway silent), a conflicting host route, br_netfilter and conntrack as the host has them', async () => {
  const before = probeLeftovers();
  const dead = await sb.bridge('dd');
  const other = await sb.bridge('ot');
  // A host route into the dead pool's subnet through another device (no address on the host).
  expect((await sh('ip', ['route', 'add', '203.0.113.240/28', 'dev', other])).exitCode).toBe(0);
  sb.writeConfig({
    pools: {
      ...poolConfig(provider).pools,
      dead: { bridge: dead, subnet: '203.0.113.0/24', gateway: '203.0.113.1', first: '203.0.113.100', last: '203.0.113.199' },
      gone: { bridge: sb.name('nobr'), subnet: '198.18.0.0/24', gateway: '198.18.0.1', first: '198.18.0.100', last: '198.18.0.199' },
    },
  });
  const r = await doctor((a) => sb.cli(a));
  const f = byCheck(r.findings);
  expect({ code: r.code, ok: r.ok }).toEqual({ code: 1, ok: false });
  for (const k of ['kernel: network namespaces', 'kernel: veth pairs', 'kernel: macvlan', 'kernel: nft NAT in a namespace', 'tool: node', 'tool: ip', 'tool: nft', 'tool: dnsmasq', 'config']) {
    expect({ k, status: f[k]?.status }).toEqual({ k, status: 'pass' });
  }
  expect(f['pool default: bridge ' + provider]).toMatchObject({ status: 'pass' });
  expect(f['pool default: gateway 198.51.100.1']).toMatchObject({ status: 'pass', detail: `on-link: 198.51.100.1 answered ARP on ${provider}` });
  expect(f['pool dead: gateway 203.0.113.1']).toMatchObject({ status: 'fail', detail: `203.0.113.1 did not answer ARP on ${dead} within 3 s`, fix: expect.stringContaining('203.0.113.1') });
  expect(f[`pool gone: bridge ${sb.name('nobr')}`]).toMatchObject({ status: 'fail', detail: `${sb.name('nobr')} does not exist`, fix: expect.stringContaining('create it') });
  expect(f['host: routes']).toMatchObject({ status: 'fail', detail: `203.0.113.240/28 dev ${other} overlaps pool dead (203.0.113.0/24 on ${dead})` });
  // What the host really has decides these two.
  const nf = ['iptables', 'ip6tables', 'arptables'].some((t) => {
    try {
      return readFileSync(`/proc/sys/net/bridge/bridge-nf-call-${t}`, 'utf8').trim() === '1';
    } catch {
      return false;
    }
  });
  expect(f['host: br_netfilter']).toMatchObject({ status: nf ? 'fail' : 'pass' });
  if (nf) expect(f['host: br_netfilter']!.fix).toMatch(/^sysctl -w net\.bridge\.bridge-nf-call-/);
  const conntrack = (process.env.PATH ?? '').split(delimiter).some((d) => existsSync(join(d, 'conntrack')));
  expect(f['tool: conntrack']).toMatchObject(conntrack ? { status: 'pass' } : { status: 'fail', fix: 'apt-get install conntrack' });
  // Every failure carries its fix; nothing the probes made is left.
  expect(r.findings.filter((x) => x.status === 'fail' && !x.fix)).toEqual([]);
  expect(probeLeftovers()).toEqual(before);
  expect(readdirSync(`/sys/class/net/${dead}/brif`)).toEqual([]);

  // The text form: one line per check (wrapped within 80 columns), the fix under a failure, exit 1.
  const text = await sb.cli(['doctor']);
  expect(text.exitCode).toBe(1);
  expect(text.stdout.split('\n').filter((l) => l.length > 80)).toEqual([]);
  expect(text.stdout).toMatch(new RegExp(`\\nFAIL  pool gone: bridge ${sb.name('nobr')}: ${sb.name('nobr')} does not exist\\n {6}fix: create it`));
  expect(text.stdout).toMatch(/\nPASS {2}kernel: veth pairs: /);
  expect(text.stdout.trimEnd()).toMatch(/natns doctor: \d+ check\(s\) failed$/);

  // Fixed: the pool that answers alone, the route gone.
  expect((await sh('ip', ['route', 'del', '203.0.113.240/28', 'dev', other])).exitCode).toBe(0);
  sb.writeConfig(poolConfig(provider));
  const fixed = byCheck((await doctor((a) => sb.cli(a))).findings);
  expect(fixed['host: routes']).toMatchObject({ status: 'pass' });
  expect(Object.keys(fixed).filter((k) => k.startsWith('pool '))).toEqual([`pool default: bridge ${provider}`, 'pool default: gateway 198.51.100.1']);

  // A broken config is one failing line; the other checks still run.
  sb.writeConfig({ pools: { default: { bridge: provider } } });
  const broken = await doctor((a) => sb.cli(a));
  expect(byCheck(broken.findings).config).toMatchObject({ status: 'fail', detail: expect.stringContaining(sb.env.NATNS_CONFIG!) });
  expect(byCheck(broken.findings)['kernel: veth pairs']).toMatchObject({ status: 'pass' });
  expect(broken.code).toBe(1);
  expect((await sb.cli(['doctor', '--bogus'])).exitCode).toBe(2);
});

test('doctor: libvirt hook folders, hooks installed, and libvirtd started since, against a libvirtd of the test\'s own', async () => {
  const libvirt = new PrivateLibvirtd(sb);
  try {
    await libvirt.start();
    const first = byCheck((await doctor((a) => libvirt.cli(a))).findings);
    expect(first['libvirt: version']).toMatchObject({ status: 'pass', detail: expect.stringMatching(/^libvirt \d+\.\d+\.\d+$/) });
    expect(first['libvirt: hook folders']).toMatchObject({ status: 'fail', fix: 'run ./install.sh (it makes them and installs the hooks)' });
    expect(first['hooks: installed']).toMatchObject({ status: 'fail' });

    // Installed as install.sh does (this build), while libvirtd runs: it has not read them.
    for (const [dir, target] of [['network.d', HOOK], ['qemu.d', QEMU_HOOK]] as const) {
      expect((await libvirt.exec('mkdir', '-p', `/etc/libvirt/hooks/${dir}`)).exitCode).toBe(0);
      expect((await libvirt.exec('ln', '-sfn', target, `/etc/libvirt/hooks/${dir}/natns`)).exitCode).toBe(0);
    }
    const second = await doctor((a) => libvirt.cli(a));
    const s = byCheck(second.findings);
    expect(s['libvirt: hook folders']).toMatchObject({ status: 'pass' });
    expect(s['hooks: installed']).toMatchObject({ status: 'pass' });
    expect(s['hooks: libvirtd started since']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^libvirtd \d+ \(started .*\) started before the hooks were installed/), fix: expect.stringContaining('libvirtd -d') });
    expect(second.code).toBe(1);

    await libvirt.killDaemon();
    await libvirt.startDaemon();
    const third = byCheck((await doctor((a) => libvirt.cli(a))).findings);
    expect(third['hooks: libvirtd started since']).toMatchObject({ status: 'pass', detail: expect.stringMatching(/^libvirtd \d+ started after the hooks were installed/) });
  } finally {
    await libvirt.stop();
  }
});
