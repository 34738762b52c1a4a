#!/usr/bin/env bash
# Builds rmount-exec (native/exec-client, Go standard library only) for this machine into
# build/rmount-exec: the native client path stubs run instead of Node when it is there.
# Static and reproducible: CGO off, -trimpath, no build id, no VCS stamping; nothing is downloaded.
#   VERSION  version stamped into the binary (default: package.json's)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/go-env.sh
go_env "rmount-exec (stubs fall back to node)"
mkdir -p build
out=$PWD/build/rmount-exec
tmp=$out.$$.tmp
(cd native/exec-client && go build -trimpath -buildvcs=false -ldflags "-s -w -buildid= -X main.version=$VERSION" -o "$tmp" .)
mv -f "$tmp" "$out"
echo "built $out ($VERSION, $(go env GOOS)/$(go env GOARCH))"
