import { randomBytes } from 'node:crypto';
import { errorText } from '../domain/errors.js';
import { run, type RunResult } from '../sys/run.js';
import { Netns } from './netns.js';
import { isBridge } from './sysfs.js';

/** What one probe found: whether it worked and, when not, what the kernel or tool said. */
export interface ProbeResult {
  ok: boolean;
  detail: string;
}

const said = (r: RunResult) => (r.stderr || r.stdout).trim().replace(/\s+/g, ' ') || `exit code ${r.exitCode}`;

/**
 * Do this kernel's namespaces, veth pairs, macvlans and nft NAT inside a namespace work? Each is
 * tried for real in a throwaway namespace (`nnprobe-<hex>`, no natns prefix, so no natns gc ever
 * mistakes it for a router), which is removed whatever happened.
 */
export async function probeKernel(): Promise<{ netns: ProbeResult; veth: ProbeResult; macvlan: ProbeResult; nftNat: ProbeResult }> {
  const name = `nnprobe-${randomBytes(4).toString('hex')}`;
  const ns = new Netns(name);
  const skipped = { ok: false, detail: 'not tried: no namespace' };
  const made = await run('ip', ['netns', 'add', name]);
  if (made.exitCode !== 0) return { netns: { ok: false, detail: said(made) }, veth: skipped, macvlan: skipped, nftNat: skipped };
  try {
    const veth = await ns.run(['ip', 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
    const macvlan = veth.exitCode === 0
      ? await ns.run(['ip', 'link', 'add', 'm0', 'link', 'p0', 'type', 'macvlan', 'mode', 'bridge'])
      : undefined;
    const nft = await ns.run(['nft', '-f', '-'], {
      input: 'table ip nnprobe {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n' +
        '\t\toifname "p0" ip saddr 10.0.0.0/24 snat to 198.51.100.2\n\t}\n}\n',
    });
    return {
      netns: { ok: true, detail: `made and entered ${name}` },
      veth: { ok: veth.exitCode === 0, detail: veth.exitCode === 0 ? 'a veth pair was made' : said(veth) },
      macvlan: macvlan === undefined ? { ok: false, detail: 'not tried: no veth to hang it on' }
        : { ok: macvlan.exitCode === 0, detail: macvlan.exitCode === 0 ? 'a bridge-mode macvlan was made' : said(macvlan) },
      nftNat: { ok: nft.exitCode === 0, detail: nft.exitCode === 0 ? 'an nft snat rule was loaded in a namespace' : said(nft) },
    };
  } catch (err) {
    return { netns: { ok: true, detail: 'made' }, veth: { ok: false, detail: errorText(err) }, macvlan: skipped, nftNat: skipped };
  } finally {
    await run('ip', ['netns', 'del', name]);
  }
}

/**
 * Does `gateway` answer ARP on `bridge`? Asked from a throwaway namespace plugged into the bridge
 * with a veth, with ARP probes (sender 0.0.0.0, as duplicate address detection sends): no address
 * of the provider network is used, not even for a moment.
 */
export async function arpProbe(bridge: string, gateway: string): Promise<ProbeResult> {
  const tag = randomBytes(4).toString('hex');
  const name = `nnprobe-${tag}`;
  const host = `nnp${tag}`;
  const ns = new Netns(name);
  const made = await run('ip', ['netns', 'add', name]);
  if (made.exitCode !== 0) return { ok: false, detail: `cannot make a namespace to ask from: ${said(made)}` };
  try {
    // A NIC (a macvlan network's upstream) takes a macvlan instead of a bridge port.
    const plug = await run('ip', ['-batch', '-'], {
      input: isBridge(bridge)
        ? `link add ${host} type veth peer name eth0 netns ${name}\nlink set ${host} master ${bridge} up\n`
        : `link add link ${bridge} name ${host} type macvlan mode bridge\nlink set ${host} netns ${name} name eth0\n`,
    });
    if (plug.exitCode !== 0) return { ok: false, detail: `cannot plug into ${bridge}: ${said(plug)}` };
    await ns.run(['ip', 'link', 'set', 'eth0', 'up']);
    // -D: probes from 0.0.0.0, and exit code 1 when the target replied.
    const r = await ns.run(['busybox', 'arping', '-D', '-c', '3', '-w', '3', '-I', 'eth0', gateway]);
    const replies = /Received (\d+) response/.exec(r.stdout)?.[1];
    if (replies === undefined) return { ok: false, detail: `arping failed: ${said(r)}` };
    return Number(replies) > 0
      ? { ok: true, detail: `${gateway} answered ARP on ${bridge}` }
      : { ok: false, detail: `${gateway} did not answer ARP on ${bridge} within 3 s` };
  } finally {
    await run('ip', ['link', 'del', host]);
    await run('ip', ['netns', 'del', name]);
  }
}
