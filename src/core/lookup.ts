import { InputError } from '../domain/errors.js';
import type { NetworkRecord } from '../domain/model.js';
import { printable } from '../domain/text.js';
import type { Context } from './context.js';

/** A network by name or UUID, or an error that names the ones natns knows. */
export function findNetwork(ctx: Context, name: string | undefined, command: string): NetworkRecord {
  if (!name) throw new InputError(`natns ${command} needs a NETWORK name (see natns list)`);
  const records = ctx.records.list();
  const record = records.find((r) => r.name === name || r.uuid === name);
  if (record) return record;
  const known = records.map((r) => r.name);
  // The CLI prefixes every error with 'natns: '; the message itself does not repeat it.
  throw new InputError(`no network named '${printable(name)}' (${known.length ? `known: ${known.slice(0, 10).join(', ')}${known.length > 10 ? ', ...' : ''}` : 'it manages none yet'}; see natns list)`);
}
