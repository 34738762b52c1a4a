#!/usr/bin/env bash
# Builds the native addons (build/Release/fuse_binding.node, posix_binding.node) with node-gyp. Uses the headers that
# came with this Node (Debian's nodejs, or a tarball install) so nothing has to be downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! pkg-config --exists fuse3 2>/dev/null; then
  echo "rmount: libfuse3-dev is missing, so the FUSE addon cannot be built: apt-get install libfuse3-dev fuse3 pkg-config" >&2
  exit 1
fi
prefix=$(node -p 'require("path").resolve(process.execPath, "..", "..")')
args=()
[ -f "$prefix/include/node/node_api.h" ] && args+=("--nodedir=$prefix")
# node-gyp from devDependencies in a checkout; npm's own copy when installed as a package.
gyp=node_modules/.bin/node-gyp
[ -x "$gyp" ] || gyp="${npm_config_node_gyp:-node-gyp}"
case "$gyp" in *.js) exec node "$gyp" rebuild "${args[@]}" ;; *) exec "$gyp" rebuild "${args[@]}" ;; esac
