import { createRequire } from 'node:module';
import { RmountError } from '../remote/errors.ts';

const require = createRequire(import.meta.url);

/** A compiled addon (build/Release/*.node) is missing or cannot be loaded. */
export class AddonError extends RmountError {
  override readonly name = 'AddonError';
  readonly errno = 'ENOSYS';
  constructor(readonly code: string, message: string, options?: ErrorOptions & { suggestion?: string }) {
    super(message, options);
  }
}

/**
 * Loads `build/Release/<file>` of this checkout; a missing or broken build throws AddonError with
 * `code` and the command that builds it. Tests pass their fake through the callers' override.
 */
export function loadNativeAddon<T>(file: string, code: string, what: string): T {
  try {
    return require(`../../build/Release/${file}`) as T;
  } catch (error) {
    throw new AddonError(code, `${what} is not built or cannot be loaded (build/Release/${file})`, {
      cause: error,
      suggestion: 'run `npm run build:native` (needs the Debian packages libfuse3-dev, fuse3, make and g++)',
    });
  }
}
