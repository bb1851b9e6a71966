import { Sandbox, sh } from './sandbox.js';
import { hookData, networkXml, type NetXmlOptions } from './xml.js';

/** A network as the test hands it to the hook, playing libvirt. */
export interface TestNet { name: string; uuid: string; bridge: string; xml: string }

export function defineNet(sb: Sandbox, suffix: string, opts: Pick<NetXmlOptions, 'upstream' | 'extra' | 'ipv6'> = {}): TestNet {
  const net = sb.network(suffix);
  const bridge = sb.name(`b${suffix}`);
  return { ...net, bridge, xml: hookData(networkXml({ ...net, bridge, ...opts })) };
}

/** What libvirt does for `virsh net-start`: `start begin`, create the bridge, `started begin`. */
export async function netStart(sb: Sandbox, net: TestNet) {
  const begin = await sb.hook([net.name, 'start', 'begin', '-'], net.xml);
  if (begin.exitCode !== 0) return begin;
  await sh('ip', ['link', 'add', net.bridge, 'type', 'bridge']);
  await sh('ip', ['link', 'set', net.bridge, 'up']);
  return sb.hook([net.name, 'started', 'begin', '-'], net.xml);
}

/** What libvirt does for `virsh net-destroy`: remove the bridge, then `stopped end`. */
export async function netDestroy(sb: Sandbox, net: TestNet) {
  await sh('ip', ['link', 'del', net.bridge]);
  return sb.hook([net.name, 'stopped', 'end', '-'], net.xml);
}

/** A guest's domain XML as the qemu hook gets it, with natns guest metadata. */
export function domainXml(o: { name: string; uuid: string; network: string; mac: string; metadata: string }): string {
  return `<domain type='qemu'>
  <name>${o.name}</name>
  <uuid>${o.uuid}</uuid>
  <metadata>
    <natns:guest xmlns:natns="urn:natns:guest:1">
      ${o.metadata}
    </natns:guest>
  </metadata>
  <devices>
    <interface type='network'>
      <mac address='${o.mac}'/>
      <source network='${o.network}'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
`;
}

/** The `<networkport>` hook data libvirt sends on port-created / port-deleted. */
export function portHookData(netXml: string, o: { port: string; vm: string; vmUuid: string; mac: string }): string {
  return netXml.replace('</hookData>', `<networkport>
  <uuid>${o.port}</uuid>
  <owner><name>${o.vm}</name><uuid>${o.vmUuid}</uuid></owner>
  <mac address='${o.mac}'/>
  <plug type='network' bridge='x'/>
</networkport>
</hookData>`);
}

/** The documented example pool, on the sandbox's own provider bridge. */
export function poolConfig(provider: string, extra: object = {}) {
  return {
    pools: { default: { bridge: provider, subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.199', ...extra } },
  };
}

/** A sandbox with a provider bridge, a pool on it and, when asked, the upstream host 198.51.100.1. */
export async function poolSandbox(withUpstream: boolean): Promise<{ sb: Sandbox; provider: string; upstream: string }> {
  const sb = new Sandbox();
  const provider = await sb.bridge('pb');
  sb.writeConfig(poolConfig(provider));
  const upstream = withUpstream ? await sb.host('up', provider, '198.51.100.1/24') : '';
  return { sb, provider, upstream };
}

/** `virsh net-start` through the hooks, which must succeed silently. */
export async function expectStarted(sb: Sandbox, net: TestNet): Promise<void> {
  const r = await netStart(sb, net);
  if (r.exitCode !== 0 || r.stderr !== '') throw new Error(`net-start of ${net.name} failed (${r.exitCode}): ${r.stderr}`);
}

/** The IPv6 pool of the dual-stack tests: addresses of 2001:db8:100::/64, as the README documents. */
export const POOL6 = { subnet: '2001:db8:100::/64', gateway: '2001:db8:100::1', first: '2001:db8:100::100', last: '2001:db8:100::1ff' };

/**
 * A sandbox with both pools on its provider bridge and, when asked, an upstream host holding
 * 198.51.100.1 and 2001:db8:100::1. The host's own end of the provider bridge runs no IPv6, so
 * nothing the routers or a test say there (router advertisements included) reaches the host.
 */
export async function dualStackSandbox(withUpstream: boolean, extra6: object = {}): Promise<{ sb: Sandbox; provider: string; upstream: string }> {
  const sb = new Sandbox();
  const provider = await sb.bridge('pb');
  await sh('sysctl', ['-qw', `net.ipv6.conf.${provider}.disable_ipv6=1`]);
  sb.writeConfig({ pools: { ...poolConfig(provider).pools, default6: { bridge: provider, ...POOL6, ...extra6 } } });
  let upstream = '';
  if (withUpstream) {
    upstream = await sb.host('up', provider, '198.51.100.1/24');
    await sb.ipv6(upstream, '2001:db8:100::1/64');
  }
  return { sb, provider, upstream };
}
