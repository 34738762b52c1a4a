#!/usr/bin/env bash
# The README's test command: installs and builds what the tests need, typechecks, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
npm run typecheck
npm test
