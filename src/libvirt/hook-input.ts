import { InputError } from '../domain/errors.js';
import type { PortRecord } from '../domain/model.js';
import { printable } from '../domain/text.js';
import { macOrUndefined, validateUuid } from '../domain/validate.js';
import { readNetwork, type LibvirtNetwork } from './network-xml.js';
import { attr, child, parseXml, text, type XmlNode } from './xml.js';

/** libvirt calls `HOOK NAME OPERATION SUBOPERATION EXTRA` with `<hookData>` on stdin. */
export interface NetworkHookCall {
  name: string;
  operation: string;
  subOperation: string;
  network: LibvirtNetwork;
  /** For port-created / port-deleted: the guest interface plugged in or out. */
  port?: PortRecord;
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
    throw new InputError(`hook was called for network '${printable(name)}' but its XML names '${printable(definition.name)}'`);
  }
  const portNode = child(child(root, 'hookData'), 'networkport');
  const port = portNode ? readPort(portNode) : undefined;
  return { name, operation, subOperation, network: definition, ...(port ? { port } : {}) };
}

function readPort(node: XmlNode): NetworkHookCall['port'] {
  const owner = child(node, 'owner');
  const uuid = validateUuid(text(child(node, 'uuid')), '<networkport> uuid');
  const mac = macOrUndefined(attr(child(node, 'mac'), 'address'));
  if (mac === undefined) throw new InputError(`<networkport> has no valid <mac address>`);
  return { port: uuid, vm: printable(text(child(owner, 'name')) ?? ''), vmUuid: validateUuid(text(child(owner, 'uuid')), '<networkport><owner> uuid'), mac };
}
