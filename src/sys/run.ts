import { NatnsError } from '../domain/errors.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface RunOptions {
  input?: string;
  /** Send stdout and stderr to this file instead of capturing them (a daemon that detaches). */
  outputFile?: string;
}

/**
 * execa is initialised on the first spawn, not when natns loads: a hook event that runs no
 * process (the `start begin` of a network that holds its lease, an ignored event) never pays
 * for it.
 */
let execaModule: Promise<typeof import('execa')> | undefined;
function loadExeca(): Promise<typeof import('execa')> {
  return (execaModule ??= import('execa'));
}

/** Count of processes natns has spawned; the hook reports it and tests hold it to a budget. */
export const spawned = { count: 0 };

/** Run argv (never through a shell) and return whatever happened; callers decide what failure means. */
export async function run(file: string, args: string[], options: RunOptions | string = {}): Promise<RunResult> {
  const { input, outputFile } = typeof options === 'string' ? { input: options, outputFile: undefined } : options;
  spawned.count += 1;
  const output = outputFile === undefined ? {} : { stdout: { file: outputFile }, stderr: { file: outputFile } };
  const { execa } = await loadExeca();
  const result = await execa(file, args, {
    ...(input === undefined ? { stdin: 'ignore' as const } : { input }),
    ...output,
    reject: false,
    stripFinalNewline: false,
    env: { LC_ALL: 'C' },
    // Hook commands are short and awaited; execa's exit handlers and kill timers only add latency.
    cleanup: false,
    forceKillAfterDelay: false,
    extendEnv: true,
  });
  if (result.failed && result.exitCode === undefined) {
    throw new NatnsError(`cannot run ${file}: ${result.shortMessage}`, { cause: result });
  }
  return { stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? ''), exitCode: result.exitCode ?? 1 };
}

/** Run and throw a readable error on a non-zero exit. */
export async function runChecked(file: string, args: string[], what: string, input?: string): Promise<string> {
  const result = await run(file, args, input === undefined ? {} : { input });
  if (result.exitCode !== 0) {
    throw new NatnsError(`${what}: ${explainKernelError(result.stderr)}`, { cause: result });
  }
  return result.stdout;
}

/** iproute2 and nft speak in errno strings; say what they mean for a natns router. */
export function explainKernelError(stderr: string): string {
  const text = stderr.trim().replace(/\s+/g, ' ');
  if (/Nexthop has invalid gateway|Invalid scope/i.test(text)) {
    return `the gateway is not on-link: it is not inside the subnet of the interface it should be reached through (kernel: ${text})`;
  }
  if (/Operation not permitted/i.test(text)) return `permission denied: natns must run as root (kernel: ${text})`;
  if (/Cannot find device "([^"]+)"/.test(text)) {
    return `device ${/Cannot find device "([^"]+)"/.exec(text)![1]} does not exist (kernel: ${text})`;
  }
  return text === '' ? 'failed without a message' : text;
}
