import { parseConfig } from '../config/config.js';
import { readDomain } from '../libvirt/domain-xml.js';
import { readNetworkHookCall } from '../libvirt/hook-input.js';
import { child, parseXml } from '../libvirt/xml.js';
import { diffRouter } from '../plan/diff.js';
import { planDhcp } from '../plan/dnsmasq.js';
import { NOTHING } from '../plan/observed.js';
import { nftReplaceScript, planRouter } from '../plan/router.js';
import { run } from '../sys/run.js';

const UUID = '00000000-0000-4000-8000-00000000c0de';
const NETWORK = `<hookData><network><name>warm</name><uuid>${UUID}</uuid><bridge name="virbr0"/><metadata>
<natns:nat xmlns:natns="urn:natns:network:1"><natns:private address="10.0.0.1" prefix="24"/>
<natns:upstream bridge="br0" address="198.51.100.101" prefix="24" gateway="198.51.100.1"/>
<natns:dhcp start="10.0.0.100" end="10.0.0.199"/></natns:nat></metadata></network></hookData>`;
const DOMAIN = `<domain type="kvm"><name>warm</name><uuid>${UUID}</uuid><metadata><natns:guest xmlns:natns="urn:natns:guest:1">
<natns:address network="warm" ip="10.0.0.100"/><natns:forward network="warm" proto="tcp" port="8080" to-port="80"/></natns:guest></metadata>
<devices><interface type="network"><source network="warm"/><mac address="52:54:00:00:00:01"/></interface></devices></domain>`;

/**
 * The hooks' pure paths, run once at build and install time so the code cache that
 * hooks/hook-loader.ts writes afterwards holds them compiled. Touches no kernel or state.
 */
export async function warmHookCode(): Promise<void> {
  const net = readNetworkHookCall(['warm', 'started', 'begin', '-'], NETWORK).network.spec!;
  const guest = readDomain(child(parseXml(DOMAIN, 'warm-up domain'), 'domain')!).spec!;
  if (net.upstream?.kind !== 'fixed') throw new Error('warm-up network needs a fixed upstream');
  const { kind: _kind, ...lease } = net.upstream;
  const desired = planRouter({
    network: net, lease, mtu: { lan: 1500, wan: 1500 },
    forwards: guest.networks.flatMap((n) => n.forwards.map((f) => ({ owner: `guest-${guest.uuid}`, proto: f.proto, port: f.port, to: n.ip!, toPort: f.toPort }))),
  });
  diffRouter(desired, NOTHING);
  nftReplaceScript(desired);
  planDhcp({
    network: net.name, namespace: desired.namespace, dir: '/nonexistent', private: net.private!,
    range: net.dhcp!, reservations: guest.networks.map((n) => ({ mac: n.mac, ip: n.ip! })),
  });
  // The config's schema check (valibot) runs in every hook that leases.
  parseConfig(JSON.stringify({ host: 'warm', pools: { default: { bridge: 'br0', subnet: '198.51.100.0/24', gateway: '198.51.100.1', first: '198.51.100.100', last: '198.51.100.199' } } }), 'warm-up');
  await run('true', []);
}
