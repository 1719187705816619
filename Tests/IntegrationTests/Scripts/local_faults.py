#!/usr/bin/env python3
"""Local fault injection against jobcontrold on SQLite (standard library only; run as root).

    local_faults.py --jobcontrold PATH --jobctl PATH --workdir DIR \
        [--scenario second-daemon|disk-full|socket-flood|big-requests|reload-race ...]

Each scenario runs its own daemon (`--storage sqlite:///WORKDIR/<scenario>/…`, `--log-target
console`, output in WORKDIR/<scenario>/daemon.log) and stops it at the end.

Scenarios:
  second-daemon  a second jobcontrold on the same database file while the first runs a build:
                 it must exit 74 naming the first one's pid, and leave that build alone
  disk-full      the database on a 3 MB tmpfs (mounted in a private mount namespace that only the
                 daemon lives in) filled by a build printing FLOOD_LINES lines: the build must not
                 end plain SUCCESSFUL with a hole in its log (complete log, or FAILED LogLinesLost
                 with stored + lost == FLOOD_LINES), and its end must be recorded within 20 s
                 of its command's end; the daemon must go on answering; then `echo hi` must
                 succeed or fail clearly within 20 s (INFO which). --flood-lines N (default
                 100,000: 20 s; each ~20,000 lines cost one 3-s hold)
  socket-flood   1,100 idle connections of the user nobody: root and a build's own jobctl are still
                 served, nobody gets 64 served connections and TooManyConnections on the others
                 (the next 64 are closed when idle, the rest at once, after that reply); the
                 daemon's socket descriptors go back to the baseline
  big-requests   40 parallel RunJob calls with a 7 MB job name: each gets RequestTooLarge, a
                 Status call on another connection is answered within 1 s, RSS stays within 50 MB
  reload-race    empty, cut-short and job-less files are refused by `jobctl reload`; then 150
                 rewrites of the file race 150 reloads (jobctl reload and SIGHUP): no reload may
                 apply fewer than 3 jobs. Each rewrite writes the first half of the file, waits
                 1 ms and writes the rest; by default the first half is itself a valid
                 configuration with 2 jobs (--race-layout mid-line: invalid YAML instead)

Prints check lines, one `PASS name detail` / `FAIL name detail` line per scenario and finally
`N passed, M failed`; exits 1 if any scenario failed. Lines marked INFO are observations, not
assertions.
"""

import collections
import json
import multiprocessing
import queue
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from fault_support import (EX_IOERR, Daemon, argument_parser, check_alive, check_daemon_answers,
                           clean_env, close_daemon, describe_rc, end_process, forget,
                           interesting_log_lines, kill_group, kill_group_if_running, now,
                           poll_daemon, prepare, run, run_scenario, run_scenarios, run_to_exit,
                           start_process, tail)

ALL_SCENARIOS = ["second-daemon", "disk-full", "socket-flood", "big-requests", "reload-race"]

# disk-full: 100,000 lines are 4.4 MB of text (far more than a 3 MB tmpfs holds as SQLite rows);
# the daemon holds each failing batch JOBCONTROL_WRITE_HOLD_SECONDS (3 s) before giving it up,
# about 20,000 lines a batch, so 300,000 lines take a minute: --flood-lines chooses.
DEFAULT_FLOOD_LINES = 100000
TMPFS_SIZE = "3m"
WRITE_HOLD_SECONDS = "3"
SMALL_WAIT = 20  # `echo hi` after the flood: its log line alone may be held 3 s
FLOOD_WAIT = 120
STUCK_GRACE = 20  # after the flood's command ended, for the build's end to be recorded

FLOOD_CONNECTIONS = 1100
SILENT_CONNECTIONS = 300   # of them, the last ones never call (closed by the idle guard alone)
PER_USER_LIMIT = 64
BIG_THREADS = 40
BIG_NAME_BYTES = 7 * 1000 * 1000
PROBERS = 4
RACE_ROUNDS = 150


# ---------------------------------------------------------------------------------------------
# /proc

def proc_status_field(pid, field):
    """A field of /proc/PID/status, in kB for memory fields; None if unreadable."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
        return text[text.rindex(")") + 2]
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid):
    state = proc_state(pid)
    return state is not None and state not in ("Z", "X")


def all_pids():
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            out.append(int(name))
    return out


def pids_with_env(socket_path, entry):
    """Live processes of the daemon at `socket_path` (by their JOBCONTROL_SOCKET) whose
    environment holds `entry` (b"NAME=value")."""
    want_sock = b"JOBCONTROL_SOCKET=" + os.fsencode(socket_path)
    pids = []
    for pid in all_pids():
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if entry in env and want_sock in env and pid_alive(pid):
            pids.append(pid)
    return pids


def build_pids(socket_path, build_id):
    """Live processes of build `build_id` of the daemon at `socket_path`."""
    return pids_with_env(socket_path, b"JOBCONTROL_BUILD_ID=%d" % build_id)


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def socket_fds(pid):
    n = 0
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return None
    for name in names:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, name)).startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def mount_ns(pid):
    try:
        return os.readlink("/proc/%d/ns/mnt" % pid)
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------
# The daemon and jobctl

class SqliteDaemon(Daemon):
    """A daemon on SQLite: the database WORKDIR/jobcontrol.sqlite3 unless `db_path`."""

    tail_width = 400

    def __init__(self, args, workdir, config_text, db_path=None, **kw):
        self.db = db_path or os.path.join(workdir, "jobcontrol.sqlite3")
        super().__init__(args, workdir, "sqlite://" + self.db, config_text, **kw)

    def warning_lines(self):
        # without the leading timestamp; lines alike but for their numbers collapsed
        return interesting_log_lines(self.logpath, limit=20, alike=True,
                                     shorten=lambda l: re.sub(r"^\S+ ", "", l)[:300])


def wait_for(pred, timeout, interval=0.1):
    """Poll `pred` until it returns a true value or `timeout` passes; returns (value, seconds)."""
    t0 = now()
    while True:
        v = pred()
        if v or now() - t0 > timeout:
            return v, now() - t0
        time.sleep(interval)


def wait_build_state(daemon, bid, pred, timeout):
    """Poll `jobctl build` until pred(build) holds. Returns (build or last seen, seconds, error)."""
    return poll_daemon(daemon, lambda: daemon.build(bid), pred, timeout, 0.2)


def check_daemon_reports(c, daemon, when):
    """Alive, and `jobctl status` answers: exit 0, or exit 1 with the daemon's own report (it
    says exit 1 while its storage is unavailable); not a timeout, not 69 (unreachable)."""
    alive = check_alive(c, daemon, "daemon process alive %s" % when)
    rc, out, err, secs = daemon.jobctl(["status"], timeout=15)
    answered = rc == 0 or (rc == 1 and out.startswith("jobcontrold "))
    storage = [l.strip() for l in out.splitlines() if "UNAVAILABLE" in l or "storage" in l.lower()]
    c.check(answered, "`jobctl status` answers %s: %s in %.2f s%s"
            % (when, describe_rc(rc), secs, "" if answered else ": " + (err or out).strip()[:300]))
    if rc != 0 and storage:
        c.info("`jobctl status` %s says: %s" % (when, " / ".join(storage)[:400]))
    return alive and answered


def exc_summary(b):
    exc = (b or {}).get("exception")
    if not exc:
        return "no exception"
    if isinstance(exc, dict):
        return "%s: %s" % (exc.get("type"), str(exc.get("message"))[:200])
    return str(exc)[:200]


# ---------------------------------------------------------------------------------------------
# Raw Varlink

def varlink_call(path, method, parameters=None, timeout=5.0):
    """One call on a new connection; returns (reply dict or None, seconds, error text)."""
    t0 = now()
    msg = {"method": method}
    if parameters is not None:
        msg["parameters"] = parameters
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(json.dumps(msg).encode() + b"\0")
        buf = b""
        while b"\0" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                return None, now() - t0, "closed without a reply"
            buf += chunk
        return json.loads(buf.split(b"\0", 1)[0]), now() - t0, None
    except (OSError, ValueError) as e:
        return None, now() - t0, "%s: %s" % (type(e).__name__, e)
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# second-daemon

def scenario_second_daemon(c, args, workdir):
    daemon = SqliteDaemon(args, workdir, "workers: 2\njobs:\n"
                          "  - {id: sleeper, command: 'sleep 300'}\n"
                          "  - {id: hello, command: 'echo hello'}\n", name="daemon-a")
    try:
        daemon.start()
        c.info("daemon A pid %d on %s" % (daemon.pid, daemon.db))
        bid, err = daemon.queue("sleeper")
        if bid is None:
            c.bad("`jobctl run sleeper` refused: %s" % err)
            return
        b, secs, err = wait_build_state(daemon, bid, lambda b: b.get("state") == "RUNNING", 10)
        if not c.check(b is not None and b.get("state") == "RUNNING",
                       "build %s RUNNING after %.1f s (%s)"
                       % (bid, secs, (b or {}).get("state") or err)):
            return
        pids, secs = wait_for(lambda: build_pids(daemon.socket, bid), 10)
        if not c.check(bool(pids), "build %s has live processes: %s" % (
                bid, ", ".join("%d (%s)" % (p, cmdline(p)) for p in pids) or "none")):
            return

        # daemon B: same database file, its own socket and log
        b_sock = os.path.join(workdir, "b.sock")
        b_out, b_err = os.path.join(workdir, "daemon-b.out"), os.path.join(workdir, "daemon-b.err")
        with open(b_out, "w") as fo, open(b_err, "w") as fe:
            rc_b, secs_b = run_to_exit(daemon.argv(socket_path=b_sock), fo, fe, 10)
        with open(b_err, errors="replace") as f:
            err_text = f.read()
        with open(b_out, errors="replace") as f:
            out_text = f.read()
        c.check(rc_b == EX_IOERR, "daemon B exits with status %d within 10 s: %s after %.2f s"
                % (EX_IOERR, describe_rc(rc_b), secs_b))
        named = re.search(r"\b%d\b" % daemon.pid, err_text) is not None
        c.check(named, "daemon B's stderr names daemon A's pid %d: %r"
                % (daemon.pid, err_text.strip()[:300]))
        if out_text.strip():
            c.info("daemon B's stdout: %r" % out_text.strip()[:300])
        c.info("daemon B's socket %s %s" % (b_sock, "exists" if os.path.exists(b_sock)
                                            else "was not left behind"))

        # A and its build are untouched
        b, err = daemon.build(bid)
        c.check(b is not None and b.get("state") == "RUNNING" and not b.get("finished"),
                "daemon A's build %s still RUNNING after B: %s"
                % (bid, (b.get("state") + ", " + exc_summary(b)) if b else err))
        alive_pids = [p for p in pids if pid_alive(p)]
        c.check(alive_pids == pids, "build %s's processes still alive: %s of %s"
                % (bid, alive_pids, pids))
        check_daemon_answers(c, daemon, "(daemon A) after daemon B")
        st, err = daemon.status_json()
        if st is not None:
            c.check(st.get("pid") == daemon.pid, "`jobctl status` is daemon A's (pid %s)"
                    % st.get("pid"))

        # cancel
        rc, out, err, secs = daemon.jobctl(["cancel", str(bid)])
        c.check(rc == 0, "`jobctl cancel %s`: %s: %s" % (bid, describe_rc(rc), (out + err).strip()[:200]))
        b, secs, err = wait_build_state(daemon, bid, lambda b: b.get("finished"), 15)
        c.check(b is not None and b.get("state") == "FAILED" and
                (b.get("exception") or {}).get("type") == "Cancelled",
                "build %s ended FAILED/Cancelled %.1f s after the cancel: %s, %s"
                % (bid, secs, (b or {}).get("state"), exc_summary(b) if b else err))
        left, secs = wait_for(lambda: not [p for p in pids if pid_alive(p)], 10)
        c.check(left, "build %s's processes gone after the cancel (%.1f s)%s"
                % (bid, secs, "" if left else ": %s" % [p for p in pids if pid_alive(p)]))
    finally:
        close_daemon(c, daemon)


# ---------------------------------------------------------------------------------------------
# disk-full

def flood_command(lines):
    return ('i=0; while [ $i -lt %d ]; do echo "line $i padding padding padding padding"; '
            'i=$((i+1)); done' % lines)


def job_pids(socket_path, job):
    """Live processes of any build of `job` of the daemon at `socket_path`."""
    return pids_with_env(socket_path, b"JOBCONTROL_JOB_ID=" + job.encode())


def run_wait_watching(daemon, job, timeout, grace):
    """`jobctl run JOB --wait`, bounded by `timeout`, and by `grace` seconds once the build's
    command has ended (its processes gone): a build whose end is not recorded by then is stuck.
    Returns (rc or None, output, seconds, why it was stopped or None, seconds since the command
    ended or None)."""
    argv = [daemon.args.jobctl, "--socket", daemon.socket, "run", job, "--wait"]
    t0 = now()
    p = start_process(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT, text=True, errors="replace", env=clean_env(),
                      start_new_session=True)
    seen, ended, why = False, None, None
    out = ""
    try:
        while True:
            try:
                out, _ = p.communicate(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                pass
            if job_pids(daemon.socket, job):
                seen, ended = True, None
            elif seen and ended is None:
                ended = now()
            if ended is not None and now() - ended > grace:
                why = "the command ended %.0f s ago" % (now() - ended)
            elif now() - t0 > timeout:
                why = "%.0f s passed" % timeout
            if why:
                kill_group(p)
                out, _ = p.communicate()
                break
    finally:
        kill_group_if_running(p)
        forget(p)
    return (None if why else p.returncode), out, now() - t0, why, (
        now() - ended if ended is not None else None)


def processes_in_ns(ns):
    return [p for p in all_pids() if mount_ns(p) == ns]


def small_job(c, daemon):
    """`echo hi` on the full disk: it succeeds or fails clearly (INFO which); a hang is BAD."""
    rc, out, secs, why, _ = run_wait_watching(daemon, "small", SMALL_WAIT, SMALL_WAIT)
    text = out.strip().replace("\n", " / ")[:400]
    if rc == 0:
        c.info("small job `echo hi` afterwards SUCCEEDED in %.1f s: %s" % (secs, text))
    elif rc == 1:
        c.info("small job `echo hi` afterwards FAILED clearly (exit 1) in %.1f s: %s" % (secs, text))
    else:
        c.bad("small job `echo hi` afterwards neither succeeds nor fails clearly: `jobctl run "
              "small --wait` %s after %.1f s%s" % (describe_rc(rc) if why is None else "stopped",
                                                   secs, text and ": " + text))
    sb, err = daemon.jobctl_json(["builds", "small", "--limit", "10"])
    if sb:
        small = sb[0]
        slogs, _ = daemon.jobctl_json(["logs", str(small["id"])])
        c.info("small build %s: %s, %s, log %s" % (
            small["id"], small.get("state"), exc_summary(small),
            [r.get("message") for r in (slogs or [])][:5]))
    else:
        c.info("no small build listed%s" % (": " + err if err else ""))
    check_daemon_reports(c, daemon, "after the small job")


def scenario_disk_full(c, args, workdir):
    lines = args.flood_lines
    mnt = os.path.join(workdir, "tmpfs")
    os.makedirs(mnt)
    db = os.path.join(mnt, "jobcontrol.sqlite3")
    config = ("workers: 2\njobs:\n  - id: flood\n    command: '%s'\n"
              "  - {id: small, command: 'echo hi'}\n" % flood_command(lines))
    # The daemon itself runs in the private mount namespace; only it (and its builds) see the
    # tmpfs, which goes away with the namespace's last process.
    wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs -o size=%s tmpfs "$1" && shift && exec "$@"' % TMPFS_SIZE,
            "sh", mnt]
    daemon = SqliteDaemon(args, workdir, config, db_path=db, wrap=wrap,
                          env={"JOBCONTROL_WRITE_HOLD_SECONDS": WRITE_HOLD_SECONDS})
    ns = None
    try:
        daemon.start()
        ns = mount_ns(daemon.pid)
        own = mount_ns(os.getpid())
        c.check(ns is not None and ns != own, "daemon (pid %d, %s) in its own mount namespace %s"
                % (daemon.pid, cmdline(daemon.pid)[:80], ns))
        try:
            with open("/proc/%d/mountinfo" % daemon.pid) as f:
                mounted = any(l.split()[4] == mnt and " tmpfs " in l for l in f)
        except OSError:
            mounted = False
        c.check(mounted, "tmpfs (size=%s) mounted on %s in the daemon's namespace" % (TMPFS_SIZE, mnt))
        with open("/proc/self/mountinfo") as f:
            c.check(not any(l.split()[4] == mnt for l in f),
                    "the tmpfs is not visible in this script's namespace")

        def fs_usage():
            try:
                st = os.statvfs("/proc/%d/root%s" % (daemon.pid, mnt))
                total = st.f_blocks * st.f_frsize
                free = st.f_bavail * st.f_frsize
                return "%.2f of %.2f MB used" % ((total - free) / 1e6, total / 1e6)
            except OSError as e:
                return "(statvfs: %s)" % e
        c.info("tmpfs before the flood: %s" % fs_usage())

        rc, out, secs, why, since_end = run_wait_watching(daemon, "flood", FLOOD_WAIT, STUCK_GRACE)
        c.info("`jobctl run flood --wait` (%d lines): %s in %.1f s%s: %s"
               % (lines, describe_rc(rc), secs, " (stopped: %s)" % why if why else "",
                  out.strip().replace("\n", " / ")[:500]))
        c.check(rc is not None, "`jobctl run flood --wait` returns within %d s, and within %d s of "
                "the command's end (%s%s)" % (FLOOD_WAIT, STUCK_GRACE, describe_rc(rc),
                                              ": " + why if why else ""))
        c.info("tmpfs after the flood: %s" % fs_usage())
        builds, err = daemon.jobctl_json(["builds", "flood", "--limit", "1000"])
        if not builds:
            c.bad("no flood build listed: %s" % err)
            return
        bid = builds[0]["id"]
        b, secs2, err = wait_build_state(daemon, bid, lambda b: b.get("finished"), 2)
        if not c.check(b is not None and b.get("finished"),
                       "flood build %s finished: %s%s" % (
                           bid, (b or {}).get("state") or err,
                           "" if since_end is None else ", %.0f s after its command ended" % since_end)):
            check_daemon_reports(c, daemon, "with the flood build unfinished")
            small_job(c, daemon)
            return
        logs, err = daemon.jobctl_json(["logs", str(bid)], timeout=60)
        if logs is None:
            c.bad("`jobctl logs %s` failed: %s" % (bid, err))
            return
        stdout = [r.get("message") for r in logs if r.get("logger") == "stdout"]
        others = [r for r in logs if r.get("logger") != "stdout"]
        nums = []
        unexpected = 0
        for m in stdout:
            mm = re.fullmatch(r"line (\d+) padding padding padding padding", m or "")
            if mm:
                nums.append(int(mm.group(1)))
            else:
                unexpected += 1
        distinct = len(set(nums))
        complete = nums == list(range(lines))
        state = b.get("state")
        exc = b.get("exception") if isinstance(b.get("exception"), dict) else None
        c.info("flood build %s: %s, %s; %d stdout lines stored (%d distinct, %d unexpected), "
               "%d other log records" % (bid, state, exc_summary(b), len(stdout), distinct,
                                         unexpected, len(others)))
        for r in others[:3]:
            c.info("  other record: %s %s: %s" % (r.get("level_name"), r.get("logger"),
                                                  str(r.get("message"))[:200]))
        if complete:
            c.ok("the log holds every line 0..%d in order (build %s)" % (lines - 1, state))
        elif state == "SUCCESSFUL":
            c.bad("build %s ended plain SUCCESSFUL with a hole in its log: %d of %d lines stored"
                  % (bid, len(stdout), lines))
        elif state == "FAILED" and exc and exc.get("type") == "LogLinesLost":
            details = exc.get("details") if isinstance(exc.get("details"), dict) else {}
            lost = exc.get("log_lines_lost", details.get("log_lines_lost"))
            c.check(isinstance(lost, int) and lost > 0,
                    "FAILED with LogLinesLost, log_lines_lost = %r > 0" % lost)
            if isinstance(lost, int):
                c.check(len(stdout) + lost == lines,
                        "stored %d + lost %d = %d (expected %d)"
                        % (len(stdout), lost, len(stdout) + lost, lines))
            c.check(distinct == len(stdout) and unexpected == 0,
                    "the stored lines are distinct lines of the flood (%d duplicates, %d unexpected)"
                    % (len(stdout) - distinct - unexpected, unexpected))
        else:
            c.bad("build %s ended %s (%s) with %d of %d lines stored: neither a complete log "
                  "nor LogLinesLost" % (bid, state, exc_summary(b), len(stdout), lines))

        check_daemon_reports(c, daemon, "after the flood")
        small_job(c, daemon)
    finally:
        close_daemon(c, daemon)
        if ns is not None:
            left = processes_in_ns(ns)
            for p in left:
                c.info("killing leftover process %d in the daemon's namespace: %s" % (p, cmdline(p)))
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            gone, _ = wait_for(lambda: not processes_in_ns(ns), 10)
            c.check(gone, "no process left in the daemon's mount namespace (the tmpfs is gone)%s"
                    % ("" if gone else ": %s" % processes_in_ns(ns)))


# ---------------------------------------------------------------------------------------------
# socket-flood

# Runs as nobody (python3 -c HELPER SOCKET); one JSON command a line on stdin, one JSON reply a
# line on stdout.
HELPER = r'''
import json, os, resource, select, socket, sys, time
try:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
except Exception:
    pass
path = sys.argv[1]
conns = []
closed = set()
def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
def bump(d, k):
    d[k] = d.get(k, 0) + 1
for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    if op == "open":
        errors = {}
        backlog_full = 0
        for i in range(cmd["n"]):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            deadline = time.monotonic() + 5
            while True:
                try:
                    s.connect(path)
                    conns.append(s)
                    break
                except BlockingIOError:
                    # the listen backlog is full: a non-blocking AF_UNIX connect says EAGAIN
                    backlog_full += 1
                    if time.monotonic() < deadline:
                        time.sleep(0.002)
                        continue
                    bump(errors, "connect: backlog still full after 5 s")
                except OSError as e:
                    bump(errors, "%s: %s" % (type(e).__name__, e))
                s.close()
                break
        reply({"opened": len(conns), "errors": errors, "uid": os.getuid(),
               "backlog_full": backlog_full,
               "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE))})
    elif op == "status":
        msg = b'{"method":"io.jobcontrol.Manager.Status"}\0'
        res = {"ok": 0, "too_many": 0, "other": {}, "eof": 0, "no_reply": 0, "send_errors": {},
               "too_many_sample": None}
        pending = {}
        poller = select.poll()
        for s in conns[:len(conns) - cmd.get("silent", 0)]:
            if s.fileno() in closed:
                continue
            try:
                s.send(msg)
            except OSError as e:
                # a connection refused at once: the daemon wrote why before closing it, so
                # read it anyway (as jobctl does)
                bump(res["send_errors"], type(e).__name__)
            pending[s.fileno()] = [s, b""]
            poller.register(s.fileno(), select.POLLIN)
        deadline = time.monotonic() + cmd.get("timeout", 10)
        while pending and time.monotonic() < deadline:
            for fd, ev in poller.poll(200):
                s, buf = pending[fd]
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    data = b""
                if not data:
                    res["eof"] += 1
                    poller.unregister(fd)
                    del pending[fd]
                    continue
                buf += data
                if b"\0" not in buf:
                    pending[fd][1] = buf
                    continue
                poller.unregister(fd)
                del pending[fd]
                try:
                    m = json.loads(buf.split(b"\0", 1)[0])
                except ValueError:
                    bump(res["other"], "bad JSON")
                    continue
                e = m.get("error")
                if e is None:
                    res["ok"] += 1
                elif e.endswith(".TooManyConnections"):
                    res["too_many"] += 1
                    if res["too_many_sample"] is None:
                        res["too_many_sample"] = m
                else:
                    bump(res["other"], e)
        res["no_reply"] = len(pending)
        reply(res)
    elif op == "count":
        n_open = unexpected = 0
        for s in conns:
            fd = s.fileno()
            if fd in closed:
                continue
            try:
                data = s.recv(65536)
            except BlockingIOError:
                n_open += 1
                continue
            except OSError:
                data = b""
            if data:
                unexpected += 1
                n_open += 1
            else:
                closed.add(fd)
        reply({"open": n_open, "closed": len(closed), "unexpected_data": unexpected})
    elif op == "close":
        for s in conns:
            s.close()
        reply({"closed": len(conns)})
        conns = []
'''


class Helper:
    def __init__(self, argv, errpath):
        self.errf = open(errpath, "w")
        self.proc = start_process(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.errf, cwd="/", start_new_session=True)
        self.errpath = errpath

    def call(self, obj, timeout):
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            raise RuntimeError("helper did not answer %s within %.0f s" % (obj.get("op"), timeout))
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("helper exited (%s): %s" % (describe_rc(self.proc.poll()),
                                                            tail(self.errpath, 10, width=400)))
        return json.loads(line)

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        end_process(self.proc)
        self.errf.close()


def traversable_by_others(path):
    path = os.path.abspath(path)
    while True:
        try:
            if not os.stat(path).st_mode & 0o001:
                return False
        except OSError:
            return False
        if path == "/":
            return True
        path = os.path.dirname(path)


def scenario_socket_flood(c, args, workdir):
    sockdir = os.path.join(workdir, "sock")
    tmp_sockdir = None
    if not traversable_by_others(workdir):
        tmp_sockdir = sockdir = tempfile.mkdtemp(prefix="local-faults-sock-", dir="/tmp")
        c.info("the workdir is not reachable for nobody: socket in %s" % sockdir)
    else:
        os.makedirs(sockdir)
    os.chmod(sockdir, 0o755)
    sock = os.path.join(sockdir, "jc.sock")
    daemon = SqliteDaemon(args, workdir, "workers: 2\njobs:\n"
                          "  - {id: hello, command: 'jobctl log hello'}\n", socket_path=sock)
    helper = None
    try:
        daemon.start()
        mode = os.stat(sock).st_mode & 0o777
        with open("/proc/%d/limits" % daemon.pid) as f:
            nofile = f.read().split("Max open files")[1].split()[:2]
        c.info("daemon pid %d; socket created with mode %o, RLIMIT_NOFILE %s"
               % (daemon.pid, mode, nofile))
        os.chmod(sock, 0o666)
        # the baseline: once the readiness probes' connections are gone (the same count 3 times
        # in a row, 0.1 s apart)
        samples = []

        def steady():
            samples.append(socket_fds(daemon.pid))
            return len(samples) >= 3 and len(set(samples[-3:])) == 1
        wait_for(steady, 5, 0.1)
        baseline = samples[-1]
        c.info("daemon socket descriptors at baseline: %s" % baseline)

        helper = Helper(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                         "/usr/bin/python3", "-c", HELPER, sock],
                        os.path.join(workdir, "helper.err"))
        t_open = now()
        r = helper.call({"op": "open", "n": FLOOD_CONNECTIONS}, timeout=60)
        c.info("nobody (uid %s, RLIMIT_NOFILE %s) opened %d connections in %.2f s (listen "
               "backlog full %d times)%s"
               % (r.get("uid"), r.get("nofile"), r["opened"], now() - t_open, r["backlog_full"],
                  "; errors: %s" % r["errors"] if r["errors"] else ""))
        c.check(r["opened"] == FLOOD_CONNECTIONS, "all %d connections of nobody accepted (%d)"
                % (FLOOD_CONNECTIONS, r["opened"]))
        opened = r["opened"]
        # the daemon keeps at most twice the per-user share of one user's connections (the rest
        # are told why and closed at once)
        held = min(opened, 2 * PER_USER_LIMIT)
        fds, secs = wait_for(lambda: (lambda n: n if n and n >= baseline + held else None)(
            socket_fds(daemon.pid)), 5, 0.1)
        c.info("daemon socket descriptors with them open: %s (%.1f s after the last connect)"
               % (socket_fds(daemon.pid), secs))

        rc, out, err, secs = daemon.jobctl(["status"], timeout=10)
        c.check(rc == 0 and secs <= 2.0, "root `jobctl status` while they are held: %s in %.2f s%s"
                % (describe_rc(rc), secs, "" if rc == 0 else ": " + (err or out).strip()[:200]))

        # the last SILENT connections (accepted long after the 64 served ones) send nothing
        calls = opened - SILENT_CONNECTIONS
        t_calls = now()
        r = helper.call({"op": "status", "timeout": 10, "silent": SILENT_CONNECTIONS}, timeout=30)
        t_replies = now()
        c.info("nobody's Status calls on %d connections (the last %d stay silent) answered in "
               "%.2f s: %d served, %d TooManyConnections, other errors %s, EOF without reply %d, "
               "no reply %d, send errors %s"
               % (calls, SILENT_CONNECTIONS, t_replies - t_calls, r["ok"], r["too_many"],
                  r["other"], r["eof"], r["no_reply"], r["send_errors"]))
        if r.get("too_many_sample"):
            c.info("a TooManyConnections reply: %s" % json.dumps(r["too_many_sample"])[:400])
        c.check(r["ok"] == PER_USER_LIMIT, "exactly %d of nobody's connections served (%d)"
                % (PER_USER_LIMIT, r["ok"]))
        c.check(r["too_many"] == calls - PER_USER_LIMIT,
                "the %d calling beyond %d get a TooManyConnections error reply (%d do)"
                % (calls - PER_USER_LIMIT, PER_USER_LIMIT, r["too_many"]))

        rc, out, err, secs = daemon.jobctl(["run", "hello", "--wait"], timeout=30)
        c.check(rc == 0, "a build calling `jobctl log hello` while they are held: %s in %.2f s: %s"
                % (describe_rc(rc), secs, (out + err).strip().replace("\n", " / ")[:300]))
        builds, err = daemon.jobctl_json(["builds", "hello", "--limit", "10"])
        if builds:
            logs, err = daemon.jobctl_json(["logs", str(builds[0]["id"])])
            msgs = [(l.get("logger"), l.get("message")) for l in (logs or [])]
            c.check(any(m == "hello" for _, m in msgs), "build %s is %s with the line 'hello' in "
                    "its log: %s" % (builds[0]["id"], builds[0].get("state"), msgs[:5] or err))
        else:
            c.bad("no hello build listed: %s" % err)
        rc, out, err, secs = daemon.jobctl(["status"], timeout=10)
        c.check(rc == 0 and secs <= 2.0, "root `jobctl status` again: %s in %.2f s"
                % (describe_rc(rc), secs))

        # the restricted ones, idle since their reply (or since they connected), are closed by
        # the daemon
        first64 = None
        counts = []
        while True:
            r = helper.call({"op": "count"}, timeout=20)
            t = now() - t_replies
            counts.append((t, r["open"]))
            if first64 is None and r["open"] <= PER_USER_LIMIT:
                first64 = t
            if t >= 15.0:
                break
            time.sleep(min(0.5, max(0.0, 15.0 - t)))
        c.info("nobody's open connections, seconds after their calls: %s" % ", ".join(
            "%.1fs %d" % tc for tc in counts[::max(1, len(counts) // 10)] + counts[-1:]))
        c.check(counts[-1][1] == PER_USER_LIMIT,
                "%d of nobody's connections remain open %.1f s after the calls, %.1f s after "
                "connecting (expected %d); down to %d %s"
                % (counts[-1][1], counts[-1][0], now() - t_open, PER_USER_LIMIT, PER_USER_LIMIT,
                   "after %.1f s" % first64 if first64 is not None else "never"))
        if r.get("unexpected_data"):
            c.info("%d connections received unexpected data" % r["unexpected_data"])

        helper.call({"op": "close"}, timeout=20)
        t_close = now()
        back, secs = wait_for(lambda: (socket_fds(daemon.pid) or 0) <= baseline, 30, 0.2)
        c.check(back, "daemon socket descriptors back to the baseline %d within 30 s: %s after %.1f s"
                % (baseline, socket_fds(daemon.pid), secs))
        check_daemon_answers(c, daemon, "after the flood")
    finally:
        if helper is not None:
            helper.close()
        close_daemon(c, daemon)
        if tmp_sockdir:
            shutil.rmtree(tmp_sockdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# big-requests

def big_call(path, payload, barrier, result):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    t0 = None
    try:
        s.connect(path)
        try:
            barrier.wait(20)
        except threading.BrokenBarrierError:
            pass
        t0 = now()
        sent = 0
        mv = memoryview(payload)
        try:
            while sent < len(payload):
                sent += s.send(mv[sent:sent + 256 * 1024])
            result["send"] = "all sent"
        except (BrokenPipeError, ConnectionResetError) as e:
            result["send"] = type(e).__name__
        except socket.timeout:
            result["send"] = "send timed out"
        result["sent"] = sent
        buf = b""
        s.settimeout(10)
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    result["closed"] = True
                    break
                buf += chunk
                if b"\0" in buf:
                    s.settimeout(5)  # the reply is there; the close should follow
        except ConnectionResetError:
            result["closed"] = True
        except socket.timeout:
            result["closed"] = False
        replies = []
        for part in buf.split(b"\0")[:-1] if b"\0" in buf else []:
            try:
                replies.append(json.loads(part))
            except ValueError:
                replies.append({"error": "(bad JSON)"})
        result["replies"] = replies
    except OSError as e:
        result["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        s.close()
        result["secs"] = now() - t0 if t0 is not None else None


def probe_process(socket_path, stop, out):
    """Status probes from a process of their own: PROBERS threads, each calling Status again
    20 ms after each answer, until `stop`; each probe's (end time, seconds, error) goes to `out`.
    Not threads of the test's process, where 40 big-call threads share one interpreter lock
    with them: their measured times would include waiting for that lock."""
    def prober():
        while not stop.is_set():
            reply, secs, err = varlink_call(socket_path, "io.jobcontrol.Manager.Status", timeout=5)
            out.put((now(), secs, err or (reply or {}).get("error")))
            time.sleep(0.02)
    threads = [threading.Thread(target=prober, daemon=True) for _ in range(PROBERS)]
    for t in threads:
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join()


def scenario_big_requests(c, args, workdir):
    daemon = SqliteDaemon(args, workdir,
                          "workers: 2\njobs:\n  - {id: hello, command: 'echo hello'}\n")
    try:
        daemon.start()
        for _ in range(5):  # warm up
            varlink_call(daemon.socket, "io.jobcontrol.Manager.Status")
        rss0 = proc_status_field(daemon.pid, "VmRSS")
        c.info("daemon pid %d VmRSS before: %.1f MB" % (daemon.pid, rss0 / 1024))
        payload = (b'{"method":"io.jobcontrol.Manager.RunJob","parameters":{"job":"'
                   + b"j" * BIG_NAME_BYTES + b'"}}\0')
        # The probes' process is forked before this one starts any thread.
        forking = multiprocessing.get_context("fork")
        stop = forking.Event()
        answers = forking.Queue()
        probing = forking.Process(target=probe_process, args=(daemon.socket, stop, answers), daemon=True)
        probing.start()
        probes = []

        def collected():
            while True:
                try:
                    probes.append(answers.get_nowait())
                except queue.Empty:
                    return len(probes)
        barrier = threading.Barrier(BIG_THREADS + 1)
        results = [dict() for _ in range(BIG_THREADS)]
        threads = [threading.Thread(target=big_call, args=(daemon.socket, payload, barrier, r),
                                    daemon=True) for r in results]
        for t in threads:
            t.start()
        try:
            barrier.wait(20)
        except threading.BrokenBarrierError:
            c.info("not every big-request thread connected within 20 s")
        t_start = now()
        hwm = rss0
        deadline = t_start + 60
        while any(t.is_alive() for t in threads) and now() < deadline:
            hwm = max(hwm, proc_status_field(daemon.pid, "VmRSS") or 0)
            time.sleep(0.05)
        t_end = now()
        for t in threads:
            t.join(max(0.1, deadline - now()))
        # at least a few probes after the flood too
        n_after = collected() + 3
        wait_for(lambda: collected() >= n_after, 10, 0.05)
        stop.set()
        probing.join(10)
        collected()
        stuck = sum(1 for t in threads if t.is_alive())
        c.check(not stuck, "all %d big calls done within 60 s (%.2f s; %d stuck)"
                % (BIG_THREADS, t_end - t_start, stuck))
        errors = collections.Counter()
        sends = collections.Counter()
        closed = collections.Counter()
        sample = None
        good = 0
        for r in results:
            sends[r.get("send", r.get("error", "?"))] += 1
            closed[{True: "closed", False: "left open", None: "?"}[r.get("closed")]] += 1
            reps = r.get("replies") or []
            e = reps[0].get("error") if reps else ("no reply" + (" (%s)" % r["error"] if "error" in r else ""))
            errors[e] += 1
            if e == "io.jobcontrol.Manager.RequestTooLarge":
                good += 1
                sample = sample or reps[0]
        sent = [r.get("sent", 0) for r in results]
        c.info("bytes sent before the daemon stopped reading: min %d, max %d of %d; send outcome: %s"
               % (min(sent), max(sent), len(payload), dict(sends)))
        c.info("connections after the reply: %s" % dict(closed))
        if sample:
            c.info("a RequestTooLarge reply: %s" % json.dumps(sample)[:300])
        c.check(good == BIG_THREADS, "each big call gets a RequestTooLarge error reply: %d of %d "
                "(replies: %s)" % (good, BIG_THREADS, dict(errors)))
        # a probe overlapping the big calls' window [t_start, t_end]
        during = [p for p in probes if p[0] - p[1] < t_end and p[0] > t_start]
        c.info("Status probes: %d in all, %d overlapping the %.2f s of the big calls; latency "
               "max %.3f s (during: max %.3f s)"
               % (len(probes), len(during), t_end - t_start, max((p[1] for p in probes), default=0),
                  max((p[1] for p in during), default=0)))
        slow = [p for p in probes if p[2] is not None or p[1] > 1.0]
        c.check(probes and not slow, "every Status probe answered within 1 s%s"
                % ("" if not slow else ": %d not: %s" % (len(slow), [
                    "%.2f s %s" % (p[1], p[2] or "") for p in slow[:5]])))
        c.check(len(during) >= 1, "at least one Status probe during the big calls (%d)" % len(during))
        rss1 = proc_status_field(daemon.pid, "VmRSS")
        settled, secs = wait_for(
            lambda: (proc_status_field(daemon.pid, "VmRSS") or 1 << 40) - rss0 <= 50 * 1024, 10, 0.5)
        rss2 = proc_status_field(daemon.pid, "VmRSS")
        c.info("VmRSS: before %.1f MB, peak sampled %.1f MB, right after %.1f MB, settled %.1f MB "
               "(VmHWM %.1f MB)" % (rss0 / 1024, hwm / 1024, rss1 / 1024, rss2 / 1024,
                                    (proc_status_field(daemon.pid, "VmHWM") or 0) / 1024))
        c.check(settled, "VmRSS within 50 MB of before: %+.1f MB (%.1f s after the calls)"
                % ((rss2 - rss0) / 1024, now() - t_end))
        check_daemon_answers(c, daemon, "after the big requests")
    finally:
        close_daemon(c, daemon)


# ---------------------------------------------------------------------------------------------
# reload-race

BASE_CONFIG = ("# local_faults reload-race\n"
               "workers: 2\n"
               "jobs:\n"
               "  - {id: alpha, command: 'echo alpha'}\n"
               "  - {id: beta, command: 'echo beta'}\n"
               "  - {id: gamma, command: 'echo gamma'}\n")


def race_config(layout):
    """The same 3 jobs, laid out so that the first half of the bytes is itself a valid
    configuration (2 jobs, beta's command cut short): the half-written file can only be kept
    out by the daemon noticing that it is being written. `mid-line`: BASE_CONFIG, whose first
    half is not valid YAML (a weaker race: only an empty read can slip through)."""
    if layout == "mid-line":
        return BASE_CONFIG
    head = ("# local_faults reload-race (race layout)\nworkers: 2\njobs:\n"
            "  - id: alpha\n    command: echo alpha\n  - id: beta\n    command: echo beta-")
    rest = "\n  - id: gamma\n    command: echo gamma\n"
    value = "x" * (len(head) + len(rest) + 20)
    text = head + value + rest
    half = len(text.encode()) // 2
    assert len(head) < half < len(head) + len(value)
    return text


def jobs_count(daemon):
    st, err = daemon.status_json()
    return (st.get("jobs") if st else None), err


def reload_lines(text):
    applied, refused = [], []
    for line in text.splitlines():
        if "configuration reloaded" in line:
            m = re.search(r"\bjobs=(\d+)", line)
            applied.append(int(m.group(1)) if m else None)
        elif "configuration reload failed" in line:
            m = re.search(r"errors=(.*?) \[", line)
            reason = m.group(1) if m else line
            reason = re.sub(r"^\S+?:\d+:\d+: ", "", reason)
            refused.append(re.sub(r"'[^']*'", "'…'", reason)[:90])
    return applied, refused


def scenario_reload_race(c, args, workdir):
    daemon = SqliteDaemon(args, workdir, BASE_CONFIG)
    cfg = daemon.config
    base = BASE_CONFIG.encode()

    def write(data):
        with open(cfg, "wb") as f:
            f.write(data)

    def reload_expect(label, want_ok, want_jobs):
        rc, out, err, secs = daemon.jobctl(["reload"], timeout=15)
        text = (out + err).strip().replace("\n", " / ")[:300]
        if want_ok:
            c.check(rc == 0, "%s: `jobctl reload` accepted: %s: %s" % (label, describe_rc(rc), text))
        else:
            c.check(rc is not None and rc == 1, "%s: `jobctl reload` refused with exit 1: %s: %s"
                    % (label, describe_rc(rc), text))
        n, e = jobs_count(daemon)
        c.check(n == want_jobs, "%s: `jobctl --json status` shows %s jobs (expected %d)%s"
                % (label, n, want_jobs, "" if e is None else ": " + e))

    try:
        daemon.start()
        n, _ = jobs_count(daemon)
        c.check(n == 3, "started with 3 jobs (%s)" % n)
        # (a) empty
        write(b"")
        reload_expect("(a) empty file", False, 3)
        # (b) cut mid-line
        half = len(base) // 2
        cut = base[:half]
        c.info("(b) the file cut at byte %d of %d, last line %r"
               % (half, len(base), cut.decode().rsplit("\n", 1)[-1]))
        write(cut)
        reload_expect("(b) file cut mid-line", False, 3)
        # (c) no jobs key, then jobs: []
        write(b"workers: 2\n")
        reload_expect("(c) only `workers: 2`", False, 3)
        write(b"workers: 2\njobs: []\n")
        reload_expect("(c) `jobs: []`", True, 0)
        write(base)
        reload_expect("(c) the 3-job file restored", True, 3)

        # (d) the race
        race = race_config(args.race_layout).encode()
        rhalf = len(race) // 2
        halfpath = os.path.join(workdir, "race-half.yaml")
        with open(halfpath, "wb") as f:
            f.write(race[:rhalf])
        rc, out, err, _ = run([args.jobctl, "check-config", halfpath], 30)
        c.info("(d) race layout %s: %d bytes; its first half (%d bytes, ends %r) checked "
               "alone: %s" % (args.race_layout, len(race), rhalf, race[:rhalf][-24:].decode(),
                              (out + err).strip()[:200]))
        write(race)
        reload_expect("(d) race layout before the race", True, 3)
        offset = daemon.log_size()
        writes = [0]
        hups = [0]
        jobctl_rcs = collections.Counter()
        jobctl_counts = collections.Counter()
        jobctl_bad = []
        errors = []
        # the three loops run side by side for about 2 s: a rewrite every ~11 ms (the file is
        # half-written ~10 % of the time), a SIGHUP every 22 ms, `jobctl reload` from 2 threads
        spacing = 0.01

        def writer():
            try:
                for _ in range(RACE_ROUNDS):
                    f = open(cfg, "wb")
                    try:
                        f.write(race[:rhalf])
                        f.flush()
                        time.sleep(0.001)
                        f.write(race[rhalf:])
                    finally:
                        f.close()
                    writes[0] += 1
                    time.sleep(spacing)
            except Exception as e:
                errors.append("writer: %s" % e)

        def hupper():
            try:
                for _ in range(RACE_ROUNDS // 2):
                    os.kill(daemon.pid, signal.SIGHUP)
                    hups[0] += 1
                    time.sleep(0.022)
            except Exception as e:
                errors.append("SIGHUP: %s" % e)

        tally_lock = threading.Lock()

        def reloader(count):
            try:
                for _ in range(count):
                    rc, out, err, secs = daemon.jobctl(["reload"], timeout=15)
                    m = re.search(r"reloaded: (\d+) jobs", out)
                    with tally_lock:
                        jobctl_rcs[describe_rc(rc)] += 1
                        if rc == 0:
                            jobctl_counts[int(m.group(1)) if m else None] += 1
                        elif rc != 1:
                            jobctl_bad.append("%s: %s" % (describe_rc(rc), (out + err).strip()[:200]))
            except Exception as e:
                errors.append("jobctl reload: %s" % e)

        t0 = now()
        n_jobctl = RACE_ROUNDS - RACE_ROUNDS // 2
        threads = [threading.Thread(target=writer, daemon=True),
                   threading.Thread(target=hupper, daemon=True),
                   threading.Thread(target=reloader, args=(n_jobctl // 2,), daemon=True),
                   threading.Thread(target=reloader, args=(n_jobctl - n_jobctl // 2,), daemon=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.1, 90 - (now() - t0)))
        race_secs = now() - t0
        c.check(not any(t.is_alive() for t in threads) and not errors,
                "race done in %.1f s: %d rewrites, %d SIGHUPs, %d `jobctl reload`%s"
                % (race_secs, writes[0], hups[0], sum(jobctl_rcs.values()),
                   "" if not errors else "; errors: %s" % errors))
        # the SIGHUP reloads are asynchronous: wait until the log stops growing (bounded)
        last = [None, now()]

        def settled():
            a, r = reload_lines(daemon.log_text(offset))
            k = len(a) + len(r)
            if k != last[0]:
                last[0], last[1] = k, now()
            return now() - last[1] >= 1.5
        wait_for(settled, 15, 0.2)
        applied, refused = reload_lines(daemon.log_text(offset))
        c.info("`jobctl reload` exit statuses: %s; job counts it printed when accepted: %s"
               % (dict(jobctl_rcs), dict(jobctl_counts)))
        c.check(not jobctl_bad, "every `jobctl reload` exits 0 or 1%s"
                % ("" if not jobctl_bad else ": %s" % jobctl_bad[:3]))
        c.info("daemon log: %d reloads applied (jobs=%s), %d refused, of %d requested"
               % (len(applied), dict(collections.Counter(applied)), len(refused), RACE_ROUNDS))
        for reason, k in collections.Counter(refused).most_common(6):
            c.info("  refused %dx: %s" % (k, reason))
        check_alive(c, daemon, "daemon alive after the race")
        n, e = jobs_count(daemon)
        c.check(n == 3, "`jobctl --json status` shows %s jobs after the race (expected 3)%s"
                % (n, "" if e is None else ": " + e))
        if n is not None and n != 3:
            jobs, _ = daemon.jobctl_json(["jobs"])
            c.info("the jobs in force: %s" % "; ".join(
                "%s: %s" % (j.get("id"), " ".join(map(str, j.get("args") or []))[:60])
                for j in jobs or []))
        fewer = [a for a in applied if a is None or a < 3]
        c.check(applied or refused, "reload lines found in the daemon log")
        c.check(not fewer, "no reload applied fewer than 3 jobs: %d applied, %d of them with "
                "fewer (jobs=%s)" % (len(applied), len(fewer), sorted(collections.Counter(fewer).items())))
        printed_fewer = sum(k for j, k in jobctl_counts.items() if j is None or j < 3)
        c.check(not printed_fewer, "no `jobctl reload` reported fewer than 3 jobs (%d did)" % printed_fewer)
        if fewer:
            bad = [l for l in daemon.log_text(offset).splitlines()
                   if "configuration reloaded" in l and "jobs=3" not in l]
            c.info("daemon log lines of those reloads:\n%s"
                   % "\n".join("    | " + l[:300] for l in bad[:5]))
            # put the full configuration back in force (so the next checks start from 3 jobs)
            rc, out, err, _ = daemon.jobctl(["reload"])
            c.info("a final `jobctl reload` of the complete file: %s: %s"
                   % (describe_rc(rc), (out + err).strip()[:200]))
        check_daemon_answers(c, daemon, "after the race")
    finally:
        close_daemon(c, daemon)


# ---------------------------------------------------------------------------------------------

SCENARIOS = {
    "second-daemon": scenario_second_daemon,
    "disk-full": scenario_disk_full,
    "socket-flood": scenario_socket_flood,
    "big-requests": scenario_big_requests,
    "reload-race": scenario_reload_race,
}


def main():
    ap = argument_parser(__doc__)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--scenario", action="append", choices=ALL_SCENARIOS,
                    help="repeatable; default: all")
    ap.add_argument("--flood-lines", type=int, default=DEFAULT_FLOOD_LINES,
                    help="lines the disk-full build prints (default %d)" % DEFAULT_FLOOD_LINES)
    ap.add_argument("--race-layout", choices=["half-valid", "mid-line"], default="half-valid",
                    help="reload-race: the rewritten file's first half is a valid 2-job "
                         "configuration (default), or cut mid-line into invalid YAML")
    args = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("must run as root (mount namespaces, setpriv)")
    prepare(args)

    def run_one(name):
        return run_scenario(name, args.workdir,
                            lambda c, workdir: SCENARIOS[name](c, args, workdir))
    return run_scenarios(args.scenario or ALL_SCENARIOS, run_one, show_total=True)


if __name__ == "__main__":
    sys.exit(main())
