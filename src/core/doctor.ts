import { accessSync, constants, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { loadConfig, type HostConfig, type PoolConfig } from '../config/config.js';
import { overlaps, parseCidr, subnetText, type Cidr } from '../domain/address.js';
import { errorText } from '../domain/errors.js';
import { arpProbe, probeKernel } from '../kernel/probe.js';
import { isBridge, linkExists } from '../kernel/sysfs.js';
import { paths } from '../sys/paths.js';
import { run } from '../sys/run.js';
import { makeContext } from './context.js';

export type Status = 'pass' | 'fail' | 'warn';

/** One line of `natns doctor`: what was checked, what was found, and what to do when it failed. */
export interface Finding {
  check: string;
  status: Status;
  detail: string;
  fix?: string;
}

const HOOKS = '/etc/libvirt/hooks';
/** libvirt runs every executable in hooks/network.d and hooks/qemu.d since 6.5.0. */
const MIN_LIBVIRT = [6, 5, 0];

const pass = (check: string, detail: string): Finding => ({ check, status: 'pass', detail });
const fail = (check: string, detail: string, fix: string): Finding => ({ check, status: 'fail', detail, fix });

function atLeast(version: number[], min: number[]): boolean {
  for (let i = 0; i < min.length; i++) {
    const v = version[i] ?? 0;
    if (v !== min[i]) return v > min[i]!;
  }
  return true;
}

const versionOf = (text: string, re: RegExp) => re.exec(text)?.[1];
const numbers = (v: string) => v.split('.').map((n) => Number.parseInt(n, 10) || 0);

async function kernel(): Promise<Finding[]> {
  const k = await probeKernel();
  const line = (check: string, r: { ok: boolean; detail: string }, fix: string) => (r.ok ? pass(check, r.detail) : fail(check, r.detail, fix));
  return [
    line('kernel: network namespaces', k.netns, 'natns needs CONFIG_NET_NS and root: run it as root on a kernel with network namespaces (any Debian kernel)'),
    line('kernel: veth pairs', k.veth, 'load the veth module: modprobe veth'),
    line('kernel: macvlan', k.macvlan, 'load the macvlan module (modprobe macvlan); only networks with <natns:patch type="macvlan"/> need it'),
    line('kernel: nft NAT in a namespace', k.nftNat, 'load nf_tables and nft_nat (modprobe nft_nat) and install nftables 0.9.3 or later'),
  ];
}

/** A program on PATH, as execvp would find it. */
function onPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    const file = join(dir || '.', program);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

async function tools(): Promise<Finding[]> {
  const wanted: { tool: string; argv: string[]; re: RegExp; min: number[]; pkg: string }[] = [
    { tool: 'ip', argv: ['ip', '-V'], re: /iproute2-v?(\d+\.\d+(?:\.\d+)?)/, min: [5, 0], pkg: 'iproute2' },
    { tool: 'nft', argv: ['nft', '--version'], re: /v(\d+\.\d+(?:\.\d+)?)/, min: [0, 9, 3], pkg: 'nftables' },
    { tool: 'dnsmasq', argv: ['dnsmasq', '--version'], re: /version (\d+\.\d+)/, min: [2, 80], pkg: 'dnsmasq-base' },
    { tool: 'sysctl', argv: ['sysctl', '--version'], re: /(\d+\.\d+(?:\.\d+)?)/, min: [3], pkg: 'procps' },
    { tool: 'busybox', argv: ['busybox'], re: /BusyBox v(\d+\.\d+(?:\.\d+)?)/, min: [1, 30], pkg: 'busybox-static' },
  ];
  const out: Finding[] = [];
  const node = process.versions.node;
  out.push(atLeast(numbers(node), [20]) ? pass('tool: node', `Node.js ${node}`) : fail('tool: node', `Node.js ${node}`, 'install Node.js 20 or later'));
  for (const w of wanted) {
    const check = `tool: ${w.tool}`;
    if (!onPath(w.argv[0]!)) {
      out.push(fail(check, `${w.tool} is not installed (not on PATH)`, `apt-get install ${w.pkg}`));
      continue;
    }
    const r = await run(w.argv[0]!, w.argv.slice(1));
    const v = versionOf(`${r.stdout}\n${r.stderr}`, w.re);
    if (v === undefined) out.push({ check, status: 'warn', detail: `${w.tool} is installed, its version could not be read` });
    else if (!atLeast(numbers(v), w.min)) out.push(fail(check, `${w.tool} ${v} is older than ${w.min.join('.')}`, `upgrade ${w.pkg}`));
    else out.push(pass(check, `${w.tool} ${v}`));
  }
  return out;
}

interface Daemon {
  pid: number;
  name: string;
  /** Milliseconds since the epoch. */
  started: number;
}

/** libvirt's daemons that run natns's hooks (libvirtd, or virtnetworkd and virtqemud) in this mount namespace, where their hook folder is ours. */
function libvirtDaemons(): Daemon[] {
  // Boot time to 10 ms from the uptime (/proc/stat's btime is whole seconds: too coarse to tell a
  // daemon restarted right after an install).
  const boot = Date.now() - Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
  const hz = 100;
  let self = '';
  try {
    self = readlinkSync('/proc/self/ns/mnt');
  } catch {
    // Compared with nothing: every daemon counts.
  }
  const out: Daemon[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      // The monolithic daemon, or the modular ones that read the network and qemu hooks.
      if (!['libvirtd', 'virtnetworkd', 'virtqemud'].includes(name)) continue;
      if (self && readlinkSync(`/proc/${pid}/ns/mnt`) !== self) continue;
      // Field 22 of stat, after the command in parentheses: start time in clock ticks since boot.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
      out.push({ pid: Number(pid), name, started: boot + (ticks / hz) * 1000 });
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

async function libvirt(): Promise<Finding[]> {
  const out: Finding[] = [];
  if (!onPath('virsh')) {
    return [fail('libvirt: version', 'virsh is not installed', 'apt-get install libvirt-daemon-system libvirt-clients')];
  }
  const r = await run('virsh', ['-c', 'qemu:///system', 'version', '--daemon']);
  const daemon = versionOf(r.stdout, /Running against daemon: (\d+\.\d+\.\d+)/);
  if (r.exitCode !== 0 || daemon === undefined) {
    out.push(fail('libvirt: version', `libvirtd does not answer: ${(r.stderr || r.stdout).trim().split('\n')[0] ?? ''}`, 'start it: libvirtd -d (without systemd, after virtlogd -d), or systemctl start libvirtd'));
  } else if (!atLeast(numbers(daemon), MIN_LIBVIRT)) {
    out.push(fail('libvirt: version', `libvirt ${daemon}; natns's hooks need ${MIN_LIBVIRT.join('.')} (hook folders)`, 'upgrade libvirt (Debian 12 has 9.0.0)'));
  } else {
    out.push(pass('libvirt: version', `libvirt ${daemon}`));
  }
  const folders = ['network.d', 'qemu.d'].map((d) => join(HOOKS, d));
  const missingFolders = folders.filter((d) => !existsSync(d));
  out.push(missingFolders.length === 0
    ? pass('libvirt: hook folders', folders.join(', '))
    : fail('libvirt: hook folders', `missing: ${missingFolders.join(', ')}`, 'run ./install.sh (it makes them and installs the hooks)'));

  const hooks = folders.map((d) => join(d, 'natns'));
  const broken = hooks.filter((h) => {
    try {
      accessSync(h, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (broken.length > 0) {
    out.push(fail('hooks: installed', `missing or not executable: ${broken.join(', ')}`, 'run ./install.sh'));
    return out;
  }
  const hookDir = dirname(realpathSync(hooks[0]!));
  out.push(sameBuild(hookDir)
    ? pass('hooks: installed', `${hooks.join(', ')} -> ${hookDir}`)
    : { check: 'hooks: installed', status: 'warn', detail: `the hooks run the natns in ${hookDir}, another build than this command's: libvirt runs those`, fix: 'run ./install.sh from the natns you mean to use' });

  const installed = Math.max(...hooks.map((h) => lstatSync(h).mtimeMs));
  const daemons = libvirtDaemons();
  if (daemons.length === 0) {
    out.push(fail('hooks: libvirtd started since', 'no libvirtd (or virtnetworkd) runs', 'start it: libvirtd -d (without systemd, after virtlogd -d), or systemctl start libvirtd'));
  } else {
    const stale = daemons.filter((d) => d.started < installed);
    out.push(stale.length === 0
      ? pass('hooks: libvirtd started since', `${daemons.map((d) => `${d.name} ${d.pid}`).join(', ')} started after the hooks were installed (${new Date(installed).toISOString()})`)
      : fail('hooks: libvirtd started since', `${stale.map((d) => `${d.name} ${d.pid} (started ${new Date(d.started).toISOString()})`).join(', ')} started before the hooks were installed (${new Date(installed).toISOString()}), so it does not run them`,
        'restart it: pkill -TERM -x libvirtd; libvirtd -d (or systemctl restart libvirtd)'));
  }
  return out;
}

/** Whether the hooks in `dir` are the natns this command is (its hook bundle beside it). */
function sameBuild(dir: string): boolean {
  try {
    const mine = dirname(realpathSync(resolve(process.argv[1] ?? '')));
    return mine === dir || readFileSync(join(mine, 'hook-core.cjs'), 'utf8') === readFileSync(join(dir, 'hook-core.cjs'), 'utf8');
  } catch {
    return false;
  }
}

async function poolChecks(pool: PoolConfig): Promise<Finding[]> {
  const check = `pool ${pool.name}: bridge ${pool.bridge}`;
  if (!linkExists(pool.bridge)) {
    return [fail(check, `${pool.bridge} does not exist`, `create it (see the README, "Preparing the provider bridge"), or correct "bridge" of pool "${pool.name}" in the natns config`)];
  }
  const up = readFileSync(`/sys/class/net/${pool.bridge}/operstate`, 'utf8').trim();
  const out = [up === 'down'
    ? fail(check, `${pool.bridge} is down`, `ip link set ${pool.bridge} up (and make it come up at boot)`)
    : pass(check, `${pool.bridge} is ${isBridge(pool.bridge) ? 'a bridge' : 'a device (macvlan networks only)'}, ${up}`)];
  const gw = `pool ${pool.name}: gateway ${pool.gateway}`;
  if (pool.subnet.address.includes(':')) {
    out.push({ check: gw, status: 'warn', detail: 'IPv6 gateways are not probed' });
  } else {
    const r = await arpProbe(pool.bridge, pool.gateway);
    out.push(r.ok ? pass(gw, `on-link: ${r.detail}`)
      : fail(gw, r.detail, `the upstream router must hold ${pool.gateway} on the segment of ${pool.bridge}: check the bridge's uplink port (${pool.bridge} needs the NIC as a port) and "gateway" of pool "${pool.name}"`));
  }
  return out;
}

/** bridge-nf-call-* sends bridged frames through the host's iptables: guest and router traffic would meet the host firewall. */
function brNetfilter(): Finding {
  const check = 'host: br_netfilter';
  const dir = '/proc/sys/net/bridge';
  if (!existsSync(dir)) return pass(check, 'br_netfilter is not loaded');
  const on = ['bridge-nf-call-iptables', 'bridge-nf-call-ip6tables', 'bridge-nf-call-arptables'].filter((k) => {
    try {
      return readFileSync(join(dir, k), 'utf8').trim() === '1';
    } catch {
      return false;
    }
  });
  return on.length === 0
    ? pass(check, 'br_netfilter is loaded, bridge-nf-call-* are 0')
    : fail(check, `${on.join(', ')} = 1: bridged guest and router traffic goes through the host's iptables`,
      `sysctl -w ${on.map((k) => `net.bridge.${k}=0`).join(' ')} (and in /etc/sysctl.d/), or unload br_netfilter when nothing needs it`);
}

interface Route {
  dst: string;
  dev?: string;
}

/** A host route into a pool's subnet through another device sends the host's packets for routers there astray. */
async function hostRoutes(config: HostConfig): Promise<Finding> {
  const check = 'host: routes';
  const pools = [...config.pools.values()];
  const conflicts: string[] = [];
  for (const family of ['-4', '-6']) {
    const r = await run('ip', ['-j', family, 'route', 'show', 'table', 'main']);
    const routes = r.exitCode === 0 ? JSON.parse(r.stdout || '[]') as Route[] : [];
    for (const route of routes) {
      if (route.dst === 'default' || !route.dev) continue;
      let dst: Cidr;
      try {
        const text = route.dst.includes('/') ? route.dst : `${route.dst}/${route.dst.includes(':') ? 128 : 32}`;
        dst = parseCidr(text, 'route', route.dst.includes(':') ? 'ipv6' : 'ipv4');
      } catch {
        continue;
      }
      for (const p of pools) {
        if (dst.address.includes(':') !== p.subnet.address.includes(':') || route.dev === p.bridge || !overlaps(dst, p.subnet)) continue;
        conflicts.push(`${route.dst} dev ${route.dev} overlaps pool ${p.name} (${subnetText(p.subnet)} on ${p.bridge})`);
      }
    }
  }
  return conflicts.length === 0
    ? pass(check, pools.length ? 'no host route sends a pool\'s subnet through another device' : 'no pools to check')
    : fail(check, conflicts.join('; '), 'delete the route (ip route del ...), or move the pool to the bridge that route uses');
}

/** The lease store answers: the files can be read, or etcd answers within its timeout. */
async function leaseStore(config: HostConfig): Promise<Finding> {
  const check = 'ipam: lease store';
  try {
    const leases = await makeContext().ipam.leases({ allHosts: true });
    return pass(check, config.ipam.backend === 'etcd'
      ? `etcd answers (${config.ipam.endpoints.join(', ')}): ${leases.length} lease(s) of every host`
      : `${leases.length} lease(s) in ${join(paths.state(), 'leases')}`);
  } catch (err) {
    return fail(check, errorText(err), config.ipam.backend === 'etcd'
      ? 'start etcd or correct "ipam" in the natns config; until etcd answers, networks cannot start (running ones keep running)'
      : `make ${paths.state()} readable by root again`);
  }
}

function conntrackTool(): Finding {
  const check = 'tool: conntrack';
  const file = onPath('conntrack');
  return file ? pass(check, `${file} (for natns exec NETWORK -- conntrack -L)`)
    : fail(check, 'conntrack is not installed: natns exec NETWORK -- conntrack cannot list or flush a router\'s connections', 'apt-get install conntrack');
}

/** Every check, in order; none stops the others. */
export async function doctor(): Promise<Finding[]> {
  const findings: Finding[] = [];
  const guard = async (check: string, fn: () => Promise<Finding[]> | Finding[]) => {
    try {
      findings.push(...(await fn()));
    } catch (err) {
      findings.push(fail(check, `the check itself failed: ${errorText(err)}`, 'run natns doctor again; report it if it stays'));
    }
  };
  await guard('kernel', kernel);
  await guard('tools', tools);
  await guard('libvirt', libvirt);
  let config: HostConfig | undefined;
  await guard('config', () => {
    try {
      config = loadConfig(paths.config());
      return [pass('config', `${paths.config()} is valid: ${config.pools.size} pool(s), leases in ${config.ipam.backend}`)];
    } catch (err) {
      return [fail('config', errorText(err), `correct ${paths.config()} (see the README, "Configuring a network")`)];
    }
  });
  if (config) {
    const c = config;
    await guard('ipam: lease store', async () => [await leaseStore(c)]);
    // The pools' ARP probes wait up to 3 s each: asked side by side, reported in order.
    const per = await Promise.all([...c.pools.values()].map(async (p) => {
      try {
        return await poolChecks(p);
      } catch (err) {
        return [fail(`pool ${p.name}`, `the check itself failed: ${errorText(err)}`, 'run natns doctor again; report it if it stays')];
      }
    }));
    findings.push(...per.flat());
  }
  await guard('host: br_netfilter', () => [brNetfilter()]);
  if (config) {
    const c = config;
    await guard('host: routes', async () => [await hostRoutes(c)]);
  }
  await guard('tool: conntrack', () => [conntrackTool()]);
  return findings;
}
