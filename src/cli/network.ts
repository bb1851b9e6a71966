import { makeContext } from '../core/context.js';
import { createNetwork, deleteNetwork, setNetwork, type CreateOptions, type UpstreamChoice } from '../core/network-admin.js';

const print = (json: boolean | undefined, value: unknown, text: string) => process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : `${text}\n`);

export async function create(name: string, o: CreateOptions & { json?: boolean }): Promise<number> {
  const r = await createNetwork(makeContext(), name, o);
  const how = [r.autostart ? 'autostart' : '', r.started ? `started${r.upstream ? `, upstream ${r.upstream}` : ''}` : "not started: 'virsh net-start " + r.network + "'"].filter(Boolean).join('; ');
  print(o.json, r, `defined network ${r.network} on bridge ${r.bridge} (${how})`);
  return 0;
}

export async function remove(name: string, o: { json?: boolean; force?: boolean }): Promise<number> {
  const done = await deleteNetwork(makeContext(), name, { force: o.force === true });
  print(o.json, { network: name, done }, done.length ? done.join('\n') : `network ${name}: nothing left to remove`);
  return 0;
}

/** commander gives --dhcp's value, or false for --no-dhcp. */
export async function set(name: string, o: UpstreamChoice & { dhcp?: string | false; json?: boolean }): Promise<number> {
  const { dhcp, ...rest } = o;
  const r = await setNetwork(makeContext(), name, { ...rest, ...(dhcp === false ? { noDhcp: true } : dhcp !== undefined ? { dhcp } : {}) });
  const text = !r.changed ? `network ${name}: already so, nothing changed`
    : r.restartNeeded ? `changed network ${name}; it runs with the old settings until restarted: virsh net-destroy ${name} && virsh net-start ${name}`
      : `changed network ${name}; ${r.active ? 'it runs with these settings already' : 'its next start uses the change'}`;
  print(o.json, r, text);
  return 0;
}
