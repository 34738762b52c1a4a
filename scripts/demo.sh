#!/usr/bin/env bash
# The main job on the embedded default: a local demo workspace reached through rmount.
set -euo pipefail
cd "$(dirname "$0")/.."
ws="$PWD/demo/workspace"
mkdir -p "$ws/src"
[ -f "$ws/README.md" ] || printf '# demo workspace\n\nServed by rmount from local:%s\n' "$ws" > "$ws/README.md"
[ -f "$ws/src/hello.sh" ] || { printf '#!/bin/sh\necho "hello from $(pwd)"\n' > "$ws/src/hello.sh"; chmod +x "$ws/src/hello.sh"; }

echo "\$ rmount ls local:$ws"
bin/rmount ls "local:$ws"
echo
echo "\$ rmount exec local:$ws/src -- ./hello.sh"
bin/rmount exec "local:$ws/src" -- ./hello.sh
echo
echo "\$ rmount platform local:$ws"
bin/rmount platform "local:$ws"
