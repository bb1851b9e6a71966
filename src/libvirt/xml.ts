import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { InputError } from '../domain/errors.js';

/** Element tree as fast-xml-parser gives it: attributes under '@name', children by tag, text under '#text'. */
export type XmlNode = { [key: string]: unknown };

const MAX_XML_BYTES = 4 * 1024 * 1024;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  // Entities are never expanded: libvirt does not send a DOCTYPE, and expansion is the classic XML bomb.
  processEntities: false,
  isArray: (_name: string, _path: unknown, _leaf: boolean, isAttribute: boolean) => !isAttribute,
});

/**
 * Parse XML that reached us from libvirt. Every element becomes an array (fast-xml-parser's isArray),
 * so repeated and single elements are read the same way.
 */
export function parseXml(xml: string, what: string): XmlNode {
  if (xml.length > MAX_XML_BYTES) throw new InputError(`${what} is larger than ${MAX_XML_BYTES} bytes`);
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) {
    throw new InputError(`${what} contains a DOCTYPE or ENTITY declaration, which libvirt never sends; refusing it`);
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new InputError(`${what} is not well-formed XML (line ${valid.err.line}: ${valid.err.msg})`);
  }
  try {
    return parser.parse(xml) as XmlNode;
  } catch (err) {
    // The validator lets a few truncated documents through ('<h/') that the parser then rejects.
    throw new InputError(`${what} is not well-formed XML (${(err as Error).message.split('\n')[0]})`);
  }
}

export function children(node: XmlNode | undefined, tag: string): XmlNode[] {
  const value = node?.[tag];
  return Array.isArray(value) ? (value as XmlNode[]) : [];
}

export function child(node: XmlNode | undefined, tag: string): XmlNode | undefined {
  return children(node, tag)[0];
}

export function attr(node: XmlNode | undefined, name: string): string | undefined {
  const value = node?.[`@${name}`];
  return typeof value === 'string' ? value : undefined;
}

export function text(node: XmlNode | undefined): string | undefined {
  if (node === undefined) return undefined;
  if (typeof node === 'string') return node;
  const value = node['#text'];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The child element of `parent` that lives in XML namespace `uri`, whatever prefix the author
 * chose for it (libvirt keeps the prefix it was given). Returns the element and its prefix.
 */
export function namespacedChild(
  parent: XmlNode | undefined,
  uri: string,
  localName: string,
): { node: XmlNode; prefix: string } | undefined {
  if (parent === undefined) return undefined;
  for (const [key, value] of Object.entries(parent)) {
    if (key.startsWith('@') || key === '#text' || !Array.isArray(value)) continue;
    const colon = key.indexOf(':');
    const prefix = colon === -1 ? '' : key.slice(0, colon);
    if (key.slice(colon + 1) !== localName) continue;
    for (const node of value as XmlNode[]) {
      const declared = attr(node, prefix === '' ? 'xmlns' : `xmlns:${prefix}`);
      if (declared === uri) return { node, prefix };
    }
  }
  return undefined;
}

/**
 * The first child element that looks meant for natns but is not in `uri` (a typo in the
 * namespace, another version): its prefix is natns, or its namespace mentions natns. As text,
 * for the refusal that names it.
 */
export function natnsLookalike(parent: XmlNode | undefined, uri: string): string | undefined {
  if (parent === undefined) return undefined;
  for (const [key, value] of Object.entries(parent)) {
    if (key.startsWith('@') || key === '#text' || !Array.isArray(value)) continue;
    const colon = key.indexOf(':');
    const prefix = colon === -1 ? '' : key.slice(0, colon);
    const xmlns = prefix === '' ? 'xmlns' : `xmlns:${prefix}`;
    for (const node of value as XmlNode[]) {
      const declared = attr(node, xmlns);
      if (declared === uri) continue;
      if (prefix.toLowerCase() === 'natns' || /natns/i.test(declared ?? '')) return `<${key} ${xmlns}="${declared ?? ''}">`;
    }
  }
  return undefined;
}

/** Child elements named `local` in the same prefix as their namespaced parent. */
export function prefixedChildren(node: XmlNode, prefix: string, local: string): XmlNode[] {
  return children(node, prefix === '' ? local : `${prefix}:${local}`);
}
