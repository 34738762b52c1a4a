#!/usr/bin/env bash
# Installs what rmount needs on Debian 12 / Ubuntu with Node 20, then builds it.
#   scripts/setup.sh          what the CLI needs (FUSE, libfuse3 headers, an SSH client)
#   scripts/setup.sh --test   plus what the test suite starts (sshd, sftp-server, sshfs, git,
#                             dockerd, busybox for container images, qemu for other architectures)
# Runs apt-get only for packages that are missing; as root, or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(fuse3 libfuse3-dev pkg-config openssh-client python3 make g++ golang-go)
if [ "${1:-}" = "--test" ]; then
  packages+=(openssh-server openssh-sftp-server sshfs git busybox-static docker.io util-linux
             qemu-user-static binfmt-support)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "rmount setup: installing ${missing[*]}" >&2
  # A mirror caught mid-sync fails one index (exit 100) while the rest is fine: go on, and let
  # the install say what is really missing.
  $sudo apt-get update -qq || echo "rmount setup: apt-get update reported errors; trying the install anyway" >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node -e 'const [maj]=process.versions.node.split(".").map(Number); if (maj < 20) { console.error("rmount needs Node 20 or newer, found " + process.version); process.exit(1) }'

# npm ci builds the FUSE addon (the install script); build:ts compiles the CLI into lib/.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ ! -f build/Release/fuse_binding.node ] || [ ! -f build/Release/posix_binding.node ]; then
  npm ci --no-audit --no-fund
fi
npm run build:ts
# The agent for every platform rmount can upload it to (dist/agent/), and the Go exec client
# that path stubs run (build/rmount-exec: starts in a millisecond where Node needs a hundred).
npm run build:agent
npm run build:exec-client

if [ "${1:-}" = "--test" ]; then
  # Foreign-architecture containers for the agent tests: qemu-user through binfmt_misc, and
  # busybox-static for arm64 and armhf as .deb files in build/qemu/ to make their rootfs from
  # (fetched after npm ci, whose node-gyp rebuild empties build/).
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  [ -e /proc/sys/fs/binfmt_misc/status ] || $sudo mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  for q in qemu-aarch64 qemu-arm; do
    [ -e "/proc/sys/fs/binfmt_misc/$q" ] || $sudo update-binfmts --enable "$q" 2>/dev/null || true
  done
  # Kept in a per-user cache (node-gyp empties build/, and CI starts from a fresh clone), copied in.
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/rmount/qemu-debs"
  mkdir -p "$cache" build/qemu
  for a in arm64 armhf; do
    if ! ls "$cache"/busybox-static_*_"$a".deb >/dev/null 2>&1; then
      dpkg --print-foreign-architectures | grep -qx "$a" || $sudo dpkg --add-architecture "$a"
      for try in 1 2 3; do
        $sudo apt-get update -qq || true
        (cd "$cache" && apt-get download -qq "busybox-static:$a") && break
        echo "rmount setup: fetching busybox-static:$a failed (try $try of 3)" >&2
        sleep $((try * 10))
      done
    fi
    cp -f "$cache"/busybox-static_*_"$a".deb build/qemu/ 2>/dev/null || echo "rmount setup: no busybox-static:$a .deb; the qemu agent tests will say so" >&2
  done
fi
