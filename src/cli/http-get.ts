import { InputError } from '../domain/errors.js';

export async function run(url: string): Promise<number> {
  if ( !/^http:\/\//.test(url)) throw new InputError('usage: natns _http-get http://ADDRESS:PORT/');
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  process.stdout.write(await response.text());
  return response.ok ? 0 : 1;
}
