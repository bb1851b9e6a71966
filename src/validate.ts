import { InputError } from './errors.js';
import { printable } from './text.js';

/**
 * Network names become namespace names, file names and nft comments, so only a conservative
 * alphabet passes; anything else is refused before it reaches a command line.
 */
export const MAX_NETWORK_NAME = 48;
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function validateNetworkName(name: string | undefined): string {
  if (name === undefined || name === '') throw new InputError('network XML has no <name>');
  if (name.length > MAX_NETWORK_NAME || !NETWORK_NAME.test(name)) {
    throw new InputError(
      `network name '${printable(name)}' cannot be used with natns: use at most ${MAX_NETWORK_NAME} letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function validateUuid(uuid: string | undefined, what: string): string {
  const lower = uuid?.toLowerCase();
  if (lower === undefined || !UUID.test(lower)) {
    throw new InputError(`${what}: '${printable(uuid ?? '')}' is not a UUID`);
  }
  return lower;
}

/** Linux interface names: 1..15 bytes, no '/', ':', whitespace, and not '.' or '..'. */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export function validateIfName(name: string | undefined, what: string): string {
  if (name === undefined || !IFNAME.test(name) || name === '.' || name === '..') {
    throw new InputError(
      `${what}: '${printable(name ?? '')}' is not a valid interface name (1 to 15 letters, digits, '_', '.' or '-')`,
    );
  }
  return name;
}

const POOL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;

export function validatePoolName(name: string | undefined, what: string): string {
  if (name === undefined || !POOL_NAME.test(name)) {
    throw new InputError(`${what}: pool name '${printable(name ?? '')}' must be 1 to 32 letters, digits, '_', '.' or '-'`);
  }
  return name;
}
