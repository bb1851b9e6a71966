/** Pieces of nft syntax both tables write, in the form `nft list` prints them back. */

export function nftPorts(ports: number[]): string {
  return ports.length === 1 ? String(ports[0]) : `{ ${ports.join(', ')} }`;
}

export function nftMark(mark: number): string {
  return `0x${mark.toString(16).padStart(8, '0')}`;
}
