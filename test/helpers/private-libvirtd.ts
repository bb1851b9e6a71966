import { execa } from 'execa';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, HOOK, QEMU_HOOK, type Sandbox } from './sandbox.js';
import { networkXml } from './xml.js';

/**
 * A libvirtd of the test's own, so that what natns asks libvirt (which networks run, their live
 * XML) has a real answer without touching the machine's libvirtd or its installed hooks. It runs
 * in a mount namespace of its own where /run/libvirt, /etc/libvirt, /var/lib/libvirt and
 * /var/cache/libvirt are empty tmpfs: its own sockets, network definitions and status, and as its
 * network hook this build's, with the sandbox's config and state; and its firewall tools do
 * nothing (see the script). Everything else is the host's: the network stack (its bridges are
 * real) and /run/netns, a shared mount, so the namespaces the hook makes are the host's too.
 */
export class PrivateLibvirtd {
  private holder?: { pid?: number | undefined; kill: (s?: NodeJS.Signals) => boolean };
  private daemon?: { pid?: number | undefined; kill: (s?: NodeJS.Signals) => boolean } & PromiseLike<unknown>;
  private readonly dir: string;

  /**
   * `qemu`: run QEMU guests too. This build's qemu hook goes in beside the network hook, and a
   * qemu.conf of the daemon's own has QEMU run as root without a security driver and write its
   * output to files (the host's virtlogd socket is not in the daemon's empty /run/libvirt).
   */
  constructor(private readonly sb: Sandbox, private readonly options: { qemu?: boolean } = {}) {
    this.dir = join(sb.dir, 'libvirt');
  }

  /** While this file exists, the hook waits after natns's `started` work, as if libvirt were slow to finish the start. */
  get pauseFile(): string {
    return join(this.dir, 'pause-after-started');
  }

  get pausedFile(): string {
    return join(this.dir, 'paused');
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const hook = join(this.dir, 'network-hook');
    const env = Object.entries(this.sb.env).map(([k, v]) => `export ${k}='${v}'`).join('\n');
    writeFileSync(hook, `#!/bin/sh
${env}
'${process.execPath}' '${HOOK}' "$@"
rc=$?
if [ "$2" = started ] && [ -e '${this.pauseFile}' ]; then
  touch '${this.pausedFile}'
  while [ -e '${this.pauseFile}' ]; do sleep 0.05; done
fi
exit $rc
`, { mode: 0o755 });
    const qemuHook = join(this.dir, 'qemu-hook');
    writeFileSync(qemuHook, `#!/bin/sh
${env}
exec '${process.execPath}' '${QEMU_HOOK}' "$@"
`, { mode: 0o755 });
    const qemuConf = join(this.dir, 'qemu.conf');
    writeFileSync(qemuConf, 'user = "root"\ngroup = "root"\nsecurity_driver = "none"\nstdio_handler = "file"\n');
    // Only inside the new mount namespace: the mount holding each folder stops propagating (on a
    // host whose / is shared the tmpfs would otherwise show up outside), while /run/netns, a mount
    // of its own, stays shared with the host.
    const hold = `set -e
for d in /run/libvirt /etc/libvirt /var/lib/libvirt /var/cache/libvirt; do
  mkdir -p "$d"
  mount --make-private "$(findmnt -n -o TARGET -T "$d")"
  mount -t tmpfs -o mode=0755 natns-test "$d"
done
# libvirt's firewall rules for its networks would land in the host's firewall and outlive this
# daemon (and, with br_netfilter loaded, reject the bridged traffic of the networks under test):
# in here its iptables, ip6tables and ebtables do nothing. natns itself uses nft.
for real in $(for t in iptables ip6tables ebtables; do p=$(command -v "$t") && readlink -f "$p"; done | sort -u); do
  mount --make-private "$(findmnt -n -o TARGET -T "$real")"
  mount --bind /bin/true "$real"
done
mkdir -p /etc/libvirt/hooks
cp "$0" /etc/libvirt/hooks/network
if [ -n "$1" ]; then cp "$1" /etc/libvirt/hooks/qemu; cp "$2" /etc/libvirt/qemu.conf; fi
echo ready
exec sleep infinity`;
    const holder = execa('unshare', ['-m', '--propagation', 'unchanged', 'sh', '-c', hold, hook, ...(this.options.qemu ? [qemuHook, qemuConf] : [])], { reject: false, buffer: false });
    this.sb.children.push(holder);
    this.holder = holder;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the private libvirt mount namespace did not come up')), 10_000);
      holder.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void holder.then((r) => {
        clearTimeout(timer);
        reject(new Error(`unshare failed: ${String(r.stderr ?? r.exitCode)}`));
      });
    });
    await this.startDaemon();
  }

  private get mountNs(): string {
    return `--mount=/proc/${this.holder!.pid}/ns/mnt`;
  }

  /** libvirtd in the namespace, in the foreground (so it stays this test's child); waits until it answers. */
  async startDaemon(): Promise<void> {
    const daemon = execa('nsenter', [this.mountNs, 'libvirtd', '-p', join(this.dir, 'libvirtd.pid')], { reject: false, buffer: false, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
    this.sb.children.push(daemon);
    this.daemon = daemon;
    for (let i = 0; i < 200; i++) {
      if ((await this.virsh('uri')).exitCode === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the private libvirtd did not answer');
  }

  /** As `pkill -KILL libvirtd` would: nothing of libvirt's own shutdown runs. */
  async killDaemon(): Promise<void> {
    this.daemon?.kill('SIGKILL');
    await this.daemon;
    rmSync(join(this.dir, 'libvirtd.pid'), { force: true });
  }

  async virsh(...args: string[]) {
    return execa('nsenter', [this.mountNs, 'virsh', '-c', 'qemu:///system', ...args], { reject: false, all: true });
  }

  /** A command in this libvirtd's mount namespace (its /etc/libvirt is a tmpfs of its own). */
  async exec(file: string, ...args: string[]) {
    return execa('nsenter', [this.mountNs, file, ...args], { reject: false, all: true });
  }

  /** The natns command where this libvirtd is the system's. */
  async cli(args: string[]) {
    return execa('nsenter', [this.mountNs, process.execPath, CLI, ...args], { reject: false, env: { ...this.sb.env, NATNS_LIBVIRT_URI: 'qemu:///system' } });
  }

  /** Define a natns network in this libvirtd (the same XML shape the hook tests use). */
  async define(suffix: string, opts: { upstream?: string; extra?: string } = {}): Promise<{ name: string; uuid: string; bridge: string }> {
    const net = this.sb.network(suffix);
    const bridge = this.sb.name(`b${suffix}`);
    const file = join(this.dir, `${net.name}.xml`);
    // STP off: with it on, the kernel holds every new port for two forward delays (4 s at least).
    let xml = networkXml({ ...net, bridge, ...(opts.upstream ? { upstream: opts.upstream } : {}) }).replace("stp='on'", "stp='off'");
    if (opts.extra) xml = xml.replace('</natns:nat>', `${opts.extra}</natns:nat>`);
    writeFileSync(file, xml);
    const r = await this.virsh('net-define', file);
    if (r.exitCode !== 0) throw new Error(`net-define ${net.name}: ${r.all}`);
    return { ...net, bridge };
  }

  /** libvirt's own word on a network: 'yes' or 'no'. */
  async active(name: string): Promise<string> {
    return /Active:\s+(\S+)/.exec((await this.virsh('net-info', name)).stdout)?.[1] ?? 'unknown';
  }

  async waitPaused(): Promise<void> {
    for (let i = 0; i < 200 && !existsSync(this.pausedFile); i++) await new Promise((r) => setTimeout(r, 50));
    if (!existsSync(this.pausedFile)) throw new Error('the hook never reached the pause');
  }

  /** Stop the daemon and leave the namespace; the sandbox removes the bridges and routers it made. */
  async stop(): Promise<void> {
    rmSync(this.pauseFile, { force: true });
    // Guests outlive their libvirtd: stop them first.
    if (this.options.qemu && this.daemon) {
      for (const name of (await this.virsh('list', '--name')).stdout.split('\n').map((l) => l.trim()).filter(Boolean)) await this.virsh('destroy', name);
    }
    this.daemon?.kill('SIGTERM');
    await this.daemon;
    this.holder?.kill('SIGKILL');
  }
}
