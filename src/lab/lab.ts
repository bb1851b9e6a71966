import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeContext } from '../core/context.js';
import { releaseNetwork } from '../core/network.js';
import { NatnsError } from '../domain/errors.js';
import { Netns } from '../kernel/netns.js';
import { linkExists, namespaceExists } from '../kernel/sysfs.js';
import { openDomains } from '../libvirt/domains.js';
import { renderTemplate, upstreamAttributes } from '../libvirt/templates.js';
import { netDefine, netNames, netRemove, netStart } from '../libvirt/virsh.js';
import { paths } from '../sys/paths.js';
import { run } from '../sys/run.js';
import { guestImage } from './image.js';

/**
 * A self-contained proof of natns on one host: a provider bridge with an upstream host in its
 * own namespace, N libvirt networks that all use 10.0.0.0/24, and one QEMU guest 10.0.0.100 on
 * each. Every object is named after `prefix`, so nothing collides with an admin's own, and
 * down() removes exactly those objects. Used by `natns demo` and by the end-to-end test.
 */
export interface LabOptions {
  prefix: string;
  networks: number;
  /** argv that runs natns itself, for its internal `_upstream-host` and `_http-get` commands. */
  natnsCommand: string[];
  progress?: (line: string) => void;
  port?: number;
  /** Networks (1-based) built with <natns:patch type="macvlan"/> instead of veth pairs. */
  macvlan?: number[];
  /**
   * Dual-stack: every network also gets fd00::1/64 and an upstream IPv6 address from the lab's
   * IPv6 pool, the upstream host 2001:db8:100::1, and each guest takes an IPv6 address by SLAAC
   * (router advertisements from its network's dnsmasq) and probes the upstream host over IPv6 too.
   */
  ipv6?: boolean;
}

export const LAB_SUBNET = { gateway: '198.51.100.1', prefix: 24, first: '198.51.100.100', last: '198.51.100.149' };
export const GUEST_IP = '10.0.0.100';
export const DHCP_RANGE = ['10.0.0.100', '10.0.0.199'] as const;
/** Every lab guest publishes its port 80 on this port of its network's upstream address. */
export const FORWARD_PORT = 8080;
export const PRIVATE_GATEWAY = '10.0.0.1';
export const LAB_SUBNET6 = { subnet: '2001:db8:100::/64', gateway: '2001:db8:100::1', first: '2001:db8:100::100', last: '2001:db8:100::1ff' };
export const PRIVATE_GATEWAY6 = 'fd00::1';

export interface GuestProbe {
  guest: string;
  network: string;
  up?: string;
  ping: boolean;
  tcp?: string;
  /** Dual-stack labs: the guest's SLAAC address, and its latest IPv6 probe of the upstream host. */
  up6?: string;
  ping6?: boolean;
  tcp6?: string;
}

export class Lab {
  readonly dir: string;
  readonly provider: string;
  readonly upstreamNs: string;
  readonly port: number;
  private readonly say: (line: string) => void;

  constructor(private readonly o: LabOptions) {
    if (!/^[a-z][a-z0-9]{2,9}$/.test(o.prefix)) throw new NatnsError(`lab prefix '${o.prefix}' must be 3 to 10 lowercase letters and digits`);
    this.dir = join(paths.state(), 'lab', o.prefix);
    this.provider = `${o.prefix}-pb`;
    this.upstreamNs = `${o.prefix}-upstream`;
    this.port = o.port ?? 8080;
    this.say = o.progress ?? (() => undefined);
  }

  network(i: number) {
    const p = this.o.prefix;
    return { name: `${p}-net${i}`, bridge: `${p}-br${i}`, guest: `${p}-guest${i}`, serialLog: join(this.dir, `guest${i}.log`), mac: mac(p, i) };
  }

  get indexes(): number[] {
    return Array.from({ length: this.o.networks }, (_, i) => i + 1);
  }

  get ipv6(): boolean {
    return this.o.ipv6 === true;
  }

  get poolFile(): string {
    return join(dirname(paths.config()), 'config.d', `${this.o.prefix}.json`);
  }

  get sourcesFile(): string {
    return join(this.dir, 'upstream-sources.log');
  }

  /** Refuse to start over objects that already exist: they may be an admin's. */
  async checkFree(): Promise<void> {
    const taken: string[] = [];
    const defined = new Set(await netNames());
    for (const i of this.indexes) {
      const n = this.network(i);
      if (defined.has(n.name)) taken.push(`network ${n.name}`);
      if (linkExists(n.bridge)) taken.push(`link ${n.bridge}`);
    }
    if (linkExists(this.provider)) taken.push(`link ${this.provider}`);
    if (namespaceExists(this.upstreamNs)) taken.push(`namespace ${this.upstreamNs}`);
    if (existsSync(this.poolFile)) taken.push(this.poolFile);
    if (taken.length) throw new NatnsError(`already present: ${taken.join(', ')}; remove them first (natns demo --down removes a kept demo)`);
  }

  async up(): Promise<void> {
    await this.checkFree();
    this.say('building the guest image from Debian\'s kernel and busybox (cached after the first time)');
    const image = guestImage();
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });

    this.say(`creating provider bridge ${this.provider} and upstream host ${LAB_SUBNET.gateway}${this.ipv6 ? ` / ${LAB_SUBNET6.gateway}` : ''} in namespace ${this.upstreamNs}`);
    await Netns.host.ipBatch([
      `link add ${this.provider} type bridge`,
      `link set ${this.provider} up`,
      `netns add ${this.upstreamNs}`,
      `link add ${this.o.prefix}-uph master ${this.provider} up type veth peer name eth0 netns ${this.upstreamNs}`,
    ], 'create the lab provider bridge');
    const upstreamHost = new Netns(this.upstreamNs);
    if (this.ipv6) {
      // The host's own end of the provider bridge runs no IPv6: nothing on the segment reaches
      // the host. The upstream host sends no router solicitations and takes no advertisements.
      await Netns.host.sysctl({ [`net.ipv6.conf.${this.provider}.disable_ipv6`]: '1' });
      await upstreamHost.sysctl({ 'net.ipv6.conf.eth0.accept_ra': '0', 'net.ipv6.conf.eth0.accept_dad': '0' });
    }
    await upstreamHost.ipBatch([
      'link set lo up', 'link set eth0 up', `addr add ${LAB_SUBNET.gateway}/${LAB_SUBNET.prefix} dev eth0`,
      ...(this.ipv6 ? [`addr add ${LAB_SUBNET6.gateway}/64 dev eth0 nodad`] : []),
    ], 'address the upstream host');
    this.startUpstreamHost();

    mkdirSync(dirname(this.poolFile), { recursive: true, mode: 0o755 });
    writeFileSync(this.poolFile, JSON.stringify({
      pools: {
        [this.o.prefix]: { bridge: this.provider, subnet: `198.51.100.0/${LAB_SUBNET.prefix}`, gateway: LAB_SUBNET.gateway, first: LAB_SUBNET.first, last: LAB_SUBNET.last },
        ...(this.ipv6 ? { [this.pool6]: { bridge: this.provider, ...LAB_SUBNET6 } } : {}),
      },
    }, null, 2) + '\n', { mode: 0o644 });

    for (const i of this.indexes) {
      const n = this.network(i);
      const macvlan = this.o.macvlan?.includes(i) ?? false;
      const family6 = this.ipv6 ? ` and fd00::/64, gateway ${PRIVATE_GATEWAY6}` : '';
      this.say(`starting network ${n.name} (10.0.0.0/24, gateway ${PRIVATE_GATEWAY}${family6}, ${macvlan ? 'macvlan' : 'veth'} patches) with virsh net-start`);
      // The IPv6 pair follows the IPv4 one: each <upstream> serves the <private> in its position.
      const ipv6 = this.ipv6 ? `\n      <natns:private address="${PRIVATE_GATEWAY6}" prefix="64"/>\n      <natns:upstream pool="${this.pool6}"/>` : '';
      await netDefine(renderTemplate('network', {
        name: n.name, bridge: n.bridge, privateAddress: PRIVATE_GATEWAY, privatePrefix: 24, upstream: upstreamAttributes({ pool: this.o.prefix }),
        extra: `${ipv6}\n      <natns:dhcp start="${DHCP_RANGE[0]}" end="${DHCP_RANGE[1]}"/>${macvlan ? '\n      <natns:patch type="macvlan"/>' : ''}`,
      }));
      await netStart(n.name);
    }
    const domains = await openDomains();
    try {
      for (const i of this.indexes) {
        const n = this.network(i);
        this.say(`starting guest ${n.guest} on ${n.name}: DHCP reserves it ${GUEST_IP}${this.ipv6 ? ', it takes its IPv6 address by SLAAC' : ''}, and its metadata publishes tcp ${FORWARD_PORT} -> its port 80`);
        rmSync(n.serialLog, { force: true });
        const cmdline = `console=ttyS0 quiet panic=-1 natns.name=${n.guest} natns.dhcp=1 natns.serve=80 natns.probe=${LAB_SUBNET.gateway}:${this.port}` +
          (this.ipv6 ? ` natns.probe6=${LAB_SUBNET6.gateway}` : '');
        const metadata = `
    <natns:guest xmlns:natns="urn:natns:guest:1">
      <natns:address network="${n.name}" ip="${GUEST_IP}"/>
      <natns:forward network="${n.name}" proto="tcp" port="${FORWARD_PORT}" to-port="80"/>
    </natns:guest>
  `;
        await domains.defineAndStart(renderTemplate('guest', {
          name: n.guest, metadata, kernel: image.kernel, initrd: image.initrd, cmdline, network: n.name, mac: n.mac, serialLog: n.serialLog,
        }));
      }
    } finally {
      await domains.close();
    }
  }

  private startUpstreamHost(): void {
    const log = openSync(join(this.dir, 'upstream-host.log'), 'a');
    const child = spawn('ip', ['netns', 'exec', this.upstreamNs, ...this.o.natnsCommand, '_upstream-host', String(this.port), this.sourcesFile], {
      detached: true, stdio: ['ignore', log, log],
    });
    closeSync(log);
    writeFileSync(join(this.dir, 'upstream-host.pid'), String(child.pid));
    child.unref();
  }

  /** The latest report of each guest's serial console. */
  probes(): GuestProbe[] {
    return this.indexes.map((i) => {
      const n = this.network(i);
      let text = '';
      try {
        text = readFileSync(n.serialLog, 'utf8');
      } catch {
        // Not booted yet.
      }
      const up = /NATNS-GUEST \S+ up (\S+)/.exec(text)?.[1];
      const probes = [...text.matchAll(/NATNS-PROBE \S+ (\d+) ping=(\w+) tcp=(ok (.*)|fail)/g)];
      const last = probes[probes.length - 1];
      const probe: GuestProbe = {
        guest: n.guest, network: n.name, ...(up ? { up } : {}),
        ping: last?.[2] === 'ok', ...(last?.[4] ? { tcp: last[4].trim() } : {}),
      };
      if (!this.ipv6) return probe;
      const probes6 = [...text.matchAll(/NATNS-PROBE6 \S+ (\d+) addr=(\S+) ping=(\w+) tcp=(ok (.*)|fail)/g)];
      const last6 = probes6[probes6.length - 1];
      const up6 = last6?.[2] !== undefined && last6[2] !== 'none' ? last6[2] : undefined;
      return { ...probe, ...(up6 ? { up6 } : {}), ping6: last6?.[3] === 'ok', ...(last6?.[5] ? { tcp6: last6[5].trim() } : {}) };
    });
  }

  /** Wait until every guest reports both ping and TCP through its network (in both families, when dual-stack). */
  async waitForGuests(timeoutMs = 120_000, since = 0): Promise<GuestProbe[]> {
    const deadline = Date.now() + timeoutMs;
    let lastSaid = '';
    const reached = (p: GuestProbe) => p.ping && p.tcp !== undefined && (!this.ipv6 || (p.ping6 === true && p.tcp6 !== undefined));
    for (;;) {
      const probes = this.probes();
      const status = probes.map((p) => `${p.guest}: ${p.up ? (reached(p) ? 'reached upstream' : `booted, probing${this.ipv6 ? ` (IPv4 ${p.ping && p.tcp ? 'ok' : 'not yet'}, IPv6 ${p.ping6 && p.tcp6 ? 'ok' : p.up6 ? 'not yet' : 'waiting for its SLAAC address'})` : ''}`) : 'booting'}`).join(', ');
      if (status !== lastSaid) this.say(status);
      lastSaid = status;
      if (probes.every(reached) && this.probeCount() > since) return probes;
      if (Date.now() > deadline) throw new NatnsError(`guests did not reach the upstream host within ${timeoutMs / 1000} s: ${status}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** The smallest probe sequence number any guest has reached. */
  probeCount(): number {
    return Math.min(...this.indexes.map((i) => {
      let text = '';
      try {
        text = readFileSync(this.network(i).serialLog, 'utf8');
      } catch {
        return 0;
      }
      const all = [...text.matchAll(/NATNS-PROBE \S+ (\d+) ping=ok tcp=ok/g)];
      return all.length ? Number(all[all.length - 1]![1]) : 0;
    }));
  }

  /** The lab's IPv6 pool (dual-stack labs). */
  get pool6(): string {
    return `${this.o.prefix}6`;
  }

  /** From the upstream host, fetch http://UPSTREAM:8080/ — a guest's port 80 through its forward. */
  async fetchThroughForward(upstreamAddress: string): Promise<string> {
    const r = await run('ip', ['netns', 'exec', this.upstreamNs, ...this.o.natnsCommand, '_http-get', `http://${upstreamAddress}:${FORWARD_PORT}/`]);
    return r.exitCode === 0 ? r.stdout.trim() : `failed: ${r.stderr.trim()}`;
  }

  /** Source addresses the upstream host has seen, each once (IPv4 and IPv6 alike). */
  upstreamSources(): string[] {
    try {
      return [...new Set(readFileSync(this.sourcesFile, 'utf8').split('\n').filter(Boolean))].sort();
    } catch {
      return [];
    }
  }

  /** Remove everything the lab made; what is already gone is fine, and every step is tried. */
  async down(): Promise<void> {
    const errors: string[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        errors.push(`${what}: ${(err as Error).message}`);
      }
    };
    await attempt('guests', async () => {
      const domains = await openDomains();
      try {
        for (const i of this.indexes) await domains.remove(this.network(i).guest);
      } finally {
        await domains.close();
      }
    });
    const ctx = makeContext();
    for (const i of this.indexes) {
      const n = this.network(i);
      await attempt(`network ${n.name}`, async () => {
        await netRemove(n.name);
        const record = ctx.records.findByName(n.name);
        if (record) await releaseNetwork(record, ctx, { dropAdminForwards: true });
      });
    }
    await attempt('upstream host', async () => {
      const pidFile = join(this.dir, 'upstream-host.pid');
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8'));
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      const lines = [`link del ${this.o.prefix}-uph`, `link del ${this.provider}`, `netns del ${this.upstreamNs}`,
        ...this.indexes.map((i) => `link del ${this.network(i).bridge}`)];
      await run('ip', ['-force', '-batch', '-'], lines.join('\n') + '\n');
    });
    rmSync(this.poolFile, { force: true });
    rmSync(this.dir, { recursive: true, force: true });
    if (errors.length) throw new NatnsError(`could not remove everything: ${errors.join('; ')}`);
  }
}

/** A stable locally administered MAC per lab guest. */
function mac(prefix: string, i: number): string {
  let h = 0;
  for (const c of prefix) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  const b = [(h >>> 16) & 255, (h >>> 8) & 255, h & 255, i & 255];
  return ['52', '54', ...b.map((x) => x.toString(16).padStart(2, '0'))].join(':');
}
