import { randomUUID } from 'node:crypto';
import { contains, familyOf, parseAddress, parseCidr, parsePrefixLength } from '../domain/address.js';
import { errorText, InputError, NatnsError, withContext } from '../domain/errors.js';
import { upstreamText, type DhcpRange, type PatchKind } from '../domain/model.js';
import { printable } from '../domain/text.js';
import { validateIfName, validateNetworkName } from '../domain/validate.js';
import { poolOf } from '../ipam/ipam.js';
import { linkExists } from '../kernel/sysfs.js';
import { editNatMetadata, natMetadataText, type NatEdits } from '../libvirt/network-edit.js';
import { readNetwork } from '../libvirt/network-xml.js';
import { renderTemplate, upstreamAttributes } from '../libvirt/templates.js';
import { netAutostart, netDefine, netDestroy, netDumpXml, netInfo, netNames, netStart, netUndefine } from '../libvirt/virsh.js';
import { child, parseXml } from '../libvirt/xml.js';
import type { Context } from './context.js';
import { releaseNetwork } from './network.js';

export interface UpstreamChoice {
  pool?: string;
  /** A fixed upstream address, `A` or `A/PREFIX`; bridge, prefix and gateway default to the pool whose subnet holds it. */
  upstreamAddress?: string;
  upstreamBridge?: string;
  upstreamGateway?: string;
}

export interface CreateOptions extends UpstreamChoice {
  gateway: string;
  dhcp?: string;
  bridge?: string;
  patch?: PatchKind;
  autostart?: boolean;
  start?: boolean;
}

export function parseDhcp(text: string): DhcpRange {
  const m = /^([^-\s]+)-([^-\s]+)$/.exec(text);
  if (!m) throw new InputError(`--dhcp wants START-END, like 10.0.0.100-10.0.0.199 (got '${printable(text)}')`);
  return { start: parseAddress(m[1]!, '--dhcp start'), end: parseAddress(m[2]!, '--dhcp end') };
}

/** The attributes of the IPv4 <upstream>: a pool, or a fixed address with what the pool holding it says. */
function upstreamOf(ctx: Context, o: UpstreamChoice): string {
  const config = ctx.config();
  if (o.upstreamAddress === undefined) {
    if (o.upstreamBridge !== undefined || o.upstreamGateway !== undefined) throw new InputError('--upstream-bridge and --upstream-gateway go with --upstream-address');
    if (o.pool !== undefined) return upstreamAttributes({ pool: poolOf(o.pool, config).name });
    const v4 = [...config.pools.values()].filter((p) => familyOf(p.gateway) === 'ipv4');
    const only = v4.length === 1 ? v4[0] : config.pools.get('default');
    if (!only) throw new InputError(`give the upstream side: --pool P (pools: ${v4.map((p) => p.name).join(', ') || 'none defined'}) or --upstream-address A`);
    return upstreamAttributes({ pool: only.name });
  }
  const [addressText, prefixText] = o.upstreamAddress.split('/');
  const address = parseAddress(addressText!, '--upstream-address');
  const pool = [...config.pools.values()].find((p) => familyOf(p.gateway) === 'ipv4' && contains(p.subnet, address));
  const bridge = o.upstreamBridge ?? pool?.bridge;
  const gateway = o.upstreamGateway ?? pool?.gateway;
  const prefix = prefixText !== undefined ? parsePrefixLength(prefixText, '--upstream-address prefix') : pool?.subnet.prefix;
  if (bridge === undefined || gateway === undefined || prefix === undefined) {
    throw new InputError(`no pool's subnet holds ${address}: give --upstream-address ${address}/PREFIX with --upstream-bridge and --upstream-gateway`);
  }
  return upstreamAttributes({ bridge: validateIfName(bridge, '--upstream-bridge'), address, prefix, gateway: parseAddress(gateway, '--upstream-gateway') });
}

/** Bridges that libvirt's networks name (defined or running). */
async function libvirtBridges(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await netNames()) {
    const b = (await netInfo(name))?.bridge;
    if (b) out.set(b, name);
  }
  return out;
}

/** The lowest virbrN that neither the kernel nor any libvirt network has. */
function freeBridge(used: Map<string, string>): string {
  for (let n = 0; n < 10000; n++) {
    const name = `virbr${n}`;
    if (!used.has(name) && !linkExists(name)) return name;
  }
  throw new NatnsError('no free virbrN bridge name below virbr10000; give one with --bridge');
}

/** Check a rendered network with natns's own parser, as the hook will read it at start. */
function validated(xml: string): void {
  const withUuid = /<uuid>/.test(xml) ? xml : xml.replace('<name>', `<uuid>${randomUUID()}</uuid><name>`);
  readNetwork(child(parseXml(withUuid, 'the new network XML'), 'network')!);
}

/** `natns network create`: render xml-templates/network.xml, define it, and optionally mark it autostart and start it. */
export async function createNetwork(ctx: Context, nameText: string, o: CreateOptions): Promise<{ network: string; bridge: string; uuid: string; autostart: boolean; started: boolean; upstream?: string }> {
  const name = validateNetworkName(nameText);
  const gateway = parseCidr(o.gateway, '--gateway');
  const upstream = upstreamOf(ctx, o);
  const dhcp = o.dhcp === undefined ? undefined : parseDhcp(o.dhcp);
  if (await netInfo(name)) throw new InputError(`libvirt already has a network named '${name}' (virsh net-info ${name}); pick another name, or change it with 'natns network set'`);
  const used = await libvirtBridges();
  let bridge: string;
  if (o.bridge !== undefined) {
    bridge = validateIfName(o.bridge, '--bridge');
    if (used.has(bridge)) throw new InputError(`bridge ${bridge} belongs to libvirt network '${used.get(bridge)}'; give another --bridge, or leave it out to have a free one chosen`);
    if (linkExists(bridge)) throw new InputError(`a device named ${bridge} already exists on this host; give another --bridge, or leave it out to have a free one chosen`);
  } else {
    bridge = freeBridge(used);
  }
  const extra = [
    ...(dhcp ? [`<natns:dhcp start="${dhcp.start}" end="${dhcp.end}"/>`] : []),
    ...(o.patch === 'macvlan' ? ['<natns:patch type="macvlan"/>'] : []),
  ].map((e) => `\n      ${e}`).join('');
  const xml = renderTemplate('network', { name, bridge, privateAddress: gateway.address, privatePrefix: gateway.prefix, upstream, extra });
  validated(xml);
  await netDefine(xml);
  try {
    if (o.autostart) await netAutostart(name);
    if (o.start) await netStart(name);
  } catch (err) {
    // Add rolls back: a network that could not be started is not left half made.
    await netDestroy(name).catch(() => undefined);
    await netUndefine(name).catch(() => undefined);
    throw withContext(`network ${name} was defined but ${o.start ? 'did not start' : 'could not be marked autostart'}, so it was undefined again`, err);
  }
  const uuid = /<uuid>([^<]+)<\/uuid>/.exec(await netDumpXml(name, true))?.[1] ?? '';
  const record = o.start ? ctx.records.findByName(name) : undefined;
  return { network: name, bridge, uuid, autostart: o.autostart === true, started: o.start === true, ...(record ? { upstream: upstreamText(record) } : {}) };
}

/** `natns network delete`: stop, undefine, and give its upstream address back. Repeatable: what is already gone is fine. */
export async function deleteNetwork(ctx: Context, name: string, options: { force?: boolean } = {}): Promise<string[]> {
  const done: string[] = [];
  const info = await netInfo(name);
  const record = ctx.records.findByName(name);
  if (!info && !record) throw new InputError(`no network named '${printable(name)}' in libvirt or natns (see natns list, virsh net-list --all)`);
  // Guests plugged in would lose their network without a word: their owner decides.
  const attached = record && info?.active ? ctx.network(record).ports.list().map((p) => p.vm) : [];
  if (attached.length > 0 && !options.force) {
    throw new InputError(`network '${name}' has guests attached (${[...new Set(attached)].sort().join(', ')}); stop or move them first, or delete it with --force`);
  }
  if (info) {
    if (natMetadataText(await netDumpXml(name, true)) === undefined) {
      throw new InputError(`network '${printable(name)}' is not a natns network (no natns metadata); remove it with virsh`);
    }
    if (info.active) {
      await netDestroy(name);
      done.push(`stopped network ${name}`);
    }
    if (info.persistent) {
      await netUndefine(name);
      done.push(`undefined network ${name}`);
    }
  }
  if (record) {
    try {
      const { adminForwards } = await releaseNetwork(ctx.records.findByName(name) ?? record, ctx, { dropAdminForwards: true });
      done.push(`released ${upstreamText(record)} of network ${name}`, ...adminForwards.map((f) => `dropped admin forward ${f.proto} ${f.port} -> ${f.to}:${f.toPort}`));
    } catch (err) {
      throw withContext(`network ${name} is ${done.length ? 'gone from libvirt' : 'not in libvirt'}, but its lease was not released`, err);
    }
  }
  return done;
}

export interface SetResult {
  network: string;
  changed: boolean;
  active: boolean;
  /** The network runs with other settings than it is now defined with: a restart applies them. */
  restartNeeded: boolean;
}

/** `natns network set`: change the natns metadata of a defined network (its next start uses it). */
export async function setNetwork(ctx: Context, name: string, o: UpstreamChoice & { dhcp?: string; noDhcp?: boolean }): Promise<SetResult> {
  const edits: NatEdits = {};
  if (o.pool !== undefined || o.upstreamAddress !== undefined) edits.upstream = upstreamOf(ctx, o);
  if (o.dhcp !== undefined) {
    const d = parseDhcp(o.dhcp);
    edits.dhcp = d;
  }
  if (o.noDhcp) edits.dhcp = null;
  if (Object.keys(edits).length === 0) throw new InputError('natns network set needs something to change: --pool, --upstream-address, --dhcp or --no-dhcp');
  const info = await netInfo(name);
  if (!info || !info.persistent) throw new InputError(`libvirt defines no network named '${printable(name)}' (virsh net-list --all)`);
  const before = await netDumpXml(name, true);
  if (natMetadataText(before) === undefined) throw new InputError(`network '${printable(name)}' is not a natns network (no natns metadata)`);
  const after = editNatMetadata(before, edits);
  const changed = natMetadataText(after) !== natMetadataText(before);
  if (changed) {
    try {
      validated(after);
    } catch (err) {
      throw new InputError(`the change would make network '${name}' invalid: ${errorText(err)}`);
    }
    await netDefine(after);
  }
  return { network: name, changed, active: info.active, restartNeeded: info.active && (await pendingChange(name)) === true };
}

/** Whether a running network's defined natns metadata differs from what it runs with; undefined when libvirt cannot say. */
export async function pendingChange(name: string): Promise<boolean | undefined> {
  try {
    const info = await netInfo(name);
    if (!info?.active || !info.persistent) return info ? false : undefined;
    return natMetadataText(await netDumpXml(name)) !== natMetadataText(await netDumpXml(name, true));
  } catch {
    return undefined;
  }
}
