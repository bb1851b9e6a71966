import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcdConfig } from '../config/config.js';
import { namespaceName, NS_LAN, NS_WAN } from '../domain/names.js';
import type { NetworkRecord } from '../domain/model.js';
import type { Context } from '../core/context.js';
import { applyRole } from '../core/network.js';
import { agentPidFile, readRole, writeRole } from '../core/role.js';
import { EtcdGateway } from '../ipam/etcd-gateway.js';
import { warmHookCode } from '../hooks/warm.js';
import { hookSocket, serveHooks } from './hook-server.js';
import { Netns } from '../kernel/netns.js';
import { writeFileAtomic } from '../sys/files.js';

export interface AgentOptions {
  /** The etcd lease's TTL in seconds: how long a dead agent's router keeps the election. */
  ttl: number;
  /** How often the agent looks at etcd, in milliseconds. */
  tick: number;
  log: (line: string) => void;
}

interface Claim {
  host: string;
  lease: string;
  since: string;
}

/**
 * `natns agent`: per host, for every stretched network running here, campaign in etcd for the
 * network's one active router (a key bound to this agent's TTL lease, created only if absent),
 * make this host's router active on winning and keep it on standby otherwise.
 *
 * Never two active routers: the agent renews its lease every quarter TTL; when it has not
 * renewed for (TTL - margin) it demotes its routers itself, before etcd can let another host
 * win. When the agent dies, a helper process it started (the dead man's switch) sees its pipe
 * close and takes the active routers down.
 */
export async function runAgent(ctx: Context, o: AgentOptions, stop: AbortSignal): Promise<void> {
  const config = ctx.config();
  const socket = hookSocket(ctx.stateDir);
  const server = await serveHooks(socket, (line) => o.log(`error: ${line}`));
  // Compiled and with its process runner loaded before it says it runs: the first network start
  // after an agent (re)start is as fast as the rest.
  await warmHookCode();
  writeFileSync(agentPidFile(ctx.stateDir), `${process.pid}\n`);
  o.log(`natns agent: serving libvirt's hooks on ${socket}`);
  try {
    // Elections need the shared store; on the file store the agent only serves the hooks.
    if (config.ipam.backend === 'etcd') await runElections(ctx, config.ipam, config.host, o, stop);
    else await new Promise<void>((resolve) => (stop.aborted ? resolve() : stop.addEventListener('abort', () => resolve(), { once: true })));
  } finally {
    await new Promise((r) => server.close(r));
    rmSync(agentPidFile(ctx.stateDir), { force: true });
    o.log('natns agent stopped');
  }
}

async function runElections(ctx: Context, etcd: EtcdConfig, me: string, o: AgentOptions, stop: AbortSignal): Promise<void> {
  const gateway = new EtcdGateway(etcd);
  const ttlMs = o.ttl * 1000;
  // Demote this long before the lease could expire: a renew in flight, clocks, the switch itself.
  const margin = Math.min(700, ttlMs / 3);
  const key = (uuid: string) => `${etcd.prefix}routers/${uuid}`;
  // The active router's DHCP leases, so the next active one hands none of them out again.
  const dhcpKey = (uuid: string) => `${etcd.prefix}dhcp/${uuid}`;
  const published = new Map<string, number>();
  const activeFile = join(ctx.stateDir, 'agent-active');
  const deadman = startDeadman(activeFile, ctx.stateDir);

  let lease: string | undefined;
  let validUntil = 0;
  let lastRenew = 0;
  const active = new Map<string, NetworkRecord>();

  const publishActive = () => {
    writeFileAtomic(activeFile, [...active.values()].map((r) => `${namespaceName(r.name)} ${r.uuid}\n`).join(''), { durable: false });
  };

  const setRole = async (record: NetworkRecord, isActive: boolean, holder: Claim | undefined) => {
    const before = readRole(ctx.stateDir, record.uuid);
    const role = { active: isActive, ...(holder ? { host: holder.host, since: holder.since } : {}) };
    if (before.active === isActive && before.host === role.host && before.since === role.since) return;
    if (isActive) {
      active.set(record.uuid, record);
      publishActive();
    }
    if (before.active !== isActive) o.log(`network ${record.name}: ${isActive ? 'active on this host' : `standby${holder ? ` (active: ${holder.host})` : ''}`}`);
    const leases = isActive && !before.active && record.dhcp ? await sharedLeases(record) : undefined;
    await applyRole(ctx, record.uuid, role, leases);
    // The lease may have been lost while the rebuild waited for the network lock.
    if (isActive && (lease === undefined || lease !== holder?.lease)) {
      hardDemote('the etcd lease was lost while the router came up');
      return;
    }
    if (!isActive) {
      active.delete(record.uuid);
      publishActive();
    } else if (before.active !== isActive) {
      announce(record);
    }
  };

  /** What the last active router shared; a promotion does not wait for an etcd that does not answer. */
  const sharedLeases = async (record: NetworkRecord): Promise<string | undefined> => {
    try {
      return (await gateway.session(Math.min(500, ttlMs / 4)).get(dhcpKey(record.uuid)))?.value;
    } catch {
      o.log(`network ${record.name}: the shared DHCP leases could not be read; its DHCP starts from this host's own`);
      return undefined;
    }
  };

  /** An active router's leases file, to etcd whenever dnsmasq has changed it. */
  const publishLeases = async (record: NetworkRecord) => {
    const file = join(ctx.network(record).dhcpDir, 'leases');
    let mtime: number;
    try {
      mtime = statSync(file).mtimeMs;
    } catch {
      return;
    }
    if (published.get(record.uuid) === mtime) return;
    try {
      await gateway.session(1000).put(dhcpKey(record.uuid), readFileSync(file, 'utf8'));
      published.set(record.uuid, mtime);
    } catch {
      // Tried again next tick.
    }
  };

  const demoteAll = async (why: string) => {
    if (active.size > 0) o.log(`demoting ${active.size} router(s): ${why}`);
    for (const record of [...active.values()]) await setRole(record, false, undefined);
  };

  /**
   * Down at once, without the network lock or a plan: what the lease deadline demands even
   * while a rebuild holds the lock. The next converge (under the lock) finds the role says standby.
   */
  const hardDemote = (why: string) => {
    if (active.size > 0) o.log(`demoting ${active.size} router(s) at once: ${why}`);
    for (const record of [...active.values()]) {
      writeRole(ctx.stateDir, record.uuid, { active: false });
      void new Netns(namespaceName(record.name)).run(['ip', '-batch', '-'], { input: `link set ${NS_LAN} down\nlink set ${NS_WAN} down\n` });
    }
    active.clear();
    publishActive();
  };

  // The lease is renewed on its own timer, never behind kernel work, and the deadline is
  // watched on another: a tick stuck on a network lock cannot keep a router active past it.
  let renewing = false;
  const renew = async () => {
    if (renewing || stop.aborted) return;
    renewing = true;
    try {
      if (lease !== undefined && Date.now() > validUntil - margin) {
        lease = undefined;
        hardDemote('the etcd lease could not be renewed in time');
      }
      const sent = Date.now();
      if (lease === undefined) {
        const granted = await gateway.election(Math.min(1000, ttlMs / 2)).grantLease(o.ttl);
        lease = granted.id;
        validUntil = sent + granted.ttl * 1000;
      } else if (sent - lastRenew >= ttlMs / 4) {
        const ttl = await gateway.election(Math.min(1000, ttlMs / 4)).keepAlive(lease);
        lastRenew = sent;
        if (ttl <= 0) {
          lease = undefined;
          hardDemote('the etcd lease expired');
        } else {
          validUntil = sent + ttl * 1000;
        }
      }
    } catch {
      // Unreachable etcd: the deadline check above demotes in time.
    } finally {
      renewing = false;
    }
  };
  const renewTimer = setInterval(() => void renew(), 100);

  const tick = async () => {
    if (lease === undefined) return;
    const stretched = ctx.records.list().filter((r) => r.vxlan !== undefined);
    const running = stretched.filter((r) => r.phase === 'running');
    // A running network converged again (a repeated `started`, a repair) is 'starting' meanwhile:
    // it keeps its election; only a network stopped (or failed) here gives it up.
    const kept = new Set(stretched.filter((r) => r.phase === 'running' || r.phase === 'starting').map((r) => r.uuid));
    for (const record of running) {
      if (stop.aborted || lease === undefined) return;
      const claim: Claim = { host: me, lease, since: new Date().toISOString() };
      let result;
      try {
        result = await gateway.election(Math.min(1000, ttlMs / 4)).createWithLease(key(record.uuid), JSON.stringify(claim), lease);
      } catch {
        continue;
      }
      const holder = result.created ? claim : parseClaim(result.current?.value);
      await setRole(record, holder?.lease === lease, holder);
    }
    for (const record of [...active.values()]) if (record.dhcp) await publishLeases(record);
    // A network stopped here gives its election up, so a standby elsewhere takes over at once.
    for (const record of [...active.values()]) {
      if (kept.has(record.uuid)) continue;
      active.delete(record.uuid);
      publishActive();
      const kv = gateway.session();
      const held = await kv.get(key(record.uuid)).catch(() => undefined);
      if (held && parseClaim(held.value)?.lease === lease) await kv.deleteIfUnchanged(held.key, held.modRevision).catch(() => undefined);
    }
  };

  o.log(`natns agent for host ${me}: elections with lease TTL ${o.ttl} s, etcd ${etcd.endpoints.join(', ')}`);
  try {
    while (!stop.aborted) {
      const started = Date.now();
      await tick().catch((err: unknown) => o.log(`error: ${(err as Error).message}`));
      await sleep(Math.max(0, o.tick - (Date.now() - started)), stop);
    }
  } finally {
    clearInterval(renewTimer);
    // A clean stop hands the elections over at once instead of after the TTL.
    await demoteAll('the agent stops').catch(() => undefined);
    if (lease !== undefined) await gateway.election(1000).revokeLease(lease).catch(() => undefined);
    deadman.stdin?.end();
    deadman.kill();
  }
}

function parseClaim(value: string | undefined): Claim | undefined {
  try {
    const v = JSON.parse(value ?? '') as Claim;
    return typeof v.host === 'string' && typeof v.lease === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Gratuitous ARP on both sides of a router that just became active: guests and the upstream
 * network learn at once that the gateway and the upstream address (same MACs on every host)
 * now sit behind this host's ports. busybox arping, in the router's namespace, not awaited.
 */
function announce(record: NetworkRecord): void {
  const ns = new Netns(namespaceName(record.name));
  for (const [dev, address] of [[NS_LAN, record.private?.address], [NS_WAN, record.lease?.address]] as const) {
    if (address === undefined) continue;
    void ns.run(['busybox', 'arping', '-U', '-c', '2', '-w', '1', '-I', dev, address]).catch(() => undefined);
  }
}

/**
 * The dead man's switch: a shell that waits for the agent's pipe to close (the agent died,
 * whatever the signal) and then takes down both sides of every router listed as active.
 */
function startDeadman(activeFile: string, stateDir: string): ChildProcess {
  const script = [
    'cat >/dev/null',
    `[ -f "$1" ] || exit 0`,
    'while read ns uuid; do',
    '  ip -n "$ns" link set lan down; ip -n "$ns" link set wan down',
    `  printf '{"active":false}\\n' > "$2/roles/$uuid.json"`,
    'done < "$1"',
    ': > "$1"',
  ].join('\n');
  const child = spawn('sh', ['-c', script, 'natns-agent-deadman', activeFile, stateDir], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.unref();
  return child;
}

function sleep(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      stop.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    stop.addEventListener('abort', onAbort, { once: true });
  });
}
