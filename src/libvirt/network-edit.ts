import { InputError } from '../domain/errors.js';
import { NETWORK_NS_URI } from './network-xml.js';
import { escapeXml } from './templates.js';

/**
 * Targeted edits of the natns metadata in a network's XML as libvirt prints it: the rest of the
 * document (libvirt's own elements, other metadata, natns elements not edited) stays as it is.
 */
export interface NatEdits {
  /** Replaces the IPv4 <upstream> (the one that is not IPv6): `pool="P"` or fixed attributes. */
  upstream?: string;
  /** A DHCP range, or null to remove it. */
  dhcp?: { start: string; end: string } | null;
}

function natElement(xml: string): { prefix: string; start: number; end: number } {
  const open = new RegExp(`<([A-Za-z_][\\w.-]*):nat\\s[^>]*xmlns:\\1=(["'])${NETWORK_NS_URI.replace(/[.]/g, '\\.')}\\2[^>]*>`).exec(xml);
  if (!open) throw new InputError('the network has no natns metadata (<natns:nat>): it is not a natns network');
  const prefix = open[1]!;
  const close = xml.indexOf(`</${prefix}:nat>`, open.index);
  if (close < 0) throw new InputError('the natns metadata is not closed');
  return { prefix, start: open.index + open[0].length, end: close };
}

export function editNatMetadata(xml: string, edits: NatEdits): string {
  const { prefix, start, end } = natElement(xml);
  let inner = xml.slice(start, end);
  const element = (local: string) => new RegExp(`<${prefix}:${local}\\b[^>]*?(/>|>\\s*</${prefix}:${local}>)`, 'g');
  if (edits.upstream !== undefined) {
    // Each <upstream> serves the <private> in the same position: the IPv4 one is the IPv4 private's.
    const privates = [...inner.matchAll(element('private'))];
    const at = privates.findIndex((m) => !/address=["'][^"']*:/.test(m[0]));
    const ipv4 = at < 0 ? undefined : [...inner.matchAll(element('upstream'))][at];
    const replacement = `<${prefix}:upstream ${edits.upstream}/>`;
    if (!ipv4) throw new InputError('the network has no IPv4 <upstream> to change');
    inner = inner.slice(0, ipv4.index) + replacement + inner.slice(ipv4.index! + ipv4[0].length);
  }
  if (edits.dhcp !== undefined) {
    inner = inner.replace(element('dhcp'), '');
    if (edits.dhcp) {
      inner = `${inner.replace(/\s*$/, '')}\n      <${prefix}:dhcp start="${escapeXml(edits.dhcp.start)}" end="${escapeXml(edits.dhcp.end)}"/>\n    `;
    }
  }
  return xml.slice(0, start) + inner + xml.slice(end);
}

/** The natns metadata of a network's XML, whitespace folded: what `natns show` compares between what runs and what is defined. */
export function natMetadataText(xml: string): string | undefined {
  try {
    const { start, end } = natElement(xml);
    return xml.slice(start, end).replace(/\s+/g, ' ').replace(/> </g, '><').trim();
  } catch {
    return undefined;
  }
}
