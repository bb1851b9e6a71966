import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { errorText, NatnsError } from '../domain/errors.js';
import { badFiles, badFileText } from '../sys/bad-files.js';
import { paths } from '../sys/paths.js';

// Set by scripts/build.mjs from package.json; absent when the sources run unbundled (jest).
declare const NATNS_VERSION: string | undefined;
const version = typeof NATNS_VERSION === 'string' ? NATNS_VERSION : 'development';

export const EXIT_CODES = `Exit codes:
  0  done, and (for check) nothing differs
  1  a failure, or check found differences
  2  bad input or usage: an unknown command, option or argument, a missing or
     malformed value
  natns agent status returns 3 when the agent does not run.
  natns exec returns the command's own code: 127 when the program is not found,
  126 when it cannot be run, 128+N when a signal N ended it.`;

/**
 * The command line: every command, argument and option is declared here, and commander refuses
 * anything else. Each command's module is imported only when that command runs, so `natns list`
 * loads neither the demo's lab nor etcd.
 */
function program(done: (code: number) => void): Command {
  const root = new Command('natns')
    .description('natns gives each libvirt network its own NAT router in a network namespace, so many networks can reuse the same private subnet. libvirt\'s hooks build and remove the routers; this command shows and manages them.')
    .version(version, '-V, --version', 'print the version of natns')
    .usage('COMMAND [OPTIONS]')
    .enablePositionalOptions()
    .addHelpText('after', `\n${EXIT_CODES}\n\nRun 'natns COMMAND --help' for a command's options.`);
  const json = () => new Option('--json', 'print JSON for scripts instead of text');
  const run = (fn: () => Promise<number>) => async () => done(await fn());

  root.command('list')
    .description('list every network mapping')
    .summary('list every network mapping (--json for scripts)')
    .option('--all-hosts', "every upstream lease of every host sharing the lease store (etcd), networks' and guests' alike; on the file backend, this host's leases")
    .option('--wide', 'every column (namespace, IPv6 sides, upstream bridge), however wide')
    .addOption(json())
    .addHelpText('after', '\nColumns: bridge, private gateway, upstream address and state; --wide adds the\n' +
      'namespace, the IPv6 sides and the upstream bridge. Networks libvirt defines but\n' +
      'does not run are listed too. State, judged as check judges it:\n' +
      '  up       running, and the router is whole\n' +
      '  drift    part of the router differs, or a router stands for a stopped network\n' +
      '  down     it should run, but its router is not there (see natns check)\n' +
      '  stopped  not running, and nothing of its router is left\n' +
      '--json prints an array of {network, uuid, bridge, namespace, private, upstream,\n' +
      'state}; with --all-hosts, of {host, owner, uuid, kind, address, bridge, pool}.')
    .action(function (this: Command) {
      const o = this.opts<{ allHosts?: boolean; json?: boolean; wide?: boolean }>();
      return run(async () => (await import('./list.js')).run(o))();
    });

  root.command('show')
    .description("one network's mapping in detail, with what the kernel holds right now: the namespace's\n" +
      'links, addresses, routes and nft table, and every difference from what natns planned; or, given\n' +
      "a guest's (domain's) name, its networks, private and upstream addresses, forwards and 1:1 address")
    .summary('one network (or guest) in detail, with what the kernel holds')
    .argument('<network>', 'network name or uuid, or a guest (domain) name or uuid')
    .addOption(json())
    .action(function (this: Command, name: string) {
      const o = this.opts<{ json?: boolean }>();
      return run(async () => (await import('./show.js')).run(name, o))();
    });

  root.command('leases')
    .description("the DHCP leases of a network's dnsmasq: address, MAC, host name, when it ends, and the guest whose port has that MAC")
    .summary("a network's DHCP leases")
    .argument('<network>', 'network name or uuid')
    .addOption(json())
    .action(function (this: Command, name: string) {
      const o = this.opts<{ json?: boolean }>();
      return run(async () => (await import('./leases.js')).run(name, o))();
    });

  root.command('release')
    .description('Forget a stopped network: its upstream address goes back to the pool and its record is deleted. A network keeps its address across stops and restarts until it is released. Given a ' + "stopped guest's name, returns that guest's public (1:1) addresses instead. What goes with the lease is listed: the record and DHCP state, and the admin forwards (only with --force).")
    .summary("return a stopped network's upstream address to its pool")
    .argument('<name>', 'a stopped network, or a stopped guest')
    .option('--force', "also drop the network's admin forwards ('natns forward list'); without it a network that has some is refused")
    .addOption(json())
    .action(function (this: Command, name: string) {
      const o = this.opts<{ force?: boolean; json?: boolean }>();
      return run(async () => (await import('./release.js')).run(name, o))();
    });

  root.command('check')
    .description('Compare what the kernel holds (namespaces, veths, addresses, routes, sysctls, nft tables, dnsmasq) with what natns planned, and list every difference; read-only. Also listed: a ' + "network whose last start failed, and a router of a network libvirt defines but does not run. " +
      'Without NETWORK it also lists natns objects and leases that no network claims, and state files that cannot be used. Exit code 0 only when there is none.')
    .summary('compare the kernel with the plan; --repair converges everything')
    .usage('[NETWORK] [--repair [--dry-run]] [--json]')
    .argument('[network]', 'check (and repair) only this network')
    .option('--repair', 'move unusable state files aside, converge every network libvirt reports active, remove the routers of inactive ones, release the addresses of networks libvirt no longer defines, remove unclaimed natns objects; then check again. With NETWORK, only that network\'s router is converged or removed')
    .option('--dry-run', 'with --repair: print what it would do, and do nothing')
    .addOption(json())
    .action(function (this: Command, network: string | undefined) {
      const o = this.opts<{ repair?: boolean; dryRun?: boolean; json?: boolean }>();
      return run(async () => (await import('./check.js')).run(network, o))();
    });

  root.command('exec')
    .description("Run COMMAND inside the network's namespace (its router), with your terminal. This is how an " +
      'admin starts a transparent proxy for <natns:tproxy> there, e.g.\n  natns exec tenant-a -- squid -f /etc/squid/tenant-a.conf')
    .summary("run a command in a network's namespace (e.g. a transparent proxy)")
    .usage('NETWORK -- COMMAND [ARG...]')
    .argument('<network>', 'network name or uuid')
    .argument('<command...>', 'the program and its arguments (after --)')
    .passThroughOptions()
    // Passing options through keeps the '--' that separates them; it is natns's, not the program's.
    .action((network: string, command: string[]) => run(async () => (await import('./exec.js')).run(network, command[0] === '--' ? command.slice(1) : command))());

  const forward = root.command('forward')
    .description('Publish a port of a network\'s upstream address to an address on its private side. Forwards added here are kept and restored whenever the network starts; guests declare their own in their domain metadata (<natns:forward>). A port can be published only once per network.')
    .summary('list, add or remove port forwards of a network');
  forward.command('list')
    .description('every forward, of every network or of NETWORK')
    .argument('[network]', 'only this network')
    .addOption(json())
    .action(function (this: Command, network: string | undefined) {
      const o = this.opts<{ json?: boolean }>();
      return run(async () => (await import('./forward.js')).list(network, o))();
    });
  forward.command('add')
    .description("publish PORT of the network's upstream address to IP:PORT on its private side")
    .argument('<network>', 'network name or uuid')
    .requiredOption('--proto <proto>', 'tcp or udp')
    .requiredOption('--port <port>', 'the port on the upstream address')
    .requiredOption('--to <ip:port>', 'where it goes on the private side, like 10.0.0.100:80')
    .addOption(json())
    .action(function (this: Command, network: string) {
      const o = this.opts<{ proto: string; port: string; to: string; json?: boolean }>();
      return run(async () => (await import('./forward.js')).add(network, o))();
    });
  forward.command('remove')
    .description('withdraw an admin forward')
    .argument('<network>', 'network name or uuid')
    .requiredOption('--proto <proto>', 'tcp or udp')
    .requiredOption('--port <port>', 'the port on the upstream address')
    .addOption(json())
    .action(function (this: Command, network: string) {
      const o = this.opts<{ proto: string; port: string; json?: boolean }>();
      return run(async () => (await import('./forward.js')).remove(network, o))();
    });

  root.command('gc')
    .description('Return the upstream addresses of networks that libvirt no longer defines, and the public (1:1) addresses of guests it no longer defines, to their pools. libvirt runs no hook on undefine, so a lease stays reserved until this runs (by hand, or at boot through natns check --repair). A network whose router still exists is kept. Every failure is reported; the rest carries on.')
    .summary('release the addresses of networks libvirt no longer defines')
    .option('--dry-run', 'print what it would release, and release nothing')
    .addOption(json())
    .action(function (this: Command) {
      const o = this.opts<{ dryRun?: boolean; json?: boolean }>();
      return run(async () => (await import('./gc.js')).run(o))();
    });

  const ipam = root.command('ipam')
    .description('the upstream lease store')
    .summary("move this host's file leases into etcd (migrate --to etcd)");
  ipam.command('migrate')
    .description("Move this host's upstream leases from files (/var/lib/natns/leases) into the etcd cluster\n" +
      'that the natns config names: each becomes an etcd lease naming this host, and the address a network or guest holds stays the same. Refused, with nothing moved, when another host already holds one of the addresses in etcd.')
    .addOption(new Option('--to <backend>', 'where the leases go').choices(['etcd']).makeOptionMandatory())
    .addOption(json())
    .action(function (this: Command) {
      const o = this.opts<{ to: 'etcd'; json?: boolean }>();
      return run(async () => (await import('./ipam.js')).migrate(o))();
    });

  const network = root.command('network')
    .description('Define, change and remove natns networks in libvirt (virsh does the rest: net-start, net-destroy, net-list).')
    .summary('create, change (set) or delete a natns network in libvirt');
  const upstreamOptions = (c: Command) => c
    .addOption(new Option('--pool <pool>', 'lease the upstream address from this pool (default: the only IPv4 pool, or "default")').conflicts('upstreamAddress'))
    .option('--upstream-address <a>', 'a fixed upstream address A or A/PREFIX; bridge, prefix and gateway come from the pool whose subnet holds it')
    .option('--upstream-bridge <bridge>', 'with --upstream-address: the upstream bridge, where no pool says it')
    .option('--upstream-gateway <ip>', 'with --upstream-address: the upstream gateway, where no pool says it');
  upstreamOptions(network.command('create')
    .description("Define a natns network from xml-templates/network.xml: an isolated libvirt network whose gateway is its router's, in its own namespace. Refused when libvirt has a network of that name or the bridge exists.")
    .argument('<name>', 'the new network\'s name')
    .requiredOption('--gateway <cidr>', "the router's private address and prefix, like 10.0.0.1/24"))
    .option('--dhcp <start-end>', 'hand out addresses from this range, like 10.0.0.100-10.0.0.199')
    .option('--bridge <name>', 'the network\'s bridge (default: the lowest free virbrN)')
    .addOption(new Option('--patch <kind>', 'how the router is joined to the bridges').choices(['veth', 'macvlan']))
    .option('--autostart', 'start it whenever libvirtd starts')
    .option('--start', 'start it now')
    .addOption(json())
    .action(function (this: Command, name: string) {
      const o = this.opts();
      return run(async () => (await import('./network.js')).create(name, o as Parameters<typeof import('./network.js').create>[1]))();
    });
  network.command('delete')
    .description("Stop the network, undefine it, and return its upstream address to its pool (its admin forwards go with it). Refused while guests are attached, unless --force. Repeatable: what is gone already is fine.")
    .argument('<name>', 'network name')
    .option('--force', 'delete it even though guests are attached (they lose the network)')
    .addOption(json())
    .action(function (this: Command, name: string) {
      const o = this.opts<{ json?: boolean; force?: boolean }>();
      return run(async () => (await import('./network.js')).remove(name, o))();
    });
  upstreamOptions(network.command('set')
    .description('Change the natns metadata of a defined network. A running network keeps its settings until it is restarted; this says when a restart is needed (natns show marks it too).')
    .argument('<name>', 'network name'))
    .option('--dhcp <start-end>', 'hand out addresses from this range')
    .option('--no-dhcp', 'stop handing out addresses')
    .addOption(json())
    .action(function (this: Command, name: string) {
      const o = this.opts();
      return run(async () => (await import('./network.js')).set(name, o as Parameters<typeof import('./network.js').set>[1]))();
    });

  const pool = root.command('pool')
    .description('The upstream address pools of the natns config and who holds their addresses, from the lease store the config names (files, or etcd: every host\'s leases).')
    .summary('upstream pools: use (list) and every lease with its owner (show)');
  pool.command('list')
    .description('every pool with its bridge, range, and how many addresses are used and free')
    .addOption(json())
    .action(function (this: Command) {
      const o = this.opts<{ json?: boolean }>();
      return run(async () => (await import('./pool.js')).list(o))();
    });
  pool.command('show')
    .description("one pool: its subnet, gateway and range, and every lease in it with its owner (a network's upstream address, or a guest's 1:1 address) and the host that holds it")
    .argument('<pool>', 'pool name (see natns pool list)')
    .addOption(json())
    .action(function (this: Command, name: string) {
      const o = this.opts<{ json?: boolean }>();
      return run(async () => (await import('./pool.js')).show(name, o))();
    });

  root.command('doctor')
    .description('Check what natns needs on this host, each with a pass/fail line and the fix: kernel support (namespaces, veth, macvlan, nft NAT in a namespace, tried in a throwaway namespace), tool versions, libvirt and its hook folders, the hooks installed and libvirtd started since, the config, each pool\'s bridge and gateway (asked by ARP from a throwaway namespace, using no address), br_netfilter, host routes into a pool\'s subnet, the conntrack tool. Exit code 1 when a check fails.')
    .summary('check the host: kernel, tools, libvirt, hooks, config, pools')
    .addOption(json())
    .action(function (this: Command) {
      const o = this.opts<{ json?: boolean }>();
      return run(async () => (await import('./doctor.js')).run(o))();
    });

  root.command('metrics')
    .description("Prometheus text for every network (state with its upstream address, bytes and packets each way from counters on natns's own nft rules, conntrack entries and limit, forwards, DHCP leases), every pool (used, free) and every hook event in natns's log (count and a duration histogram). With --textfile, written atomically to DIR/natns.prom for node_exporter's textfile collector (run it from cron).")
    .summary('Prometheus metrics of networks, pools and hook events')
    .addOption(new Option('--textfile <dir>', 'write DIR/natns.prom (tmp + rename) instead of printing').conflicts('json'))
    .addOption(json())
    .action(function (this: Command) {
      const o = this.opts<{ textfile?: string; json?: boolean }>();
      return run(async () => (await import('./metrics.js')).run(o))();
    });

  root.command('logs')
    .description("natns's own log (/var/log/natns/natns.log, NATNS_LOG_DIR): every hook event and error of NETWORK (or of all networks and guests), one line each: time, level, and the message starting with the network's name, then its facts (duration, upstream address, ...). -f keeps printing new lines, also across a log rotation (install.sh installs a logrotate rule).")
    .summary("natns's log for one network (or all); -f follows")
    .argument('[network]', 'only this network')
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('-n, --lines <n>', 'only the last N lines (before following)', (v: string) => {
      if (!/^\d+$/.test(v)) throw new InvalidArgumentError('a whole number');
      return v;
    })
    .addOption(json())
    .action(function (this: Command, network: string | undefined) {
      const o = this.opts<{ follow?: boolean; json?: boolean; lines?: string }>();
      return run(async () => (await import('./logs.js')).run(network, o))();
    });

  const agent = root.command('agent')
    .description("Run in the foreground, one per host (natns-agent.service under systemd). For each stretched network (<natns:vxlan>) running on this host it campaigns in etcd for the network's one active router, makes this host's router active when it wins and keeps it on standby (both sides down) otherwise. A stretched network does not start without it.")
    .summary('elect the active router of stretched networks (foreground); status')
    .option('--ttl <seconds>', "the etcd lease of this host's elections: a dead host's router is replaced after about this long", '2')
    .action(function (this: Command) {
      const o = this.opts<{ ttl: string }>();
      return run(async () => (await import('./agent.js')).run(o))();
    });
  agent.command('status')
    .description('whether the agent runs (exit 3 when it does not), and for each stretched network which host is active since when')
    .addOption(json())
    .action(function (this: Command) {
      const o = this.opts<{ json?: boolean }>();
      return run(async () => (await import('./agent.js')).status(o))();
    });

  root.command('demo')
    .description('Show natns working on this host, with nothing but ./install.sh beforehand: a provider bridge with an upstream host in its own namespace, two libvirt networks that both use 10.0.0.0/24, and a QEMU guest on each publishing port 80; prints the mappings and what each side reached, then removes all of it. Every object is named natnsdemo-*.')
    .summary('two same-subnet networks with real guests, end to end (--keep, --down)')
    .addOption(new Option('--keep', 'leave the demo running').conflicts('down'))
    .option('--down', 'remove a kept demo')
    .action(function (this: Command) {
      const o = this.opts<{ keep?: boolean; down?: boolean }>();
      return run(async () => (await import('./demo.js')).run(o))();
    });

  // Internal: the demo's helpers, run inside its namespaces.
  root.command('_upstream-host', { hidden: true })
    .argument('<port>').argument('<logfile>')
    .action((port: string, logFile: string) => run(async () => (await import('./upstream-host.js')).run(port, logFile))());
  root.command('_http-get', { hidden: true })
    .argument('<url>')
    .action((url: string) => run(async () => (await import('./http-get.js')).run(url))());

  // Internal: the man page and bash completion, generated from this command line at build time.
  root.command('_generate', { hidden: true })
    .argument('<what>')
    .action((what: string) => run(async () => {
      const g = await import('./generate.js');
      if (what === 'man') process.stdout.write(g.manPage(root, version, EXIT_CODES));
      else if (what === 'bash-completion') process.stdout.write(g.bashCompletion(root));
      else throw new NatnsError(`_generate: man or bash-completion, not ${what}`, { exitCode: 2 });
      return 0;
    })());

  root.hook('preAction', (_root, action) => {
    // The state is root's alone and the routers live in namespaces only root enters: as anyone
    // else every command would see nothing, or report drift that is not there.
    if ((process.getuid?.() ?? 0) !== 0 && action.name() !== '_generate') {
      throw new NatnsError(`'natns ${commandPath(action).split(' ')[0]}' needs root: its state (${paths.state()}) and the routers' namespaces are root's; run it as root`, { exitCode: 2 });
    }
  });
  for (const c of commands(root)) {
    c.exitOverride();
    // One line on stderr naming the command and where its usage is; commander's own wording.
    c.configureOutput({
      outputError: (text, write) => {
        const what = text.replace(/^error: /, '').replace(/\.(\n|$)/, '$1').replace(/\n\(Did you mean (.*)\)/, ' (did you mean $1)').trim();
        const name = ['natns', commandPath(c)].filter(Boolean).join(' ');
        write(`${name}: ${what}; see '${name} --help'\n`);
      },
    });
  }
  return root;
}

function commands(c: Command): Command[] {
  return [c, ...c.commands.flatMap(commands)];
}

function commandPath(c: Command): string {
  const names: string[] = [];
  for (let at: Command | null = c; at && at.parent; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  try {
    await program((c) => { code = c; }).parseAsync(argv, { from: 'user' });
    return reportSkipped(code);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version asked for are a success; help shown because a command was missing is not.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
    }
    process.stderr.write(`natns: ${errorText(err)}\n`);
    return reportSkipped(err instanceof NatnsError ? err.exitCode : 1);
  }
}

/**
 * State files a command had to skip (see README, "State files"): one line each on stderr, and
 * exit code 1 instead of 0, since what it printed may be incomplete.
 */
function reportSkipped(code: number): number {
  const skipped = badFiles.take();
  for (const b of skipped) process.stderr.write(`natns: skipped ${badFileText(b)}\n`);
  return code === 0 && skipped.length > 0 ? 1 : code;
}
