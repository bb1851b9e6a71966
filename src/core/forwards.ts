import { familyOf } from '../domain/address.js';
import { InputError } from '../domain/errors.js';
import { upstreamText, type DhcpReservation, type ForwardRule, type GuestRecord, type NetworkRecord, type OneToOne } from '../domain/model.js';
import type { Context } from './context.js';

/**
 * Everything published on one network: admin forwards and those of its running guests. The
 * guest records can be passed in, so one router build reads them once for all three views.
 */
export function forwardsOf(ctx: Context, network: { uuid: string; name: string }, guests = ctx.guests.list()): ForwardRule[] {
  // A bad admin forwards file is reported, and the router is built without those forwards
  // rather than not at all ('forward add' and 'remove' refuse until it is repaired).
  const rules: ForwardRule[] = (ctx.adminForwards.readOrSkip(network.uuid) ?? []).map((f) => ({ owner: 'admin', ...f }));
  for (const guest of guests) {
    for (const n of guest.networks) {
      if (n.network !== network.name) continue;
      // A dual-stack guest's forward publishes the port on both upstream addresses.
      for (const to of [n.ip, n.ip6]) {
        if (!to) continue;
        for (const f of n.forwards) rules.push({ owner: `guest-${guest.uuid}`, proto: f.proto, port: f.port, to, toPort: f.toPort });
      }
    }
  }
  return rules;
}

/** Guests of this network with a public address of their own (1:1 NAT). */
export function oneToOneOf(network: { name: string }, guests: GuestRecord[]): OneToOne[] {
  return guests.flatMap((g) => g.networks
    .filter((n) => n.network === network.name)
    .flatMap((n) => [[n.ip, n.publicAddress], [n.ip6, n.publicAddress6]]
      .filter(([priv, pub]) => priv && pub)
      .map(([priv, pub]) => ({ owner: `guest-${g.uuid}`, private: priv!, public: pub! }))));
}

export function reservationsOf(network: { name: string }, guests: GuestRecord[]): DhcpReservation[] {
  return guests.flatMap((g) => g.networks.filter((n) => n.network === network.name && (n.ip || n.ip6))
    .map((n) => ({ mac: n.mac, ...(n.ip ? { ip: n.ip } : {}), ...(n.ip6 ? { ip6: n.ip6 } : {}) })));
}

/** Where a rule publishes its port: `198.51.100.101:8080`, or `[2001:db8:100::100]:8080` for an IPv6 one. */
export function publishedAt(record: NetworkRecord, rule: ForwardRule): string {
  return familyOf(rule.to) === 'ipv6' ? `[${record.lease6?.address ?? '?'}]:${rule.port}` : `${record.lease?.address ?? '?'}:${rule.port}`;
}

/** The rule's target, `10.0.0.100:80` or `[fd00::100]:80`. */
export function targetOf(rule: ForwardRule): string {
  return familyOf(rule.to) === 'ipv6' ? `[${rule.to}]:${rule.toPort}` : `${rule.to}:${rule.toPort}`;
}

/** Who holds a rule, in words an admin recognises. */
export function ownerName(ctx: Context, owner: string): string {
  if (owner === 'admin') return "an admin forward ('natns forward list')";
  const guest = ctx.guests.readOrSkip(owner.replace(/^guest-/, ''));
  return guest ? `guest ${guest.name}` : owner;
}

/** Refuse a port that is already published on this network's upstream address. */
export function checkPortFree(ctx: Context, record: NetworkRecord, existing: ForwardRule[], wanted: { proto: string; port: number }): void {
  const taken = existing.find((r) => r.proto === wanted.proto && r.port === wanted.port);
  if (taken) {
    throw new InputError(
      `${wanted.proto} port ${wanted.port} on ${upstreamText(record)} (network ${record.name}) is already forwarded to ${taken.to}:${taken.toPort} by ${ownerName(ctx, taken.owner)}`,
    );
  }
}
