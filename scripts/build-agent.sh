#!/usr/bin/env bash
# Cross-compiles rmount-agent (native/agent, Go standard library only) for every platform rmount
# can upload it to, into dist/agent/rmount-agent_<os>_<arch>[_<variant>], plus dist/agent/SHA256SUMS.
# Reproducible: -trimpath, no build id, no VCS stamping, CGO off; nothing is downloaded.
#   VERSION  version stamped into the binaries (default: package.json's)
#   JOBS     parallel builds (default 2)
#   TARGETS  space-separated subset, e.g. "linux/amd64 linux/arm/v7" (default: all)
#   OUT_DIR  where the builds go (default dist/agent)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/go-env.sh
go_env "the agent"
COMMIT=${COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
JOBS=${JOBS:-2}
ALL="linux/amd64 linux/arm64 linux/arm/v6 linux/arm/v7 linux/386 linux/riscv64 linux/ppc64le linux/s390x linux/loong64 darwin/amd64 darwin/arm64 freebsd/amd64"
TARGETS=${TARGETS:-$ALL}
out=${OUT_DIR:-$PWD/dist/agent}
mkdir -p "$out"

build_one() {
  local target=$1 os arch variant name
  IFS=/ read -r os arch variant <<<"$target"
  name=rmount-agent_${os}_${arch}${variant:+_$variant}
  (cd native/agent && GOOS=$os GOARCH=$arch GOARM=${variant#v} go build -trimpath -buildvcs=false \
    -ldflags "-s -w -buildid= -X main.version=$VERSION -X main.commit=$COMMIT" -o "$out/$name.tmp" .)
  mv "$out/$name.tmp" "$out/$name"
  echo "built $name"
}
export -f build_one
export VERSION COMMIT out
printf '%s\n' $TARGETS | xargs -P "$JOBS" -I{} bash -c 'build_one "$@"' _ {}
(cd "$out" && sha256sum rmount-agent_* | LC_ALL=C sort -k2 > SHA256SUMS)
echo "rmount-agent $VERSION ($COMMIT): $(wc -l < "$out/SHA256SUMS") builds in dist/agent"
