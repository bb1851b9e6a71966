import { readFileSync } from 'node:fs';

/**
 * All of stdin as text: libvirt writes the hook's XML there and closes it. Read synchronously
 * from fd 0: setting up process.stdin's stream machinery took a hook 8-13 ms. A non-blocking
 * stdin (EAGAIN) falls back to the stream.
 */
export async function readStdin(): Promise<string> {
  try {
    return readFileSync(0, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
