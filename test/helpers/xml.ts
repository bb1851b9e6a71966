/** Network XML as libvirt hands it to the network hook. */
export interface NetXmlOptions {
  name: string;
  uuid: string;
  bridge: string;
  privateAddress?: string;
  prefix?: string;
  upstream?: string;
  extra?: string;
  natnsPrefix?: string;
  /** A second, IPv6 side: its <private> follows the IPv4 one, its <upstream> the IPv4 one. */
  ipv6?: { address?: string; prefix?: string; upstream?: string };
}

export function networkXml(o: NetXmlOptions): string {
  const p = o.natnsPrefix ?? 'natns';
  const upstream = o.upstream ?? `<${p}:upstream pool="default"/>`;
  const v6 = o.ipv6;
  const private6 = v6 ? `\n      <${p}:private address="${v6.address ?? 'fd00::1'}" prefix="${v6.prefix ?? '64'}"/>` : '';
  const upstream6 = v6 ? `\n      ${v6.upstream ?? `<${p}:upstream pool="default6"/>`}` : '';
  return `<network>
  <name>${o.name}</name>
  <uuid>${o.uuid}</uuid>
  <bridge name='${o.bridge}' stp='on' delay='0'/>
  <mac address='52:54:00:12:34:56'/>
  <metadata>
    <${p}:nat xmlns:${p}="urn:natns:network:1">
      <${p}:private address="${o.privateAddress ?? '10.0.0.1'}" prefix="${o.prefix ?? '24'}"/>${private6}
      ${upstream}${upstream6}
    </${p}:nat>
  </metadata>${o.extra ?? ''}
</network>`;
}

export function hookData(networkXmlText: string): string {
  return `<hookData>\n${networkXmlText}\n</hookData>\n`;
}
