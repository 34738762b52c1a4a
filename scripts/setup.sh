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
  packages+=(openssh-server openssh-sftp-server sshfs git busybox-static docker.io util-linux)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "rmount setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node -e 'const [maj]=process.versions.node.split(".").map(Number); if (maj < 20) { console.error("rmount needs Node 20 or newer, found " + process.version); process.exit(1) }'

# npm ci builds the FUSE addon (the install script); build:ts compiles the CLI into dist/.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ ! -f build/Release/fuse_binding.node ]; then
  npm ci --no-audit --no-fund
fi
npm run build:ts
# The agent for every platform rmount can upload it to (dist/agent/).
npm run build:agent
