import { execa } from 'execa';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { poolConfig, poolSandbox } from '../helpers/hooknet.js';
import { PrivateLibvirtd } from '../helpers/private-libvirtd.js';
import { CLI, repoRoot, type Sandbox } from '../helpers/sandbox.js';

/**
 * The bash completion and the man page that the build generates from natns's own command line:
 * completion run by a real bash, naming a private libvirtd's networks and guests and the
 * sandbox's pools; the man page read by groff without a warning.
 */
let sb: Sandbox;
let provider: string;

beforeEach(async () => {
  ({ sb, provider } = await poolSandbox(false));
});

afterEach(async () => {
  await sb.cleanup();
});

const TOP = ['agent', 'check', 'demo', 'doctor', 'exec', 'forward', 'gc', 'ipam', 'leases', 'list', 'logs', 'metrics', 'network', 'pool', 'release', 'show'];

test('bash completion: commands, options and their values, and network, pool and guest names', async () => {
  sb.writeConfig({ pools: { ...poolConfig(provider).pools, spare: { bridge: provider, subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.200', last: '198.51.100.203' } } });
  const bin = join(sb.dir, 'bin');
  mkdirSync(bin);
  symlinkSync(CLI, join(bin, 'natns'));
  const libvirt = new PrivateLibvirtd(sb);
  try {
    await libvirt.start();
    const net = sb.name('n1');
    expect((await libvirt.cli(['network', 'create', net, '--gateway', '10.0.0.1/24', '--bridge', sb.name('b1')])).exitCode).toBe(0);
    const vm = sb.name('vm1');
    const domain = join(sb.dir, 'vm.xml');
    writeFileSync(domain, `<domain type='qemu'><name>${vm}</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>`);
    expect((await libvirt.virsh('define', domain)).exitCode).toBe(0);

    const complete = async (line: string): Promise<string[]> => {
      const words = line.split(' ');
      const script = `source '${join(repoRoot, 'dist', 'natns.bash')}'; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _natns; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const env = Object.entries({ ...sb.env, PATH: `${bin}:${process.env.PATH}` }).map(([k, v]) => `${k}=${v}`);
      const r = await libvirt.exec('env', ...env, 'bash', '-c', script);
      expect({ line, code: r.exitCode }).toEqual({ line, code: 0 });
      return r.stdout.split('\n').filter(Boolean).sort();
    };
    expect(await complete('natns ')).toEqual(TOP);
    expect(await complete('natns po')).toEqual(['pool']);
    expect(await complete('natns pool ')).toEqual(['list', 'show']);
    expect(await complete('natns pool show ')).toEqual(['default', 'spare']);
    expect(await complete('natns pool show default ')).toEqual([]);
    expect(await complete('natns show ')).toEqual([net, vm].sort());
    expect(await complete(`natns leases ${sb.id}`)).toEqual([net]);
    expect(await complete('natns network set ')).toEqual([net]);
    expect(await complete('natns network create x --patch ')).toEqual(['macvlan', 'veth']);
    expect(await complete('natns network create x --pool s')).toEqual(['spare']);
    expect(await complete('natns network create x --gateway 10.0.0.1/24 --')).toEqual(expect.arrayContaining(['--autostart', '--bridge', '--dhcp', '--json', '--start']));
    expect(await complete('natns list --')).toEqual(['--all-hosts', '--help', '--json', '--wide']);
    expect(await complete('natns ipam migrate --to ')).toEqual(['etcd']);
    expect(await complete(`natns exec ${net} -- nf`)).toContain('nft');
  } finally {
    await libvirt.stop();
  }
});

test('the man page has every command and option, and groff reads it without a warning; every help fits 80 columns', async () => {
  const page = join(repoRoot, 'dist', 'natns.8');
  const lint = await execa('groff', ['-man', '-ww', '-z', page], { reject: false, all: true });
  expect({ code: lint.exitCode, out: lint.all }).toEqual({ code: 0, out: '' });
  const text = (await execa('man', ['-l', page], { env: { MANWIDTH: '80', MAN_KEEP_FORMATTING: '' } })).stdout;
  for (const c of ['list', 'show', 'leases', 'doctor', 'metrics', 'logs', 'pool list', 'pool show', 'network create', 'network delete', 'network set', 'forward add', 'ipam migrate']) {
    expect(text).toMatch(new RegExp(`\\n {3}natns ${c} `));
  }
  for (const o of ['--textfile', '--upstream-address', '--follow', '--all-hosts']) expect(text).toContain(o);
  expect(text).toMatch(/EXIT STATUS\n +0 +done/);
  for (const c of [['pool', 'list'], ['pool', 'show'], ['network', 'create'], ['network', 'delete'], ['network', 'set'], ['doctor'], ['metrics'], ['logs'], ['leases'], ['show']]) {
    const r = await sb.cli([...c, '--help']);
    expect({ c, code: r.exitCode, wide: r.stdout.split('\n').filter((l) => l.length > 80) }).toEqual({ c, code: 0, wide: [] });
  }
});
