import { loadNativeAddon } from '../system/native-addon.ts';
import type { NativeBinding } from './native.ts';

/**
 * The native FUSE binding, or `override` (tests pass a fake). The addon is built by
 * `npm run build:native` (node-gyp, needs libfuse3-dev) into build/Release/fuse_binding.node.
 */
export function loadBinding(override?: NativeBinding): NativeBinding {
  if (override !== undefined) return override;
  return loadNativeAddon<NativeBinding>('fuse_binding.node', 'ERR_FUSE_BINDING', 'the FUSE addon');
}
