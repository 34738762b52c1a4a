#!/usr/bin/env bash
# Builds rmount-exec (native/exec-client, Go standard library only) for this machine into
# build/rmount-exec: the native client path stubs run instead of Node when it is there.
# Static and reproducible: CGO off, -trimpath, no build id, no VCS stamping; nothing is downloaded.
#   VERSION  version stamped into the binary (default: package.json's)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v go >/dev/null 2>&1; then
  echo "rmount: Go is missing, so rmount-exec cannot be built (stubs fall back to node): apt-get install golang-go" >&2
  exit 1
fi
VERSION=${VERSION:-$(node -p 'require("./package.json").version' 2>/dev/null || echo dev)}
mkdir -p build
# A private cache inside the checkout keeps CI runs from touching $HOME and works as any user.
export GOCACHE=${GOCACHE:-$PWD/build/go-cache} GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
out=$PWD/build/rmount-exec
tmp=$out.$$.tmp
(cd native/exec-client && go build -trimpath -buildvcs=false -ldflags "-s -w -buildid= -X main.version=$VERSION" -o "$tmp" .)
mv -f "$tmp" "$out"
echo "built $out ($VERSION, $(go env GOOS)/$(go env GOARCH))"
