import { errorText, NatnsError } from '../domain/errors.js';
import { badFiles, badFileText } from '../sys/bad-files.js';
import { paths } from '../sys/paths.js';

interface Command {
  help: string;
  run: (args: string[]) => Promise<number>;
}

/** Each command is loaded only when it runs. */
const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  list: { summary: 'list every network mapping (--json for scripts)', load: () => import('./list.js') },
  show: { summary: 'one network in detail, with what the kernel holds', load: () => import('./show.js') },
  release: { summary: "return a stopped network's upstream address to its pool", load: () => import('./release.js') },
  check: { summary: 'compare the kernel with the plan; --repair converges everything', load: () => import('./check.js') },
  exec: { summary: "run a command in a network's namespace (e.g. a transparent proxy)", load: () => import('./exec.js') },
  forward: { summary: 'list, add or remove port forwards of a network', load: () => import('./forward.js') },
  gc: { summary: 'release the addresses of networks libvirt no longer defines', load: () => import('./gc.js') },
  ipam: { summary: "move this host's file leases into etcd (migrate --to etcd)", load: () => import('./ipam.js') },
  agent: { summary: 'elect the active router of stretched networks (runs in the foreground); status', load: () => import('./agent.js') },
  demo: { summary: 'two same-subnet networks with real guests, end to end (--keep, --down)', load: () => import('./demo.js') },
};

/** Internal commands, not listed in the usage. */
const hidden: Record<string, { load: () => Promise<Command> }> = {
  '_upstream-host': { load: () => import('./upstream-host.js') },
  '_http-get': { load: () => import('./http-get.js') },
};

export const usage = `Usage: natns COMMAND [OPTIONS]

natns gives each libvirt network its own NAT router in a network namespace, so many
networks can reuse the same private subnet. libvirt's hooks build and remove the routers;
this command shows and manages them.

Commands:
${Object.entries(commands).map(([n, c]) => `  ${n.padEnd(10)}${c.summary}`).join('\n')}

Run 'natns COMMAND --help' for a command's options.
`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage);
    return name === undefined ? 2 : 0;
  }
  const entry = commands[name] ?? hidden[name];
  if (!entry) {
    process.stderr.write(`natns: unknown command '${name}'\n\n${usage}`);
    return 2;
  }
  try {
    const command = await entry.load();
    if (args.includes('--help') || args.includes('-h')) {
      process.stdout.write(command.help);
      return 0;
    }
    // The state is root's alone and the routers live in namespaces only root enters: as anyone
    // else every command would see nothing, or report drift that is not there.
    if ((process.getuid?.() ?? 0) !== 0) {
      process.stderr.write(`natns: 'natns ${name}' needs root: its state (${paths.state()}) and the routers' namespaces are root's; run it as root\n`);
      return 2;
    }
    return reportSkipped(await command.run(args));
  } catch (err) {
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
