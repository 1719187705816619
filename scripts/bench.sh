#!/usr/bin/env bash
# Runs the benchmark suite: every figure of docs/performance.md next to its peer or limit, measured
# in the same run (medians of --runs, default 3), printed as a table and written as JSON to
# .build/bench/results.json. A few minutes on 2 cores. Extra arguments go to jobcontrol-bench
# (e.g. `scripts/bench.sh compare --runs 5`, `scripts/bench.sh schedule --jobs 1000`).
# Builds as deployed: release, Swift runtime linked in (--static-swift-stdlib).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! command -v tsp >/dev/null 2>&1; then
  echo "bench: installing task-spooler, the peer the throughput figures are compared with" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y -q task-spooler >/dev/null || echo "bench: task-spooler unavailable; its comparison is skipped" >&2
fi
swift build -c release --static-swift-stdlib --product jobcontrold
swift build -c release --static-swift-stdlib --product jobctl
swift build -c release --static-swift-stdlib --product jobcontrol-bench
# The cluster figures need PostgreSQL: a throwaway server, as the tests use.
if [ -z "${JOBCONTROL_BENCH_PG_URL:-}" ]; then
  eval "$(scripts/postgres-sandbox.sh start 55433)"
  trap 'scripts/postgres-sandbox.sh stop "$PGSANDBOX_DIR"' EXIT
  export JOBCONTROL_BENCH_PG_URL=$JOBCONTROL_TEST_PG_URL
fi
"$(swift build -c release --static-swift-stdlib --show-bin-path)/jobcontrol-bench" "$@"
