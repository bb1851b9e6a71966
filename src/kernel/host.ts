import { readFileSync } from 'node:fs';
import { Netns } from './netns.js';

/**
 * Addresses (both families) of the host namespace on `bridge`. Asked of that one device:
 * enumerating every interface (os.networkInterfaces) took 160 ms with 800 routers' veths on the host.
 */
export async function hostAddressesOn(bridge: string): Promise<string[]> {
  const r = await Netns.host.run(['ip', '-j', 'addr', 'show', 'dev', bridge]);
  if (r.exitCode !== 0) return [];
  const links = JSON.parse(r.stdout || '[]') as { addr_info?: { local: string }[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local));
}

/** The host-namespace device holding `address` (a VTEP's own address), if any. */
export async function deviceHolding(address: string): Promise<string | undefined> {
  const r = await Netns.host.run(['ip', '-j', '-4', 'addr', 'show', 'to', `${address}/32`]);
  if (r.exitCode !== 0) return undefined;
  const links = JSON.parse(r.stdout || '[]') as { ifname: string }[];
  return links[0]?.ifname;
}

/**
 * With br_netfilter's bridge-nf-call-iptables on, every bridged IPv4 packet (natns's guests to
 * their router, routers to the provider bridge) also passes the host's own forward hook, where
 * `iifname` is the bridge. The kernel has no per-bridge way out while that switch is on, so an
 * admin's forward drop silently kills natns networks: name each host chain or rule that can.
 * Bridge-family forward chains filter bridged frames whatever the switch says.
 */
export async function hostForwardDrops(bridges: string[]): Promise<string[]> {
  const callIptables = readFirstLine('/proc/sys/net/bridge/bridge-nf-call-iptables') === '1';
  const r = await Netns.host.run(['nft', '-a', 'list', 'ruleset']);
  if (r.exitCode !== 0 || bridges.length === 0) return [];
  const out: string[] = [];
  let table = '';
  let chain = '';
  let forward = false;
  let policyDrop = false;
  // Bridges an earlier rule of the chain accepts: later drops there no longer reach them.
  let accepted = new Set<string>();
  const exposed = () => bridges.filter((b) => !accepted.has(b));
  const endChain = () => {
    if (forward && policyDrop && exposed().length) out.push(`host chain ${table} ${chain} (forward hook) drops by policy`);
    [forward, policyDrop, accepted] = [false, false, new Set()];
  };
  for (const line of r.stdout.split('\n')) {
    const t = /^table (\S+) (\S+) \{/.exec(line);
    const c = /^\s*chain (\S+) \{/.exec(line);
    if (t || c) {
      endChain();
      if (t) table = `${t[1]} ${t[2]}`;
      if (c) chain = c[1]!;
      continue;
    }
    const family = table.split(' ')[0];
    const hook = /^\s*type \S+ hook (\S+) .*policy (\S+);/.exec(line);
    if (hook) {
      forward = hook[1] === 'forward' && (family === 'bridge' || (callIptables && (family === 'ip' || family === 'inet')));
      policyDrop = hook[2] === 'drop';
      continue;
    }
    const rule = /^\s+(.*) # handle (\d+)$/.exec(line);
    if (!forward || !rule) continue;
    const text = rule[1]!.replace(/counter packets \d+ bytes \d+ ?/, '');
    const ifaces = [...text.matchAll(/\b[io]ifname (?:\{ )?((?:"[^"]+"(?:, )?)+)/g)].flatMap((m) => [...m[1]!.matchAll(/"([^"]+)"/g)].map((n) => n[1]!));
    // Only a plain interface accept lets everything of a bridge through.
    if (/^(?:meta )?[io]ifname (?:\{ [^}]+ \}|"[^"]+") accept$/.test(text)) {
      for (const n of ifaces) accepted.add(n);
    } else if (/\b(drop|reject)\b/.test(text) && exposed().some((b) => ifaces.length === 0 || ifaces.includes(b))) {
      out.push(`host chain ${table} ${chain} (forward hook) rule ${text} (handle ${rule[2]})`);
    }
  }
  endChain();
  if (out.length === 0) return [];
  const why = callIptables ? 'bridge-nf-call-iptables=1 sends natns\'s bridged traffic through the host\'s forward hook' : 'bridge-family forward chains filter natns\'s bridged traffic';
  return out.map((o) => `${why}, where ${o} can drop it: accept natns's bridges (${bridges.join(', ')}) before it${callIptables ? ', or set net.bridge.bridge-nf-call-iptables=0' : ''}`);
}

function readFirstLine(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}
