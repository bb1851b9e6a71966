import { InputError } from '../domain/errors.js';

export const help = `Usage: natns _http-get URL

Internal: fetch a URL from inside the demo's upstream host namespace and print the body.
`;

export async function run(args: string[]): Promise<number> {
  const url = args[0];
  if (!url || !/^http:\/\//.test(url)) throw new InputError('usage: natns _http-get http://ADDRESS:PORT/');
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  process.stdout.write(await response.text());
  return response.ok ? 0 : 1;
}
