import { InputError } from '../errors.js';
import { printable } from '../text.js';
import { readNetwork, type NetworkDefinition } from './network-xml.js';
import { validateUuid } from '../validate.js';
import { attr, child, parseXml, text, type XmlNode } from './xml.js';

/** libvirt calls `HOOK NAME OPERATION SUBOPERATION EXTRA` with `<hookData>` on stdin. */
export interface NetworkHookCall {
  name: string;
  operation: string;
  subOperation: string;
  network: NetworkDefinition;
  /** For port-created / port-deleted: the guest interface plugged in or out. */
  port?: { uuid: string; vm: string; vmUuid: string; mac: string };
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
  const portNode = child(child(root, 'hookData'), 'networkport');
  const port = portNode ? readPort(portNode) : undefined;
  return { name, operation, subOperation, network: definition, ...(port ? { port } : {}) };
}

function readPort(node: XmlNode): NetworkHookCall['port'] {
  const owner = child(node, 'owner');
  const uuid = validateUuid(text(child(node, 'uuid')), '<networkport> uuid');
  const mac = attr(child(node, 'mac'), 'address')?.toLowerCase() ?? '';
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) throw new InputError(`<networkport> has no valid <mac address>`);
  return { uuid, vm: printable(text(child(owner, 'name')) ?? ''), vmUuid: validateUuid(text(child(owner, 'uuid')), '<networkport><owner> uuid'), mac };
}
