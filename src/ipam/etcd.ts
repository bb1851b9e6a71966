import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcdConfig, HostConfig, PoolConfig } from '../config/config.js';
import { isAddress } from '../domain/address.js';
import { InputError, NatnsError } from '../domain/errors.js';
import type { FixedUpstream, Lease, LeaseOwner, Upstream, UpstreamSpec } from '../domain/model.js';
import { checkpoint } from '../sys/checkpoint.js';
import { writeFileAtomic } from '../sys/files.js';
import { isAlive, withLock } from '../sys/lock.js';
import { lowestFree, poolShape, rangeSize } from './allocator.js';
import { EtcdError, EtcdGateway, type EtcdSession, type KeyValue } from './etcd-gateway.js';
import { poolOf, type Ipam } from './ipam.js';
import type { FileLeaseStore } from './leases.js';

/**
 * Upstream leases in etcd, shared by every host on the provider network: one key per address,
 * `<prefix>leases/<bridge>/<address>`, holding its owner (UUID, name, host); a pool of prefixes
 * (NPTv6) leases whole prefixes, one key each, named by its first address. A lease is created
 * in one transaction that succeeds only while the key is absent, so two hosts never hold the
 * same address; no lock spans hosts. Hosts on one provider network must give its bridge the
 * same name (the key names the segment by it).
 *
 * Never guesses: etcd unreachable means the claim fails (within the configured timeout), never a
 * local lease. A create whose answer was lost (etcd died mid-request) may have happened: it is
 * written down first under `pending/`, and the address is given back with this host's next etcd
 * request unless its owner has claimed again by then, so a failed start leaves no lease behind.
 */
export class EtcdIpam implements Ipam {
  private readonly gateway: EtcdGateway;
  private pendingSeq = 0;

  constructor(
    private readonly etcd: EtcdConfig,
    private readonly config: () => HostConfig,
    /** This host's file leases: while any is left, claims are refused (they could duplicate one). */
    private readonly files: FileLeaseStore,
    private readonly pendingDir: string,
    private readonly lockDir: string,
  ) {
    this.gateway = new EtcdGateway(etcd);
  }

  private get host(): string {
    return this.config().host;
  }

  private leaseKey(bridge: string, address: string): string {
    return `${this.bridgeKey(bridge)}${address}`;
  }

  private bridgeKey(bridge: string): string {
    return `${this.etcd.prefix}leases/${bridge}/`;
  }

  async claim(spec: UpstreamSpec, owner: LeaseOwner, previous?: Upstream): Promise<Upstream> {
    const left = this.files.all();
    if (left.length > 0) {
      throw new InputError(
        `this host still holds ${left.length} upstream lease(s) in files (${left.slice(0, 3).map((l) => l.address).join(', ')}${left.length > 3 ? ', ...' : ''}) while the config says etcd: move them with 'natns ipam migrate --to etcd' first, so no address is handed out twice`,
      );
    }
    const me: LeaseOwner = { ...owner, host: this.host };
    const what = `lease an upstream address for ${owner.kind ?? 'network'} '${owner.name}'`;
    return this.talking(what, async (kv) => {
      await this.settle(kv, owner.uuid);
      const upstream = spec.kind === 'pool' ? await this.fromPool(kv, poolOf(spec.pool, this.config()), me, previous) : await this.fixed(kv, spec, me);
      if (previous && (previous.bridge !== upstream.bridge || previous.address !== upstream.address)) {
        await this.drop(kv, previous, owner.uuid);
      }
      return upstream;
    }, '; no address was leased locally instead');
  }

  async release(lease: { bridge: string; address: string }, ownerUuid: string): Promise<void> {
    await this.talking(`release ${lease.address} on ${lease.bridge}`, async (kv) => {
      await this.settle(kv);
      await this.drop(kv, lease, ownerUuid);
    });
  }

  async leases(options: { allHosts?: boolean } = {}): Promise<Lease[]> {
    return this.talking('read the leases', async (kv) => {
      await this.settle(kv);
      const all = (await kv.range(`${this.etcd.prefix}leases/`, true)).flatMap((x) => this.leaseOf(x) ?? []);
      return options.allHosts ? all : all.filter((l) => l.owner.host === this.host);
    });
  }

  async holder(bridge: string, address: string): Promise<Lease | undefined> {
    return this.talking('read the lease', async (kv) => {
      const x = await kv.get(this.leaseKey(bridge, address));
      return x && this.leaseOf(x);
    });
  }

  /**
   * Put a file lease of this host into etcd as it is (`natns ipam migrate`). Returns the owner
   * that holds the address in etcd when it is somebody else.
   */
  async adopt(lease: Lease): Promise<LeaseOwner | undefined> {
    const owner = { ...lease.owner, host: this.host };
    return this.talking(`move ${lease.address} on ${lease.bridge} into etcd`, async (kv) => {
      const held = await this.create(kv, lease.bridge, lease.address, owner, this.leaseKey(lease.bridge, lease.address));
      const other = held?.get(lease.address);
      return other && !this.isMine(other, owner.uuid) ? other : undefined;
    });
  }

  /** Who else holds the address of this host's `lease` in etcd, if anybody (for `ipam migrate`'s check). */
  async holderOf(lease: Lease): Promise<LeaseOwner | undefined> {
    const held = await this.holder(lease.bridge, lease.address);
    return held && !this.isMine(held.owner, lease.owner.uuid) ? held.owner : undefined;
  }

  /** Delete the lease if `ownerUuid` of this host still holds it. */
  private async drop(kv: EtcdSession, lease: { bridge: string; address: string }, ownerUuid: string): Promise<void> {
    const x = await kv.get(this.leaseKey(lease.bridge, lease.address));
    if (x && this.isMine(ownerOf(x), ownerUuid)) await kv.deleteIfUnchanged(x.key, x.modRevision);
  }

  private async fromPool(kv: EtcdSession, pool: PoolConfig, me: LeaseOwner, previous: Upstream | undefined): Promise<Upstream> {
    // Single addresses, or (NPTv6) whole prefixes, each under its first address: one key either way.
    const shape = poolShape(pool);
    const fromPool = (address: string): Upstream => ({
      bridge: pool.bridge, address, prefix: shape.prefix, gateway: pool.gateway, pool: pool.name,
    });
    const owner = { ...me, pool: pool.name };
    const inRange = shape.inRange;
    // A restart asks for its own key only, not the whole bridge, and takes no lock.
    if (previous && previous.bridge === pool.bridge && inRange(previous.address)) {
      const current = await kv.get(this.leaseKey(pool.bridge, previous.address));
      if (current && this.isMine(ownerOf(current), me.uuid, me.stretched)) return fromPool(previous.address);
      if (!current && (await this.create(kv, pool.bridge, previous.address, owner)) === undefined) return fromPool(previous.address);
    }
    // One allocation at a time per bridge on this host: local starts then never race each other
    // through etcd (a burst of N would cost N*(N+1)/2 transactions, each loser retrying), only
    // other hosts' starts do, and the create transaction settles that. Queued behind a start
    // that found etcd unreachable, a start fails at once with the same words instead of waiting
    // its own timeout in turn; on a busy host, the queue itself may take three timeouts.
    const queued = Date.now();
    const seconds = (3 * this.etcd.timeoutMs / 1000).toFixed(1);
    return withLock(join(this.lockDir, `bridge-${pool.bridge}.lock`), () => this.unlessDown(queued, async () => {
      const inLock = this.gateway.session();
      let view = this.byAddress(await inLock.range(this.bridgeKey(pool.bridge), true));
      this.refuseElsewhere(view, me, pool.bridge);
      const own = [...view].find(([a, o]) => inRange(a) && this.isMine(o, me.uuid, me.stretched));
      if (own) return fromPool(own[0]);
      // The lowest free address; when another host got there first, the transaction hands back
      // the bridge's keys as they are now and the next lowest is tried. Each round leases one
      // more address somewhere, so this ends (or the timeout does).
      for (;;) {
        const address = lowestFree(pool.first, pool.last, new Set(view.keys()), shape.step);
        if (address === undefined) {
          throw new InputError(
            `upstream pool '${pool.name}' is exhausted: all ${rangeSize(pool.first, pool.last, shape.step)} ${shape.units} ${pool.first}-${pool.last} are leased (by every host sharing etcd; see natns list --all-hosts); widen the pool or free an address with 'natns release NETWORK' on the host that holds it`,
          );
        }
        const lost = await this.create(inLock, pool.bridge, address, owner);
        if (lost === undefined) return fromPool(address);
        view = lost;
      }
    }), 3 * this.etcd.timeoutMs, () => new EtcdError(
      `etcd did not answer: ${this.etcd.endpoints.join(', ')} did not serve the starts ahead of this one on this host within ${seconds} s`,
    ));
  }

  /**
   * Run `fn`, unless a start ahead of this one (since `queued`) found etcd unavailable; when
   * `fn` finds it so, say it for the starts behind.
   */
  private async unlessDown<T>(queued: number, fn: () => Promise<T>): Promise<T> {
    const marker = join(this.lockDir, 'etcd-unavailable');
    try {
      if (statSync(marker).mtimeMs >= queued) throw new EtcdError(readFileSync(marker, 'utf8'));
    } catch (err) {
      if (err instanceof EtcdError) throw err;
    }
    try {
      return await fn();
    } catch (err) {
      if (err instanceof EtcdError) writeFileAtomic(marker, err.message, { durable: false });
      throw err;
    }
  }

  private async fixed(kv: EtcdSession, spec: FixedUpstream, me: LeaseOwner): Promise<Upstream> {
    const lost = await this.create(kv, spec.bridge, spec.address, me, this.leaseKey(spec.bridge, spec.address));
    const other = lost?.get(spec.address);
    if (other && !this.isMine(other, me.uuid, me.stretched)) {
      throw new InputError(`upstream address ${spec.address} on ${spec.bridge} is already used by '${other.name}' (${other.uuid}) on host ${other.host ?? '?'}; give this network another address`);
    }
    return { bridge: spec.bridge, address: spec.address, prefix: spec.prefix, gateway: spec.gateway };
  }

  /**
   * One create transaction, written down in `pending/` while its outcome is unknown. Returns
   * undefined when the key was created, else the keys under `view` (default: the bridge) as they are.
   */
  private async create(kv: EtcdSession, bridge: string, address: string, owner: LeaseOwner, view = this.bridgeKey(bridge)): Promise<Map<string, LeaseOwner> | undefined> {
    const note = this.notePending({ bridge, address, uuid: owner.uuid });
    const r = await kv.createIfAbsent(this.leaseKey(bridge, address), JSON.stringify(owner), view);
    checkpoint();
    rmSync(note, { force: true });
    return r.created ? undefined : this.byAddress(r.current);
  }

  private notePending(p: Pending): string {
    const file = join(this.pendingDir, `${process.pid}-${this.pendingSeq++}.json`);
    // Renamed into place, so a reader never sees half a note; no fsync: after a power loss the
    // etcd request it guards is settled by `natns check --repair` like any orphan lease.
    writeFileAtomic(file, JSON.stringify({ ...p, pid: process.pid }), { durable: false });
    return file;
  }

  /**
   * Give back what creates with a lost answer may have leased (their process is gone), unless
   * the owner claiming now is theirs: it finds its own lease again.
   */
  private async settle(kv: EtcdSession, claiming?: string): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.pendingDir).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
    } catch {
      return;
    }
    for (const name of names) {
      const file = join(this.pendingDir, name);
      let p: Pending & { pid: number };
      let age: number;
      try {
        age = Date.now() - statSync(file).mtimeMs;
        p = JSON.parse(readFileSync(file, 'utf8')) as Pending & { pid: number };
      } catch (err) {
        // Its process finished, or another one settled it: gone is fine. Torn (a crash while
        // writing it): the create never went out.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') rmSync(file, { force: true });
        continue;
      }
      // No create waits longer than the timeout; an older note's pid may be somebody else's now.
      if (isAlive(p.pid) && age < 2 * this.etcd.timeoutMs + 10_000) continue;
      if (p.uuid !== claiming) await this.drop(kv, p, p.uuid);
      rmSync(file, { force: true });
    }
  }

  /** A network UUID holds addresses on one host only: the same UUID elsewhere is refused, not shared. */
  private refuseElsewhere(held: Map<string, LeaseOwner>, me: LeaseOwner, bridge: string): void {
    for (const [address, o] of held) {
      if (o.uuid === me.uuid && o.host !== me.host && !(o.stretched && me.stretched)) {
        throw new InputError(
          `${me.kind ?? 'network'} '${me.name}' (${me.uuid}) already holds ${address} on ${bridge} from host ${o.host ?? '?'}; one UUID cannot hold addresses on two hosts: release it there first ('natns release ${o.name}' on ${o.host ?? 'that host'})`,
        );
      }
    }
  }

  /** A stretched network's one upstream address is shared by every host that runs it (one router at a time is active). */
  private isMine(o: LeaseOwner, uuid: string, stretched = false): boolean {
    return o.uuid === uuid && (o.host === this.host || (stretched && o.stretched === true));
  }

  private byAddress(list: KeyValue[]): Map<string, LeaseOwner> {
    return new Map(list.map((kv) => [kv.key.slice(kv.key.lastIndexOf('/') + 1), ownerOf(kv)]));
  }

  private leaseOf(kv: KeyValue): Lease | undefined {
    const [bridge, address] = kv.key.slice(`${this.etcd.prefix}leases/`.length).split('/');
    if (bridge === undefined || address === undefined || !isAddress(address)) return undefined;
    return { bridge, address, owner: ownerOf(kv) };
  }

  /** One operation, in one etcd session; a failure says what natns was doing, the gateway's message names the endpoints. */
  private async talking<T>(what: string, fn: (kv: EtcdSession) => Promise<T>, after = ''): Promise<T> {
    try {
      return await fn(this.gateway.session());
    } catch (err) {
      if (err instanceof EtcdError) throw new NatnsError(`cannot ${what}: ${err.message}${after}`, { cause: err });
      throw err;
    }
  }
}

interface Pending {
  bridge: string;
  address: string;
  uuid: string;
}

/** A key's owner; a value natns cannot read still holds its address, for an unknown owner. */
function ownerOf(kv: KeyValue): LeaseOwner {
  try {
    const o = JSON.parse(kv.value) as LeaseOwner;
    if (typeof o.uuid === 'string' && typeof o.name === 'string') return o;
  } catch {
    // Fall through.
  }
  return { uuid: '', name: `unreadable etcd value at ${kv.key}`, host: '?' };
}
