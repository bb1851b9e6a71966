/** Quote untrusted text for an error message without letting it smuggle control characters or kilobytes. */
export function printable(value: unknown): string {
  const clean = String(value).replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}
