#!/usr/bin/env bash
# Regenerates the orders in which the link (lld's --symbol-ordering-file, Package.swift) lays out
# the functions of the two executables: Sources/jobcontrold/link-order.txt (the ones a daemon runs
# to start, answer `jobctl status`, run a build and idle) and Sources/jobctl/link-order.txt (the
# ones jobctl's one-shot commands run), in the order they first ran, so that they sit together at
# the front of the code instead of spread over it.
#
# Why it matters: the kernel maps an executable's pages 64 KB at a time around each page a process
# touches (fault-around), so a start-up that touches a few functions in every corner of the binary
# keeps most of it resident. The daemon's order, with the rest of the link's changes, took the idle
# daemon's RSS from 30.8 to 22.1 MB; jobctl's took a `jobctl status` from 147 page faults to 106
# (docs/performance.md). A stale file costs nothing but that gain: functions it names that no
# longer exist are ignored, new ones are laid out after it.
#
# `scripts/link-order.sh [jobcontrold|jobctl]` (default: both). Run it after large changes to
# start-up or to the dependencies (valgrind's callgrind traces the release binaries; a minute or
# two), measure (a new trace is not always a better order: compare the idle RSS), then commit.
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
case "$which" in all | jobcontrold | jobctl) ;; *) echo "usage: scripts/link-order.sh [jobcontrold|jobctl]" >&2; exit 64 ;; esac
command -v valgrind >/dev/null || { echo "link-order.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
swift build -c release --static-swift-stdlib --product jobctl
swift build -c release --static-swift-stdlib --product jobcontrold
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
work=$(mktemp -d /tmp/jc-link-order.XXXXXX)
trap 'pkill -KILL -f "$work/" 2>/dev/null || true; rm -rf "$work"' EXIT

# Writes to $1 the functions of binary $2 that the callgrind traces $3... ran, first run first.
write_order() {
  python3 - "$@" <<'PY'
import re, subprocess, sys
out, binary, traces = sys.argv[1], sys.argv[2], sys.argv[3:]
ran = {}
for trace in traces:
    for line in open(trace, errors="replace"):
        m = re.match(r"^c?fn=\((\d+)\) (.+)$", line.rstrip("\n"))
        if m:
            ran.setdefault(m.group(2), None)
defined = set(subprocess.run(["nm", "--defined-only", "--format=just-symbols", binary],
                             capture_output=True, text=True, check=True).stdout.split())
names = [name for name in ran if name in defined]
open(out, "w").write("\n".join(names) + "\n")
print(f"link-order.sh: {len(names)} functions in {out}")
PY
}

if [ "$which" != jobcontrold ]; then
  # jobctl's one-shot commands (the fast path) against a daemon that runs normally.
  strip --strip-debug -o "$work/jobctl" "$bin/jobctl"
  mkdir "$work/ctl"
  printf 'jobs:\n  - {id: tick, command: [/bin/true]}\n' > "$work/ctl/config.yaml"
  "$bin/jobcontrold" --config "$work/ctl/config.yaml" --storage "sqlite://$work/ctl/db.sqlite" \
    --socket "$work/ctl/s.sock" --log-level error > "$work/ctl/daemon.log" 2>&1 &
  ctl_daemon=$!
  for _ in $(seq 1 300); do [ -S "$work/ctl/s.sock" ] && break; sleep 0.1; done
  [ -S "$work/ctl/s.sock" ] || { cat "$work/ctl/daemon.log" >&2; exit 1; }
  "$bin/jobctl" run --socket "$work/ctl/s.sock" tick --wait > /dev/null
  traces=()
  while read -r -a command; do
    traces+=("$work/ctl/callgrind.${#traces[@]}")
    # An in-build helper's call is refused here (no build's token), after the same path.
    JOBCONTROL_TOKEN=none valgrind --tool=callgrind --callgrind-out-file="${traces[-1]}" --demangle=no \
      "$work/jobctl" "${command[@]}" --socket "$work/ctl/s.sock" < /dev/null > /dev/null 2>&1 || true
  done <<'COMMANDS'
status
jobs
builds
build 1
logs 1
show tick
next
run tick --wait
progress 1
progress 1 2
log hello
COMMANDS
  kill -TERM "$ctl_daemon"
  wait "$ctl_daemon" || true
  write_order Sources/jobctl/link-order.txt "$work/jobctl" "${traces[@]}"
fi
if [ "$which" != jobctl ]; then
  # valgrind cannot read this toolchain's debug information; the symbol table is enough.
  strip --strip-debug -o "$work/jobcontrold" "$bin/jobcontrold"
  printf '%s\n' 'jobs:' '  - {id: tick, command: [/bin/true], schedule: hourly}' \
    "  - {id: report, command: [/bin/sh, -c, 'echo hello; jobctl progress 1 2'], dependencies: [tick]}" \
    > "$work/config.yaml"
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --demangle=no \
    "$work/jobcontrold" --config "$work/config.yaml" --storage "sqlite://$work/db.sqlite" \
    --socket "$work/s.sock" --log-level error > "$work/daemon.log" 2>&1 &
  daemon=$!
  for _ in $(seq 1 600); do [ -S "$work/s.sock" ] && break; sleep 0.1; done
  [ -S "$work/s.sock" ] || { cat "$work/daemon.log" >&2; exit 1; }
  export JOBCONTROL_SOCKET=$work/s.sock
  "$bin/jobctl" status > /dev/null
  # Under valgrind the spawn itself fails (it lacks clone3), but the build's path up to and after the
  # spawn, its failure and its recording, all run.
  "$bin/jobctl" run report --build-deps --wait > /dev/null || true
  "$bin/jobctl" builds > /dev/null
  sleep 5 # the idle daemon: timers, the watchdog, the scheduler's next tick
  kill -TERM "$daemon"
  wait "$daemon" || true
  write_order Sources/jobcontrold/link-order.txt "$work/jobcontrold" "$work/callgrind.out"
fi
# SwiftPM does not know the link reads these files: the binaries are removed, so the next build
# links them anew.
rm -f "$bin/jobcontrold" "$bin/jobctl"
