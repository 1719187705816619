#!/usr/bin/env bash
# Builds JobControl and runs jobcontrold on the sample configuration (etc/jobcontrol/), with its
# SQLite database and control socket in ./.run/, then runs a first build so you see one at once.
# Ctrl-C stops the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build
bin=$(swift build --show-bin-path)
mkdir -p .run
socket="$PWD/.run/jobcontrol.sock"
"$bin/jobcontrold" --config etc/jobcontrol/jobcontrol.yaml \
  --storage "sqlite://$PWD/.run/jobcontrol.sqlite3" --socket "$socket" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null' EXIT
trap 'exit 0' INT TERM
for _ in $(seq 200); do
  [ -S "$socket" ] && "$bin/jobctl" --socket "$socket" status >/dev/null 2>&1 && break
  kill -0 $daemon 2>/dev/null || { echo "jobcontrold did not start" >&2; exit 1; }
  sleep 0.05
done
echo
echo "== jobctl jobs"
"$bin/jobctl" --socket "$socket" jobs
echo
echo "== jobctl run hello --wait"
"$bin/jobctl" --socket "$socket" run hello --wait || true
echo
cat <<EOT
jobcontrold is running (pid $daemon). In another terminal, try:

  export JOBCONTROL_SOCKET=$socket PATH=$bin:\$PATH
  jobctl jobs
  jobctl next                               # heartbeat runs every 30 s by itself
  jobctl calendar 'Mon..Fri 9:00' --iterations 3
  jobctl run report --build-deps --wait     # builds fetch-data first, then report
  jobctl progress 2                         # the progress tree fetch-data reported
  jobctl run always-fails --wait; echo "exit status \$?"
  jobctl builds
  jobctl logs 1
  jobctl show nightly-vacuum

The web dashboard: http://127.0.0.1:9187/ (anyone on this host may look; to run, cancel or
suspend, log in with the sample's token: sample-dashboard-token-change-me). The JSON API is
under http://127.0.0.1:9187/api/v1/ (openapi.json describes it), metrics at /metrics.

Press Ctrl-C here to stop the daemon.
EOT
wait $daemon
