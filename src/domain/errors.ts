/**
 * One error type for everything natns refuses or fails at. `message` is written for the admin
 * (libvirt shows hook stderr verbatim), `cause` keeps the low-level reason for the log.
 */
export class NatnsError extends Error {
  override readonly name = 'NatnsError';
  constructor(
    message: string,
    options: { cause?: unknown; exitCode?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = options.exitCode ?? 1;
  }
  readonly exitCode: number;
}

/** Bad input: XML, metadata, config or arguments. Exit code 2 so scripts can tell it from kernel trouble. */
export class InputError extends NatnsError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, exitCode: 2 });
  }
}

/** Prefix an error's message with what we were doing, keeping its class and exit code. */
export function withContext(context: string, err: unknown): NatnsError {
  if (err instanceof NatnsError) {
    const wrapped = new (err.constructor as typeof NatnsError)(`${context}: ${err.message}`, { cause: err.cause ?? err });
    (wrapped as { exitCode: number }).exitCode = err.exitCode;
    return wrapped;
  }
  return new NatnsError(`${context}: ${errorText(err)}`, { cause: err });
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
