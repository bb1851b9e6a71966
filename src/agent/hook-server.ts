import { chmodSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { runNetworkHook } from '../hooks/network.js';
import { runQemuHook } from '../hooks/qemu.js';

/**
 * The agent's socket, in the state folder: a natns with a state folder of its own (a test, a
 * simulated host) never reaches another's agent. Root's alone (0600 in a 0711 folder).
 */
export function hookSocket(stateDir: string): string {
  return join(stateDir, 'agent.sock');
}

/** The request's first line; the shim (hooks/hook.sh) writes the same. */
export const HOOK_REQUEST = 'natns-hook 1';

const HOOKS = { network: runNetworkHook, qemu: runQemuHook } as const;

/**
 * Serve libvirt's hook calls warm, so a call costs a shell and a socket round trip instead of a
 * Node start-up and a cold run. Request: `natns-hook 1`, the hook kind (network or qemu) and
 * libvirt's four arguments, a line each, then the hook's stdin until the shim closes its side.
 * Reply: what the hook would print on stderr, then `exit N`. The work is the hook's own, under the
 * same locks, so a shim that gives up on a slow agent and runs the hook itself is safe beside it.
 * A request that is not well formed gets no `exit` line: the shim then runs the hook itself.
 */
export async function serveHooks(socket: string, onError: (line: string) => void): Promise<Server> {
  await removeStaleSocket(socket);
  // Half-open: the shim closes its side after stdin, and the reply still has to go back.
  const server = createServer({ allowHalfOpen: true }, (conn) => void serve(conn).catch((err: unknown) => {
    onError(`hook request failed: ${(err as Error).message}`);
    conn.destroy();
  }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socket, 0o600);
  return server;
}

async function serve(conn: Socket): Promise<void> {
  // Not `for await`: its end destroys the socket, and the reply still has to go out.
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    conn.on('data', (c: Buffer) => chunks.push(c));
    conn.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    conn.once('error', reject);
  });
  const lines = text.split('\n');
  const kind = lines[1] as keyof typeof HOOKS;
  if (lines[0] !== HOOK_REQUEST || !Object.hasOwn(HOOKS, kind) || lines.length < 7) {
    conn.end();
    return;
  }
  const args = lines.slice(2, 5);
  const stdin = lines.slice(6).join('\n');
  let said = '';
  const code = await HOOKS[kind](args, stdin, (t) => {
    said += t;
  });
  conn.end(`${said}exit ${code}\n`);
}

/** A socket file nobody listens on (an agent killed with SIGKILL leaves it) is removed; a live one is an error. */
async function removeStaleSocket(socket: string): Promise<void> {
  const live = await new Promise<boolean>((resolve) => {
    const c = createConnection(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new Error(`another process listens on ${socket}`);
  rmSync(socket, { force: true });
}
