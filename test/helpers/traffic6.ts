import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { domainXml, type TestNet } from './hooknet.js';
import { type Sandbox, sh } from './sandbox.js';

/** Traffic helpers for the dual-stack tests: what a guest or the upstream host sends and receives. */
const here = dirname(fileURLToPath(import.meta.url));

/** Start a guest through the qemu hook with this natns metadata; it must be accepted. */
export async function guestStart(sb: Sandbox, net: TestNet, mac: string, metadata: string): Promise<{ name: string; xml: string }> {
  const name = sb.name(`vm${mac.slice(-2)}`);
  const xml = domainXml({ name, uuid: randomUUID(), network: net.name, mac, metadata });
  const r = await sb.qemuHook([name, 'start', 'begin', '-'], xml);
  if (r.exitCode !== 0 || r.stderr !== '') throw new Error(`guest ${name} refused (${r.exitCode}): ${r.stderr}`);
  return { name, xml };
}

/** Counts, inside `ns`, IPv6 packets that arrive for `port` (what really got there, answered or not). */
export async function countArrivals6(ns: string, proto: 'tcp' | 'udp', port: number): Promise<() => Promise<number>> {
  await sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], `table ip6 tstcount {\n\tchain input {\n\t\ttype filter hook prerouting priority -400; policy accept;\n\t\t${proto} dport ${port} counter\n\t}\n}\n`);
  return async () => {
    const out = (await sh('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'ip6', 'tstcount'])).stdout;
    return Number(/counter packets (\d+)/.exec(out)?.[1] ?? -1);
  };
}

/** One UDP datagram from `source` (an address of `ns`) to address:port. */
export async function sendUdp(ns: string, source: string, address: string, port: number): Promise<void> {
  const js = `const s=require('dgram').createSocket(${JSON.stringify(address.includes(':') ? 'udp6' : 'udp4')});s.bind({address:${JSON.stringify(source)}},()=>s.send('x',${port},${JSON.stringify(address)},()=>s.close()))`;
  const r = await sh('ip', ['netns', 'exec', ns, process.execPath, '-e', js]);
  if (r.stderr !== '') throw new Error(`sending from ${source} failed: ${r.stderr}`);
}

/** What a UDP echo server at address:port answers from `ns` ("echo SOURCE"), or undefined. */
export async function udpEcho(ns: string, address: string, port: number): Promise<string | undefined> {
  const r = await sh('ip', ['netns', 'exec', ns, process.execPath, join(here, 'udp-echo.mjs'), address, String(port)]);
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

/** A UDP echo server on `port` of `ns`, IPv6. */
export function udpEchoServer6(sb: Sandbox, ns: string, port: number): Promise<void> {
  return sb.spawnReady(ns, process.execPath, [join(here, 'udp-echo.mjs'), String(port), '-6']);
}

/** Poll `fn` until it gives a value. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    const v = await fn();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The upstream sides `natns list --json` reports for a network. */
export async function upstreamsOf(sb: Sandbox, net: TestNet): Promise<{ up: string; up6: string }> {
  const list = JSON.parse((await sb.cli(['list', '--json'])).stdout) as { network: string; upstream: { address: string }; upstream6?: { address: string } }[];
  const m = list.find((x) => x.network === net.name)!;
  return { up: m.upstream.address, up6: m.upstream6?.address ?? '' };
}
