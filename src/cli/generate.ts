import { Help, type Command, type Option } from 'commander';

/**
 * The man page and the bash completion, generated from the command line itself (scripts/build.mjs
 * runs `natns _generate man|bash-completion`), so neither can drift from what natns accepts.
 */

function visible(c: Command): Command[] {
  return new Help().visibleCommands(c).filter((s) => s.name() !== 'help');
}

function path(c: Command): string {
  const names: string[] = [];
  for (let at: Command | null = c; at && at.parent; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

function all(c: Command): Command[] {
  return [c, ...visible(c).flatMap(all)];
}

const roff = (text: string) => text.replace(/\\/g, '\\e').replace(/-/g, '\\-').split('\n').map((l) => (/^[.']/.test(l) ? `\\&${l}` : l)).join('\n');

export function manPage(root: Command, version: string, exitCodes: string): string {
  const help = new Help();
  const out = [
    `.TH NATNS 8 "" "natns ${version}" "System Administration"`,
    '.SH NAME',
    `natns \\- ${roff(root.description().split('.')[0]!.replace(/^natns /, ''))}`,
    '.SH SYNOPSIS',
    '.B natns',
    '.I COMMAND',
    '[\\fIOPTIONS\\fR]',
    '.SH DESCRIPTION',
    roff(root.description()),
    '.SH COMMANDS',
  ];
  for (const c of all(root).slice(1)) {
    if (visible(c).length > 0 && c.options.filter((o) => !o.hidden && o.long !== '--help').length === 0 && c.registeredArguments.length === 0) {
      out.push(`.SS "natns ${roff(path(c))} COMMAND"`, roff(c.description()));
      continue;
    }
    out.push(`.SS "natns ${roff(path(c))} ${roff(help.commandUsage(c).replace(/^\S+\s*/, '').replace(/^(\S+ )+?(?=\[options\]|<|\[)/, ''))}"`, roff(c.description()));
    for (const a of help.visibleArguments(c)) out.push('.TP', `.I ${roff(a.name())}`, roff(a.description));
    for (const o of help.visibleOptions(c).filter((o) => o.long !== '--help')) out.push('.TP', `.B ${roff(help.optionTerm(o))}`, roff(help.optionDescription(o)));
  }
  out.push(
    '.SH EXIT STATUS', '.nf', roff(exitCodes.replace(/^Exit codes:\n/, '')), '.fi',
    '.SH ENVIRONMENT',
    '.TP', '.B NATNS_CONFIG', 'the config file (default /etc/natns/config.json; pools may also come from config.d/*.json beside it)',
    '.TP', '.B NATNS_STATE_DIR', 'the state folder (default /var/lib/natns)',
    '.TP', '.B NATNS_LOG_DIR', 'the log folder (default /var/log/natns)',
    '.SH FILES',
    '.TP', '.I /etc/libvirt/hooks/network.d/natns, /etc/libvirt/hooks/qemu.d/natns', "libvirt's hooks, which build and remove the routers",
    '.TP', '.I /var/log/natns/natns.log', "natns's log (natns logs), rotated by /etc/logrotate.d/natns",
    '.SH SEE ALSO',
    '.BR virsh (1),',
    '.BR ip (8),',
    '.BR nft (8),',
    '.BR dnsmasq (8)',
  );
  return out.join('\n') + '\n';
}

/** What a command's positional arguments name, for completion. */
const ARGUMENT_KINDS: Record<string, string> = {
  'show': 'network guest', 'release': 'network guest', 'leases': 'network', 'check': 'network', 'exec': 'network', 'logs': 'network',
  'forward list': 'network', 'forward add': 'network', 'forward remove': 'network', 'network delete': 'network', 'network set': 'network',
  'pool show': 'pool',
};
const OPTION_KINDS: Record<string, string> = { '--pool': 'pool', '--textfile': 'dir', '--to': 'value' };

const sh = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

export function bashCompletion(root: Command): string {
  const subs: string[] = [];
  const opts: string[] = [];
  const values: string[] = [];
  const args: string[] = [];
  for (const c of all(root)) {
    // bash has no empty key: the root is 'natns', a subcommand 'natns pool'.
    const p = path(c);
    const key = p ? `natns ${p}` : 'natns';
    const names = visible(c).map((s) => s.name());
    if (names.length) subs.push(`  [${sh(key)}]=${sh(names.join(' '))}`);
    const options = new Help().visibleOptions(c);
    opts.push(`  [${sh(key)}]=${sh(options.flatMap((o) => [o.long, o.short]).filter(Boolean).join(' '))}`);
    for (const o of options.filter((o: Option) => o.required || o.optional)) {
      const kind = o.argChoices ? `choices ${o.argChoices.join(' ')}` : OPTION_KINDS[o.long ?? ''] ?? 'value';
      for (const flag of [o.long, o.short].filter(Boolean)) values.push(`  [${sh(`${key}|${flag}`)}]=${sh(kind)}`);
    }
    const kind = ARGUMENT_KINDS[p];
    if (kind && c.registeredArguments.length > 0) args.push(`  [${sh(key)}]=${sh(kind)}`);
  }
  return `# bash completion for natns: commands, options, and network, pool and guest names.
# Generated from natns's own command line at build time; installed by install.sh.

declare -gA _natns_subs=(
${subs.join('\n')}
)
declare -gA _natns_opts=(
${opts.join('\n')}
)
declare -gA _natns_values=(
${values.join('\n')}
)
declare -gA _natns_args=(
${args.join('\n')}
)

# Names of what natns manages. Networks and guests from libvirt; pools from natns itself.
_natns_names() {
  local kind
  for kind in "$@"; do
    case $kind in
      network) virsh -q -c qemu:///system net-list --all --name 2>/dev/null ;;
      guest) virsh -q -c qemu:///system list --all --name 2>/dev/null ;;
      pool) natns pool list --json 2>/dev/null | sed -n 's/^ *"pool": "\\(.*\\)",$/\\1/p' ;;
    esac
  done
}

_natns() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local path=natns word i positional=0 after_dashes=0
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    if [[ $word == -- ]]; then after_dashes=1; break; fi
    if [[ $word == -* ]]; then
      # An option that takes a value swallows the next word (unless given as --opt=value).
      [[ $word != *=* && -n \${_natns_values["$path|$word"]} ]] && ((i++))
      continue
    fi
    if [[ $positional -eq 0 && " \${_natns_subs["$path"]} " == *" $word "* ]]; then
      path="$path $word"
    else
      ((positional++))
    fi
  done
  # After 'natns exec NETWORK --' the words are the program's.
  if [[ $after_dashes -eq 1 ]]; then COMPREPLY=($(compgen -c -- "$cur")); return; fi
  local kind=\${_natns_values["$path|$prev"]}
  if [[ -n $kind ]]; then
    case $kind in
      dir) COMPREPLY=($(compgen -d -- "$cur")) ;;
      pool) COMPREPLY=($(compgen -W "$(_natns_names pool)" -- "$cur")) ;;
      choices\\ *) COMPREPLY=($(compgen -W "\${kind#choices }" -- "$cur")) ;;
    esac
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "\${_natns_opts["$path"]}" -- "$cur"))
    return
  fi
  if [[ $positional -eq 0 && -n \${_natns_subs["$path"]} ]]; then
    COMPREPLY=($(compgen -W "\${_natns_subs["$path"]}" -- "$cur"))
    return
  fi
  if [[ $positional -eq 0 && -n \${_natns_args["$path"]} ]]; then
    COMPREPLY=($(compgen -W "$(_natns_names \${_natns_args["$path"]})" -- "$cur"))
  fi
}
complete -F _natns natns
`;
}
