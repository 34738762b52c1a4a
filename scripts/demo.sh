#!/usr/bin/env bash
# The main job on the embedded default: a local demo workspace mounted through the whole stack
# (local backend → workspace VFS → native FUSE binding → kernel), left mounted on demo/mnt.
set -euo pipefail
cd "$(dirname "$0")/.."
ws="$PWD/demo/workspace"
mnt="$PWD/demo/mnt"
mkdir -p "$ws/src" "$mnt"
[ -f "$ws/README.md" ] || printf '# demo workspace\n\nServed by rmount from local:%s\n' "$ws" > "$ws/README.md"
[ -f "$ws/src/hello.sh" ] || { printf '#!/bin/sh\necho "hello from $(pwd)"\n' > "$ws/src/hello.sh"; chmod +x "$ws/src/hello.sh"; }

# A mount left by an earlier run (live or stale) is replaced.
if grep -q " $mnt " /proc/self/mountinfo 2>/dev/null; then bin/rmount unmount "$mnt"; fi

run() { printf '$ %s\n' "$*"; "$@"; echo; }
run bin/rmount mount "local:$ws" "$mnt"
run ls -l "$mnt" "$mnt/src"
run sh -c "echo 'written through the mount' > '$mnt/notes.txt' && cat '$ws/notes.txt'"
run bin/rmount exec "local:$ws/src" -- ./hello.sh
run bin/rmount platform "local:$ws"
run bin/rmount status
echo "demo/mnt stays mounted; unmount it with: bin/rmount unmount demo/mnt"
