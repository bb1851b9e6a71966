import type { PatchKind } from '../../domain/model.js';
import { macvlan } from './macvlan.js';
import type { Patch } from './patch.js';
import { veth } from './veth.js';

export type { HostFacts, Patch } from './patch.js';

/** Every patch kind natns knows; a new kind is a new file and one entry here. */
export const PATCHES: Record<PatchKind, Patch> = { veth, macvlan };

export function patchFor(kind: PatchKind | undefined): Patch {
  return PATCHES[kind ?? 'veth'];
}
