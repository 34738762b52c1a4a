# Sourced by the Go build scripts (build-agent.sh, build-exec-client.sh) from the repository root:
# checks for Go, sets VERSION, and an environment that builds offline and reproducibly.
#   go_env "<what is being built>"
go_env() {
  if ! command -v go >/dev/null 2>&1; then
    echo "rmount: Go is missing, so $1 cannot be built: apt-get install golang-go" >&2
    exit 1
  fi
  VERSION=${VERSION:-$(node -p 'require("./package.json").version' 2>/dev/null || echo dev)}
  # A private cache inside the checkout keeps CI runs from touching $HOME and works as any user;
  # nothing is ever downloaded.
  export GOCACHE=${GOCACHE:-$PWD/build/go-cache} GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
}
