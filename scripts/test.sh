#!/usr/bin/env bash
# Runs the whole test suite: unit tests, integration tests that start the real jobcontrold and
# jobctl binaries, and the storage conformance suite on SQLite and on a throwaway PostgreSQL
# server started here (scripts/postgres-sandbox.sh). `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ -z "${JOBCONTROL_TEST_PG_URL:-}" ]; then
  port=$((55000 + RANDOM % 1000))
  eval "$(scripts/postgres-sandbox.sh start "$port")"
  trap 'scripts/postgres-sandbox.sh stop "$PGSANDBOX_DIR"' EXIT
fi
# The PostgreSQL cases must run here: a missing server is a failure, not a silent skip.
export JOBCONTROL_TEST_REQUIRE_PG=1
swift test "$@"
