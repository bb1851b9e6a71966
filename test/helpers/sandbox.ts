import { execa } from 'execa';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostDeviceNames, namespaceName } from '../../src/domain/names.js';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = join(here, '..', '..');
export const HOOK = join(repoRoot, 'dist', 'hook-network.cjs');
export const CLI = join(repoRoot, 'dist', 'natns.mjs');
export const QEMU_HOOK = join(repoRoot, 'dist', 'hook-qemu.cjs');

export async function sh(file: string, args: string[], input?: string) {
  return execa(file, args, { input: input ?? '', reject: false, all: true });
}

async function must(file: string, args: string[], input?: string): Promise<string> {
  const r = await sh(file, args, input);
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} failed: ${r.all}`);
  return r.stdout;
}

/**
 * Everything a test makes carries this sandbox's prefix (tst + 5 hex), lives under its temp
 * directory, or is a natns object of one of its networks; cleanup() removes all of it, also
 * after a failed assertion.
 */
export class Sandbox {
  readonly id = `tst${randomBytes(3).toString('hex').slice(0, 5)}`;
  /** 0755 like /var/lib/natns: dnsmasq drops to nobody and must still read its files here. */
  readonly dir = chmodded(mkdtempSync(join(tmpdir(), 'natns-test-')), 0o755);
  readonly env: Record<string, string> = {
    NATNS_CONFIG: join(this.dir, 'config.json'),
    NATNS_STATE_DIR: join(this.dir, 'state'),
    NATNS_LOG_DIR: join(this.dir, 'log'),
    // What the CLI asks libvirt: its built-in test driver (no daemon, none of natns's networks),
    // not the machine's libvirtd, whose networks are other tests' and the admin's.
    NATNS_LIBVIRT_URI: 'test:///default',
  };
  private readonly networks: { name: string; uuid: string }[] = [];
  readonly children: (PromiseLike<unknown> & { kill: (s?: NodeJS.Signals) => boolean })[] = [];

  name(suffix: string): string {
    return `${this.id}-${suffix}`;
  }

  /** A network name and UUID that cleanup knows to sweep. */
  network(suffix: string): { name: string; uuid: string } {
    const net = { name: this.name(suffix), uuid: randomUUID() };
    this.networks.push(net);
    return net;
  }

  writeConfig(config: unknown): void {
    writeFileSync(this.env.NATNS_CONFIG!, JSON.stringify(config, null, 2));
  }

  async bridge(suffix: string): Promise<string> {
    const name = this.name(suffix);
    await must('ip', ['link', 'add', name, 'type', 'bridge']);
    await must('ip', ['link', 'set', name, 'up']);
    return name;
  }

  /**
   * A namespace with one veth into `bridge`, holding `cidr` and a default route via `gateway`
   * (no address at all when `cidr` is empty: a DHCP client's starting point).
   */
  async host(suffix: string, bridge: string, cidr: string, gateway?: string, mac?: string): Promise<string> {
    const ns = this.name(suffix);
    const lines = [
      `netns add ${ns}`,
      `link add ${ns}h master ${bridge} up type veth peer name eth0${mac ? ` address ${mac}` : ''} netns ${ns}`,
    ];
    await must('ip', ['-batch', '-'], lines.join('\n') + '\n');
    const inside = ['link set lo up', 'link set eth0 up'];
    if (cidr) inside.push(`addr add ${cidr} dev eth0`);
    if (gateway) inside.push(`route add default via ${gateway}`);
    await must('ip', ['-n', ns, '-batch', '-'], inside.join('\n') + '\n');
    return ns;
  }

  /** A TCP listener inside `ns` that records the source address of every connection ('::': IPv6 only). */
  async recorder(ns: string, port: number, name?: string, host?: string): Promise<{ sources: () => string[] }> {
    const child = execa('ip', ['netns', 'exec', ns, process.execPath, join(here, 'recorder.mjs'), String(port), name ?? '', ...(host ? [host] : [])], { reject: false, buffer: false });
    this.children.push(child);
    const sources: string[] = [];
    let ready: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    let pending = '';
    child.stdout!.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) {
        if (l === 'ready') ready();
        else if (l.trim()) sources.push(l.trim());
      }
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((_, rej) => (timer = setTimeout(() => rej(new Error('recorder did not start')), 10_000)));
    // Cleared, or the pending timer keeps Jest from exiting after the last test.
    await Promise.race([isReady, late]).finally(() => clearTimeout(timer));
    return { sources: () => [...sources] };
  }

  /**
   * A program inside `ns` that prints 'ready' once it listens; resolves then, and is killed at
   * cleanup. Resolves with nothing: an execa child is itself a promise, and resolving with it
   * would wait for it to exit.
   */
  spawnReady(ns: string, file: string, args: string[]): Promise<void> {
    const child = execa('ip', ['netns', 'exec', ns, file, ...args], { reject: false, buffer: false });
    this.children.push(child);
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${file} did not start`)), 10_000);
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
  }

  /** Open a TCP connection from inside `ns`; resolves to what the server said, or throws. */
  async connect(ns: string, address: string, port: number): Promise<string> {
    return must('ip', ['netns', 'exec', ns, process.execPath, join(here, 'connect.mjs'), address, String(port)]);
  }

  /** True when a TCP connection from `ns` (optionally from `source`) is answered within 2 s. */
  async reaches(ns: string, address: string, port: number, source = ''): Promise<boolean> {
    const r = await sh('ip', ['netns', 'exec', ns, process.execPath, join(here, 'connect.mjs'), address, String(port), source, '2000']);
    return r.exitCode === 0;
  }

  /**
   * IPv6 on eth0 of a test namespace: `cidr` without DAD (the test owns the segment) and, when
   * given, a default route. The namespace takes no router advertisements unless `slaac`.
   */
  async ipv6(ns: string, cidr: string, gateway?: string, slaac = false): Promise<void> {
    await must('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.eth0.accept_ra=${slaac ? 1 : 0}`, 'net.ipv6.conf.eth0.accept_dad=0']);
    const lines = [...(cidr ? [`addr add ${cidr} dev eth0 nodad`] : []), ...(gateway ? [`route add default via ${gateway} dev eth0`] : [])];
    if (lines.length) await must('ip', ['-n', ns, '-batch', '-'], lines.join('\n') + '\n');
  }

  async ping(ns: string, address: string): Promise<boolean> {
    const r = await sh('ip', ['netns', 'exec', ns, 'busybox', 'ping', '-c', '1', '-W', '2', address]);
    return r.exitCode === 0;
  }

  /** Run the built network hook as libvirt would, with this sandbox's config and state. */
  async hook(args: string[], stdin: string) {
    return execa(HOOK, args, { input: stdin, reject: false, env: this.env });
  }

  /** Run the built qemu hook as libvirt would. */
  async qemuHook(args: string[], stdin: string) {
    return execa(QEMU_HOOK, args, { input: stdin, reject: false, env: this.env });
  }

  async cli(args: string[]) {
    return execa(CLI, args, { reject: false, env: this.env });
  }

  /** The natns objects this sandbox's networks may have: two host devices each and a namespace. */
  private owned(): { devices: Set<string>; namespaces: Set<string> } {
    const devices = new Set<string>();
    for (const net of this.networks) {
      const d = hostDeviceNames(net.uuid);
      devices.add(d.lan).add(d.wan);
    }
    return { devices, namespaces: new Set(this.networks.map((n) => namespaceName(n.name))) };
  }

  async cleanup(): Promise<void> {
    for (const c of this.children) c.kill('SIGKILL');
    await Promise.all(this.children.map((c) => Promise.resolve(c).catch(() => undefined)));
    // Daemons natns started for this sandbox (dnsmasq) run from files under its folder.
    await sh('pkill', ['-KILL', '-f', '--', `--conf-file=${this.dir}/`]);
    const { devices, namespaces } = this.owned();
    const links = JSON.parse((await sh('ip', ['-j', 'link', 'show'])).stdout || '[]') as { ifname: string }[];
    const lines = [
      ...links.filter((l) => l.ifname.startsWith(this.id) || devices.has(l.ifname)).map((l) => `link del ${l.ifname}`),
      ...readdirSafe('/run/netns').filter((n) => n.startsWith(this.id) || n.startsWith(`natns-${this.id}`) || namespaces.has(n)).map((n) => `netns del ${n}`),
    ];
    if (lines.length) await sh('ip', ['-force', '-batch', '-'], lines.join('\n') + '\n');
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** busybox udhcpc on eth0 of a guest namespace; resolves to the address it was given. */
  async dhcp(ns: string): Promise<string> {
    const r = await sh('ip', ['netns', 'exec', ns, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', '5', '-T', '1', '-s', join(repoRoot, 'src', 'lab', 'udhcpc.sh')]);
    if (r.exitCode !== 0) throw new Error(`udhcpc in ${ns} got no lease: ${r.stderr}`);
    const addr = (await sh('ip', ['-n', ns, '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
    return /inet (\S+)\//.exec(addr)?.[1] ?? '';
  }

  /** Every natns object of this sandbox still in the kernel: what a test asserts is empty. */
  async leftovers(): Promise<string[]> {
    const { devices, namespaces } = this.owned();
    const links = JSON.parse((await sh('ip', ['-j', 'link', 'show'])).stdout || '[]') as { ifname: string }[];
    return [
      ...links.filter((l) => devices.has(l.ifname)).map((l) => `link ${l.ifname}`),
      ...readdirSafe('/run/netns').filter((n) => namespaces.has(n)).map((n) => `netns ${n}`),
    ];
  }
}

function chmodded(dir: string, mode: number): string {
  chmodSync(dir, mode);
  return dir;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
