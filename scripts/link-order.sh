#!/usr/bin/env bash
# Regenerates Sources/jobcontrold/link-order.txt, the order in which the link (lld's
# --symbol-ordering-file, Package.swift) lays out jobcontrold's functions: the ones a daemon runs
# to start, answer `jobctl status`, run a build and idle, in the order they first ran, so that they
# sit together at the front of the code instead of spread over 21 MB of it.
#
# Why it matters: the kernel maps an executable's pages 64 KB at a time around each page a process
# touches (fault-around), so a start-up that touches a few functions in every corner of the binary
# keeps most of it resident. This order, with the rest of the link's changes, took the idle
# daemon's RSS from 30.8 to 22.1 MB (docs/performance.md). A stale file costs nothing but that
# gain: functions it names that no longer exist are ignored, new ones are laid out after it.
#
# Run it after large changes to start-up or to the dependencies (valgrind's callgrind traces a
# release daemon; about a minute), then commit the file.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "link-order.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
swift build -c release --static-swift-stdlib --product jobctl
swift build -c release --static-swift-stdlib --product jobcontrold
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
work=$(mktemp -d /tmp/jc-link-order.XXXXXX)
trap 'pkill -KILL -f "$work/" 2>/dev/null || true; rm -rf "$work"' EXIT
# valgrind cannot read this toolchain's debug information; the symbol table is enough.
strip --strip-debug -o "$work/jobcontrold" "$bin/jobcontrold"
cat > "$work/config.yaml" <<'YAML'
jobs:
  - {id: tick, command: [/bin/true], schedule: hourly}
  - {id: report, command: [/bin/sh, -c, 'echo hello; jobctl progress 1 2'], dependencies: [tick]}
YAML
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
python3 - "$work/callgrind.out" "$work/jobcontrold" Sources/jobcontrold/link-order.txt <<'PY'
import re, subprocess, sys
trace, binary, out = sys.argv[1:4]
ran = {}
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
# SwiftPM does not know the link reads the file: remove the binary, so the next build links it anew.
rm -f "$bin/jobcontrold"
