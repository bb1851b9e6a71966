import { NatnsError } from '../domain/errors.js';
import guestTemplate from '../../xml-templates/guest.xml';
import networkTemplate from '../../xml-templates/network.xml';

const templates = { network: networkTemplate, guest: guestTemplate };

export function escapeXml(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/**
 * Fill the placeholders of an xml-templates/ file: `{{key}}` takes an escaped value, `{{{key}}}`
 * an XML fragment that natns itself built. A missing value is an error.
 */
export function renderTemplate(name: keyof typeof templates, values: Record<string, string | number>): string {
  return templates[name].replace(/\{\{(\{?)(\w+)\}?\}\}/g, (_m, raw: string, key: string) => {
    const value = values[key];
    if (value === undefined) throw new NatnsError(`template ${name}.xml needs a value for {{${key}}}`);
    return raw ? String(value) : escapeXml(String(value));
  });
}

/** The attributes of a `<natns:upstream>` element: a pool, or a fixed address on a bridge. */
export function upstreamAttributes(u: { pool: string } | { bridge: string; address: string; prefix: number; gateway: string }): string {
  const a = (name: string, value: string | number) => `${name}="${escapeXml(String(value))}"`;
  return 'pool' in u ? a('pool', u.pool) : [a('bridge', u.bridge), a('address', u.address), a('prefix', u.prefix), a('gateway', u.gateway)].join(' ');
}
