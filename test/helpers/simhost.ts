import { execa, type ResultPromise } from 'execa';
import { join } from 'node:path';
import { HOOK, CLI, repoRoot, Sandbox, sh } from './sandbox.js';

/**
 * A simulated KVM host on this machine: its own network and mount namespaces (its own
 * /run/netns and /sys, so its natns sees only its own bridges and routers) and its own sandbox
 * folder, config and state. Killing its holder process ends both namespaces once nothing else
 * (a dnsmasq: the sandbox's cleanup kills those) runs in them.
 */
export class SimHost {
  private constructor(readonly name: string, readonly sb: Sandbox, private readonly holder: ResultPromise, readonly pid: number) {}

  static async start(name: string): Promise<SimHost> {
    const sb = new Sandbox();
    const holder = execa('unshare', ['--mount', '--net', '--propagation', 'private', 'sh', '-c',
      'mount -t tmpfs tmpfs /run/netns && mount -t sysfs sysfs /sys && ip link set lo up && echo ready && exec sleep infinity'],
    { reject: false, buffer: false });
    sb.children.push(holder);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`simulated host ${name} did not start`)), 5000);
      holder.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return new SimHost(name, sb, holder, holder.pid!);
  }

  private enter(): string[] {
    return [`--target=${this.pid}`, '--net', '--mount'];
  }

  /** A command inside this host, with its natns environment. */
  run(argv: string[], input = '') {
    return execa('nsenter', [...this.enter(), ...argv], { input, reject: false, all: true, env: this.sb.env });
  }

  async must(argv: string[], input = ''): Promise<string> {
    const r = await this.run(argv, input);
    if (r.exitCode !== 0) throw new Error(`${this.name}: ${argv.join(' ')} failed: ${r.all}`);
    return r.stdout;
  }

  async ip(lines: string[]): Promise<void> {
    await this.must(['ip', '-batch', '-'], lines.join('\n') + '\n');
  }

  /** A long-running process inside this host; killed on cleanup. */
  spawn(argv: string[]) {
    const child = execa('nsenter', [...this.enter(), ...argv], { reject: false, all: true, env: this.sb.env });
    this.sb.children.push(child);
    return child;
  }

  hook(args: string[], stdin: string) {
    return this.run([HOOK, ...args], stdin);
  }

  cli(args: string[]) {
    return this.run([CLI, ...args]);
  }

  /** Move a device of the machine's namespace into this host, under a new name. */
  async adopt(device: string, as: string): Promise<void> {
    const r = await sh('ip', ['link', 'set', device, 'netns', String(this.pid)]);
    if (r.exitCode !== 0) throw new Error(`move ${device} into ${this.name}: ${r.all}`);
    await this.ip([`link set ${device} name ${as}`]);
  }

  /** A guest namespace inside this host on `bridge`, waiting for DHCP. */
  async guest(name: string, bridge: string): Promise<void> {
    await this.ip([
      `netns add ${name}`,
      `link add ${name}h master ${bridge} up type veth peer name eth0 netns ${name}`,
    ]);
    await this.must(['ip', '-n', name, '-batch', '-'], 'link set lo up\nlink set eth0 up\n');
  }

  /** busybox udhcpc in a guest, asking for the MTU too (option 26) and applying it. */
  async dhcp(guest: string): Promise<{ address: string; mtu: number }> {
    await this.must(['ip', 'netns', 'exec', guest, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', '5', '-T', '1', '-O', 'mtu', '-s', join(repoRoot, 'src', 'lab', 'udhcpc.sh')]);
    const link = JSON.parse(await this.must(['ip', '-n', guest, '-j', '-4', 'addr', 'show', 'dev', 'eth0'])) as { mtu: number; addr_info: { local: string }[] }[];
    return { address: link[0]?.addr_info[0]?.local ?? '', mtu: link[0]?.mtu ?? 0 };
  }

  async cleanup(): Promise<void> {
    await this.sb.cleanup();
    this.holder.kill('SIGKILL');
  }
}
