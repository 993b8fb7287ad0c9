/**
 * A configuration or usage error. The CLI prints `message` alone (no stack) and exits with 2.
 * The message always names the setting, the value given and what was expected.
 */
export class ConfigError extends Error {
  readonly code = 'LB_ERR_CONFIG';
  override readonly name = 'ConfigError';
}

/** Thrown by a value parser; the loader turns it into a ConfigError naming the setting and source. */
export class InvalidValue extends Error {
  constructor(
    readonly expected: string,
    /** The offending part of the value when it is not the whole value (one URL of a list). */
    readonly part?: unknown,
  ) {
    super(expected);
  }
}

/** Quotes a value for an error message: strings in double quotes, everything else as JSON. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
