#!/usr/bin/env bash
# Runs the whole test suite: unit tests and integration tests that start the real jobcontrold and
# jobctl binaries. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift test "$@"
