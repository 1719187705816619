"""The daemon's configuration and the checks of the PostgreSQL fault scenarios (pg_faults.py):
builds counted line by line, occurrences, waits (standard library only)."""

import collections
import datetime
import re
import time

from fault_support import (describe_rc, iso, now, poll_daemon)


COUNT_LINES = 200
COUNT_COMMAND = "for i in $(seq 1 %d); do echo line-$i; sleep 0.02; done" % COUNT_LINES

LONG_MARKER = "sleep 31.25"


def config_yaml(with_tick=False):
    lines = ["workers: 2", "jobs:",
             "  - {id: count, command: '%s'}" % COUNT_COMMAND]
    if with_tick == "lease":
        lines = ["cluster: {lease: 3s}"] + lines + ["  - {id: long, command: 'echo start; %s; echo end'}" % LONG_MARKER]
    elif with_tick:
        lines.append("  - {id: tick, schedule: '*-*-* *:*:0/2', command: 'echo tick'}")
    return "\n".join(lines) + "\n"


def wait_builds_finished(daemon, ids, timeout):
    """Poll until every build in the daemon (and every id in `ids`) is finished.
    Returns (builds list or None, seconds waited, last error)."""
    def done(bs):
        return all(b.get("finished") for b in bs) and set(ids) <= {b["id"] for b in bs}
    return poll_daemon(daemon, daemon.builds, done, timeout, 0.5)


def wait_running(daemon, timeout=10):
    t0 = now()
    while now() - t0 < timeout:
        bs, _ = daemon.builds()
        if bs and any(b.get("state") == "RUNNING" for b in bs):
            return True
        time.sleep(0.1)
    return False


def check_count_build(c, daemon, b):
    """A finished `count` build is SUCCESSFUL with exactly line-1..line-200 in order, or FAILED
    with an exception."""
    bid, state = b.get("id"), b.get("state")
    exc = b.get("exception")
    logs, err = daemon.jobctl_json(["logs", str(bid)], timeout=20)
    if logs is None:
        c.bad("build %s (%s): `jobctl logs` failed: %s" % (bid, state, err))
        return
    stdout = [r.get("message") for r in logs if r.get("logger") == "stdout"]
    others = [r for r in logs if r.get("logger") != "stdout"]
    expected = ["line-%d" % i for i in range(1, COUNT_LINES + 1)]
    ids = [r.get("id") for r in logs]
    if state == "SUCCESSFUL":
        if stdout == expected:
            c.ok("build %s SUCCESSFUL, %d lines line-1..line-%d in order"
                 % (bid, len(stdout), COUNT_LINES))
        else:
            c.bad("build %s SUCCESSFUL but its log is wrong: %s" % (bid, describe_lines(stdout)))
        if ids != sorted(ids):
            c.info("build %s: log record ids are not ascending in the reply" % bid)
    elif state == "FAILED":
        if exc:
            t = exc.get("type") if isinstance(exc, dict) else None
            m = exc.get("message") if isinstance(exc, dict) else exc
            c.ok("build %s FAILED with exception %s: %s (log: %s)"
                 % (bid, t, str(m)[:200], describe_lines(stdout)))
        else:
            c.bad("build %s FAILED without an exception (log: %s)" % (bid, describe_lines(stdout)))
    else:
        c.bad("build %s finished in state %s" % (bid, state))
    for r in others[:5]:
        c.info("build %s log: %s %s: %s" % (bid, r.get("level_name"), r.get("logger"),
                                          str(r.get("message"))[:200]))
    if len(others) > 5:
        c.info("build %s: %d more non-stdout log records" % (bid, len(others) - 5))


def parse_time(text):
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def describe_lines(lines):
    nums, bad = [], []
    for l in lines:
        m = re.fullmatch(r"line-(\d+)", l or "")
        if m:
            nums.append(int(m.group(1)))
        else:
            bad.append(l)
    counts = collections.Counter(nums)
    dups = sorted(n for n, k in counts.items() if k > 1)
    missing = [n for n in range(1, COUNT_LINES + 1) if n not in counts]
    out_of_order = sum(1 for a, b in zip(nums, nums[1:]) if b <= a)
    parts = ["%d lines" % len(lines)]
    if missing:
        parts.append("missing %d (%s)" % (len(missing), ranges(missing)))
    if dups:
        parts.append("duplicated %d (%s)" % (len(dups), ranges(dups)))
    if out_of_order:
        parts.append("%d out of order" % out_of_order)
    if bad:
        parts.append("%d unexpected (%r…)" % (len(bad), bad[0]))
    if len(parts) == 1 and len(lines) == COUNT_LINES:
        parts.append("complete")
    return ", ".join(parts)


def ranges(ns):
    out, start, prev = [], None, None
    for n in ns:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append("%d" % start if start == prev else "%d-%d" % (start, prev))
            start = prev = n
    if start is not None:
        out.append("%d" % start if start == prev else "%d-%d" % (start, prev))
    s = ",".join(out)
    return s if len(s) < 120 else s[:117] + "…"


def probe_run(daemon, since, timeout=60):
    """Retry `jobctl run count` until it is accepted. Returns (build id, seconds since `since`,
    attempts, last error)."""
    attempts, err = 0, None
    deadline = now() + timeout
    while now() < deadline:
        attempts += 1
        bid, err = daemon.queue("count")
        if bid is not None:
            return bid, now() - since, attempts, None
        if not daemon.alive():
            break
        time.sleep(0.2)
    return None, now() - since, attempts, err


def final_checks(c, daemon, queued, probe_id, finish_timeout):
    ids = list(queued) + ([probe_id] if probe_id is not None else [])
    bs, waited, err = wait_builds_finished(daemon, ids, finish_timeout)
    if bs is None:
        c.bad("cannot list builds: %s" % err)
        return
    unfinished = [b for b in bs if not b.get("finished")]
    missing = [i for i in ids if i not in {b["id"] for b in bs}]
    c.check(not unfinished, "no build unfinished after %.1f s%s" % (
        waited, "" if not unfinished else ": " + ", ".join(
            "%s %s %s" % (b["id"], b["job_id"], b["state"]) for b in unfinished)))
    c.check(not missing, "every queued build is listed%s" % (
        "" if not missing else " (missing: %s)" % missing))
    if err:
        c.info("last `jobctl builds` error: %s" % err)
    by_state = collections.Counter("%s/%s" % (b["job_id"], b["state"]) for b in bs)
    c.info("builds: %s" % ", ".join("%s %d" % kv for kv in sorted(by_state.items())))
    for b in sorted(bs, key=lambda b: b["id"]):
        if b.get("job_id") == "count" and b.get("finished"):
            check_count_build(c, daemon, b)
    if probe_id is not None:
        pb = next((b for b in bs if b["id"] == probe_id), None)
        c.check(pb is not None and pb.get("state") == "SUCCESSFUL",
                "the build queued after the faults (%s) succeeded: %s"
                % (probe_id, pb.get("state") if pb else "not listed"))


def run_wait_check(c, daemon, timeout=30):
    rc, out, err, secs = daemon.jobctl(["run", "count", "--wait"], timeout=timeout)
    c.check(rc == 0, "`jobctl run count --wait` after the faults: %s in %.1f s%s"
            % (describe_rc(rc), secs, "" if rc == 0 else ": " + (out + err).strip()[-300:]))


# ---------------------------------------------------------------------------------------------
# Scenarios

def check_tick_occurrences(c, pg, db, window_lo, window_hi):
    """Every occurrence of `tick` is accounted for: each 2-s slot from the first recorded one to
    the last has a row, started with a build, or missed with a reason (naming the storage when it
    fell in the fault window [window_lo, window_hi])."""
    try:
        rows = pg.psql(db, "select job_id, due, outcome, coalesce(build_id::text, ''), "
                           "coalesce(detail, '') from occurrence order by job_id, due")
    except RuntimeError as e:
        c.bad("cannot read the occurrence table: %s" % e)
        return
    occ = []
    for line in rows.splitlines():
        f = line.split("\x1f")
        if len(f) == 5:
            occ.append((f[0], int(f[1]) / 1e6, f[2], f[3], f[4]))
    counts = collections.Counter(o[2] for o in occ if o[0] == "tick")
    c.info("tick occurrences by outcome: %s" % (", ".join(
        "%s %d" % kv for kv in sorted(counts.items())) or "none"))
    for o in occ:
        mark = "  <- outage" if window_lo <= o[1] <= window_hi else ""
        c.info("occurrence %s %s %-8s build=%s %s%s"
               % (o[0], iso(o[1]), o[2], o[3] or "-", o[4][:150], mark))
    by_due = {round(o[1]): o for o in occ if o[0] == "tick"}
    slots = list(range(int(window_lo) + (int(window_lo) % 2), int(window_hi) + 1, 2))
    slots = [s for s in slots if window_lo <= s <= window_hi]
    without = [iso(s)[:8] for s in slots if s not in by_due]
    c.info("2-s slots inside the outage [%s, %s]: %d, with a row: %d (%s), without a row: %s"
           % (iso(window_lo), iso(window_hi), len(slots), len(slots) - len(without),
              ", ".join("%s %s" % (iso(s)[:8], by_due[s][2]) for s in slots if s in by_due)
              or "-", ", ".join(without) or "none"))
    after = [o for o in occ if o[0] == "tick" and o[1] > window_hi and o[2] == "started"]
    c.info("tick occurrences started after the outage: %d" % len(after))
    # Every occurrence is accounted for: each 2-s slot from the first recorded one to the last
    # has a row, started with a build, or missed with a reason (the storage, during the outage).
    ticks = sorted(by_due)
    if ticks:
        every = list(range(ticks[0], ticks[-1] + 1, 2))
        holes = [iso(t)[:8] for t in every if t not in by_due]
        if holes:
            c.bad("tick occurrences without a record: %s" % ", ".join(holes))
        else:
            c.ok("every tick occurrence from %s to %s is recorded (%d)" % (iso(ticks[0])[:8], iso(ticks[-1])[:8], len(every)))
        unexplained = [iso(t)[:8] for t in every if t in by_due and by_due[t][2] == "missed" and not by_due[t][4]]
        if unexplained:
            c.bad("missed occurrences without a reason: %s" % ", ".join(unexplained))
        in_outage = [by_due[s] for s in slots if s in by_due and by_due[s][2] == "missed"]
        if in_outage and not all("storage" in o[4] for o in in_outage):
            c.bad("occurrences missed during the outage do not name the storage: %r" % [o[4] for o in in_outage])
        no_build = [iso(t)[:8] for t in every if t in by_due and by_due[t][2] == "started" and not by_due[t][3]]
        if no_build:
            c.bad("started occurrences without a build: %s" % ", ".join(no_build))
    else:
        c.bad("no tick occurrence recorded at all")
