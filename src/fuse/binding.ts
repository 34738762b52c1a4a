import { createRequire } from 'node:module';
import type { NativeBinding } from './native.ts';

const require = createRequire(import.meta.url);

/** Thrown when the compiled addon is missing or cannot be loaded. */
export class BindingError extends Error {
  override readonly name = 'BindingError';
  readonly code = 'ERR_FUSE_BINDING';
}

/**
 * The native FUSE binding, or `override` (tests pass a fake). The addon is built by
 * `npm run build:native` (node-gyp, needs libfuse3-dev) into build/Release/fuse_binding.node.
 */
export function loadBinding(override?: NativeBinding): NativeBinding {
  if (override !== undefined) return override;
  try {
    return require('../../build/Release/fuse_binding.node') as NativeBinding;
  } catch (error) {
    throw new BindingError(
      'the FUSE addon is not built: run `npm run build:native` (needs the Debian packages libfuse3-dev and fuse3)',
      { cause: error },
    );
  }
}
