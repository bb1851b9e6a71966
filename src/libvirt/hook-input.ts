import { InputError } from '../errors.js';
import { printable } from '../text.js';
import { readNetwork, type NetworkDefinition } from './network-xml.js';
import { child, parseXml } from './xml.js';

/** libvirt calls `HOOK NAME OPERATION SUBOPERATION EXTRA` with `<hookData>` on stdin. */
export interface NetworkHookCall {
  name: string;
  operation: string;
  subOperation: string;
  network: NetworkDefinition;
}

export function readNetworkHookCall(argv: string[], stdin: string): NetworkHookCall {
  const [name, operation, subOperation] = argv;
  if (name === undefined || operation === undefined || subOperation === undefined) {
    throw new InputError(`expected the arguments NETWORK OPERATION SUB-OPERATION from libvirt, got ${argv.length}`);
  }
  const root = parseXml(stdin, 'network hook input');
  const network = child(child(root, 'hookData'), 'network');
  if (network === undefined) throw new InputError('network hook input has no <hookData><network>');
  const definition = readNetwork(network);
  if (definition.name !== name) {
    throw new InputError(`hook was called for network '${printable(name)}' but its XML names '${definition.name}'`);
  }
  return { name, operation, subOperation, network: definition };
}
