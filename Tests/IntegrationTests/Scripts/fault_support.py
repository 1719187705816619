"""What the fault-injection scripts beside it share (pg_faults.py, local_faults.py; standard
library only).

Every process started here is registered and ended on exit (`end_all`); SIGTERM, SIGINT and
SIGHUP raise `Terminated` so that cleanup runs. A scenario runs in a fresh work directory and
prints check lines (`ok`, `BAD`, `INFO`) and one `PASS`/`FAIL` line; `run_scenarios` prints the
final `N passed, M failed`. `Daemon` runs jobcontrold and calls jobctl against it.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time

EX_IOERR = 74


# ---------------------------------------------------------------------------------------------
# Output and time

def log(msg=""):
    """Print a line at once (the output is read while the script runs)."""
    print(msg, flush=True)


def now():
    """Monotonic seconds, for durations."""
    return time.monotonic()


def iso(ts):
    """Wall-clock seconds `ts` as HH:MM:SS.mmm (UTC)."""
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def tail(path, n=25, width=None):
    """The last `n` lines of a file, each prefixed `    | ` and cut to `width` characters
    (None: whole lines)."""
    try:
        with open(path, "r", errors="replace") as f:
            lines = f.readlines()
        return "".join("    | " + l[:width] for l in lines[-n:]).rstrip("\n")
    except OSError as e:
        return "    | (cannot read %s: %s)" % (path, e)


def describe_rc(rc):
    """A return code in words: `exit N`, `killed by SIGX`, or `timed out` (None)."""
    if rc is None:
        return "timed out"
    if rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit %d" % rc


# ---------------------------------------------------------------------------------------------
# Signals

_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Terminated(Exception):
    """The script received SIGTERM, SIGINT or SIGHUP."""


def _on_signal(signum, _frame):
    # once: the cleanup that follows (bounded) is not interrupted by a second signal
    for s in _SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    raise Terminated("signal %d" % signum)


def install_signal_handlers():
    """SIGTERM, SIGINT and SIGHUP raise Terminated (once; later ones are ignored). Every signal
    is unblocked first: the test runner starts this script from a thread that blocks them all,
    and a blocked signal's handler never runs (nor would the daemons started here stop on one)."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for s in _SIGNALS:
        signal.signal(s, _on_signal)


# ---------------------------------------------------------------------------------------------
# Processes: every process started here is registered and ended on exit.

_live = []
_live_lock = threading.Lock()


def start_process(argv, **kw):
    """subprocess.Popen(argv, **kw), registered for `end_all`; retried for 10 s while the
    binary cannot be executed (a rebuild may be replacing it)."""
    last = None
    for _ in range(20):
        try:
            p = subprocess.Popen(argv, **kw)
            with _live_lock:
                _live.append(p)
            return p
        except OSError as e:
            last = e
            time.sleep(0.5)
    raise last


def forget(p):
    """Unregister `p` (it has exited, or is no longer ours to end)."""
    with _live_lock:
        if p in _live:
            _live.remove(p)


def end_process(p, grace=10.0):
    """SIGTERM, then SIGKILL after `grace` seconds. Returns (returncode, how)."""
    if p.poll() is not None:
        forget(p)
        return p.returncode, "already exited"
    how = "SIGTERM"
    try:
        p.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        how = "SIGKILL after %.0f s" % grace
        try:
            p.kill()
        except ProcessLookupError:
            pass
        p.wait(10)
    forget(p)
    return p.returncode, how


def end_all():
    """End every registered process (on exit)."""
    with _live_lock:
        procs = list(_live)
    for p in procs:
        try:
            end_process(p)
        except Exception as e:  # keep cleaning the others
            log("  cleanup: %s" % e)


def kill_group(p):
    """SIGKILL the process group of `p`, a session leader."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass


def kill_group_if_running(p):
    """Interrupted (Terminated) while waiting for `p`, a session leader: end its group."""
    if p.poll() is None:
        kill_group(p)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            pass


def run(argv, timeout, env=None, cwd=None):
    """Run to completion. Returns (rc or None on timeout, stdout, stderr, seconds)."""
    t0 = now()
    p = start_process(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True, errors="replace", env=env, cwd=cwd,
                      start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        kill_group(p)
        out, err = p.communicate()
        rc = None
    finally:
        kill_group_if_running(p)
        forget(p)
    return rc, out, err, now() - t0


def run_to_exit(argv, stdout, stderr, timeout):
    """Start a process that should exit by itself (a daemon that must refuse to start), its
    output to the open files `stdout` and `stderr`; end it if it is still running after
    `timeout` seconds. Returns (rc or None if it had to be ended, seconds)."""
    t0 = now()
    p = start_process(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                      env=clean_env(), start_new_session=True)
    try:
        p.wait(timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        rc = None
    secs = now() - t0
    if rc is None:
        end_process(p)
    forget(p)
    return rc, secs


def clean_env(extra=None):
    """This environment without JOBCONTROL_* variables, plus `extra`."""
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("JOBCONTROL_"):
            del env[k]
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------------------------
# Checks

class Checks:
    """One scenario's check lines; `failures` collects the BAD ones."""

    def __init__(self, name):
        self.name = name
        self.failures = []

    def ok(self, what):
        log("  ok    %s" % what)

    def bad(self, what):
        log("  BAD   %s" % what)
        self.failures.append(what)

    def check(self, cond, what):
        """An `ok` line if `cond` holds, else a `BAD` one; returns `cond`."""
        (self.ok if cond else self.bad)(what)
        return cond

    def info(self, what):
        """An observation, not an assertion."""
        log("  INFO  %s" % what)


# ---------------------------------------------------------------------------------------------
# The daemon and jobctl

_WARNING = re.compile(r"\b(warning|error|critical|fatal|crash|panic)\b|Fatal error|"
                      r"Illegal instruction|Segmentation|Assertion|precondition", re.I)


def interesting_log_lines(path, limit=25, shorten=None, alike=False):
    """Warnings, errors and crash traces from a daemon's log, each passed through `shorten`.
    Consecutive repeats are collapsed (with `alike`, lines that differ only in their numbers
    count as repeats); beyond `limit` lines, the middle is left out."""
    try:
        with open(path, errors="replace") as f:
            raw = [l.rstrip("\n") for l in f if _WARNING.search(l)]
    except OSError:
        return []
    if shorten:
        raw = [shorten(l) for l in raw]
    mark = "  (x%d alike)" if alike else "  (x%d)"
    lines = []  # [line, repeats, key]
    for l in raw:
        key = re.sub(r"\d+", "N", l) if alike else l
        if lines and lines[-1][2] == key:
            lines[-1][1] += 1
        else:
            lines.append([l, 1, key])
    lines = [l if n == 1 else l + mark % n for l, n, _ in lines]
    if len(lines) > limit:
        lines = lines[:limit // 2] + ["… %d more …" % (len(lines) - limit)] + lines[-limit // 2:]
    return lines


class Daemon:
    """A jobcontrold with its configuration, socket and log in `workdir`, and jobctl against it.

    `args` holds the paths `jobcontrold` and `jobctl`; `url` is the --storage URL;
    `config_text`, unless None, is written to WORKDIR/jobcontrol.yaml; the output goes to
    WORKDIR/NAME.log; `env` is added to the daemon's environment; `wrap` is an argv prefix the
    daemon's argv is appended to (it must exec it)."""

    tail_width = None  # log tails cut their lines to this many characters (None: whole lines)

    def __init__(self, args, workdir, url, config_text, name="daemon", socket_path=None,
                 env=None, wrap=None):
        self.args = args
        self.workdir = workdir
        self.url = url
        self.config = os.path.join(workdir, "jobcontrol.yaml")
        if config_text is not None:
            with open(self.config, "w") as f:
                f.write(config_text)
        self.socket = socket_path or os.path.join(workdir, "jc.sock")
        self.logpath = os.path.join(workdir, "%s.log" % name)
        self.env = env
        self.wrap = wrap
        self.proc = None
        self.logf = None

    @property
    def pid(self):
        return self.proc.pid

    def argv(self, socket_path=None, url=None):
        """jobcontrold's command line (another socket or storage: a second daemon's)."""
        return [self.args.jobcontrold, "--config", self.config, "--storage", url or self.url,
                "--socket", socket_path or self.socket, "--log-target", "console"]

    def start(self, ready_timeout=30.0):
        """Start it and wait until `jobctl status` succeeds; RuntimeError (with the log's
        tail) if it exits or is not ready within `ready_timeout` seconds."""
        self.logf = open(self.logpath, "a")
        self.logf.write("=== %s start\n" % iso(time.time()))
        self.logf.flush()
        self.proc = start_process(
            (self.wrap or []) + self.argv(),
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT,
            env=clean_env(self.env), start_new_session=True)
        deadline = now() + ready_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("jobcontrold exited during start (%s):\n%s"
                                   % (describe_rc(self.proc.returncode), self.tail()))
            rc, _, _, _ = self.jobctl(["status"], timeout=5)
            if rc == 0:
                return
            if now() > deadline:
                raise RuntimeError("jobcontrold not ready within %.0f s:\n%s"
                                   % (ready_timeout, self.tail()))
            time.sleep(0.1)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM (SIGKILL after 10 s). Returns (returncode, how)."""
        if self.proc is None:
            return None, "not started"
        rc, how = end_process(self.proc)
        if self.logf:
            self.logf.close()
            self.logf = None
        return rc, how

    def tail(self, n=25):
        """The last `n` lines of its log, for a message."""
        return tail(self.logpath, n, self.tail_width)

    def warning_lines(self):
        """The warnings and errors of its log that `show_log_lines` prints."""
        return interesting_log_lines(self.logpath)

    def log_size(self):
        try:
            return os.path.getsize(self.logpath)
        except OSError:
            return 0

    def log_text(self, offset=0):
        """Its log from byte `offset` on."""
        try:
            with open(self.logpath, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def jobctl(self, argv, timeout=15, json_out=False):
        """Run `jobctl ARGV` against it. Returns run()'s (rc, stdout, stderr, seconds)."""
        full = [self.args.jobctl, "--socket", self.socket] + (["--json"] if json_out else []) + argv
        return run(full, timeout, env=clean_env())

    def jobctl_json(self, argv, timeout=15):
        """`jobctl --json ARGV`. Returns (decoded reply, None) or (None, error text)."""
        rc, out, err, _ = self.jobctl(argv, timeout=timeout, json_out=True)
        if rc != 0:
            return None, "%s: %s" % (describe_rc(rc), (err or out).strip()[:300])
        try:
            return json.loads(out), None
        except ValueError as e:
            return None, "bad JSON (%s): %s" % (e, out[:200])

    def build(self, bid):
        return self.jobctl_json(["build", str(bid)])

    def builds(self):
        return self.jobctl_json(["builds", "--limit", "1000"])

    def queue(self, job):
        """`jobctl run JOB`. Returns (build id, None) or (None, error text)."""
        b, err = self.jobctl_json(["run", job])
        if b is None:
            return None, err
        return b.get("id"), None

    def status_json(self, timeout=15):
        return self.jobctl_json(["status"], timeout=timeout)


def poll_daemon(daemon, fetch, pred, timeout, interval):
    """Call fetch() -> (value, error) every `interval` seconds until pred(value) holds, the
    daemon exits or `timeout` passes. Returns (the value, or the last one fetched or None;
    seconds; the last error or None)."""
    t0 = now()
    last = None
    while True:
        value, err = fetch()
        if value is not None:
            last = value
            if pred(value):
                return value, now() - t0, None
        if not daemon.alive() or now() - t0 > timeout:
            return last, now() - t0, err
        time.sleep(interval)


def check_alive(c, daemon, what):
    """Check that the daemon is running (BAD with its exit otherwise); returns whether it is."""
    alive = daemon.alive()
    c.check(alive, what + ("" if alive else " (%s)" % describe_rc(daemon.proc.returncode)))
    return alive


def check_daemon_answers(c, daemon, when, digits=2):
    """Alive, and `jobctl status` exits 0 (its time shown with `digits` decimals)."""
    alive = check_alive(c, daemon, "daemon process alive %s" % when)
    rc, out, err, secs = daemon.jobctl(["status"], timeout=15)
    c.check(rc == 0, "`jobctl status` %s: %s in %.*f s%s"
            % (when, describe_rc(rc), digits, secs,
               "" if rc == 0 else ": " + (err or out).strip()[:300]))
    return alive and rc == 0


def show_log_lines(c, daemon):
    """INFO: the warnings and errors of the daemon's log, if any."""
    lines = daemon.warning_lines()
    if lines:
        c.info("daemon log warnings/errors (%s):\n%s"
               % (daemon.logpath, "\n".join("    | " + l for l in lines)))


def stop_daemon(c, daemon):
    """Stop the daemon if it was started: INFO how it ended, and its log's tail unless exit 0."""
    if daemon.proc is None:
        return
    was_alive = daemon.alive()
    rc, how = daemon.stop()
    if was_alive:
        c.info("daemon stopped by %s: %s" % (how, describe_rc(rc)))
    else:
        c.info("daemon had already exited: %s" % describe_rc(rc))
    if rc is not None and rc != 0:
        c.info("daemon log tail:\n%s" % daemon.tail())


def close_daemon(c, daemon):
    """At a scenario's end: its log's warnings (if it was started), then stop it."""
    if daemon.proc is not None:
        show_log_lines(c, daemon)
    stop_daemon(c, daemon)


# ---------------------------------------------------------------------------------------------
# Scenarios and the command line

def run_scenario(name, root, body, cleanup=None, where="logs in %s"):
    """Run body(c, workdir) in a fresh ROOT/NAME, then cleanup(c); an exception other than
    Terminated is a BAD line. Prints `== NAME` first and the PASS or FAIL line last (`where`
    % workdir says where the logs are); returns whether every check passed."""
    c = Checks(name)
    log("== %s" % name)
    t0 = now()
    workdir = os.path.join(os.path.abspath(root), name)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    try:
        body(c, workdir)
    except Terminated:
        raise
    except Exception as e:
        c.bad("scenario aborted: %s: %s" % (type(e).__name__, e))
    finally:
        if cleanup is not None:
            cleanup(c)
    secs = now() - t0
    if c.failures:
        log("FAIL %s %s (%.0f s; %s)" % (name, "; ".join(c.failures)[:1500], secs,
                                          where % workdir))
        return False
    log("PASS %s all checks passed (%.0f s)" % (name, secs))
    return True


def run_scenarios(names, run_one, at_exit=None, show_total=False):
    """run_one(name) -> passed, for each name; a signal stops the run (one more failure). Then
    every process left is ended, at_exit() runs, and `N passed, M failed` is printed (after
    `total S s` with `show_total`). Returns the exit status: 1 if anything failed."""
    passed = failed = 0
    t0 = now()
    try:
        for name in names:
            if run_one(name):
                passed += 1
            else:
                failed += 1
    except Terminated as e:
        log("interrupted (%s)" % e)
        failed += 1
    finally:
        end_all()
        if at_exit is not None:
            at_exit()
    if show_total:
        log("total %.0f s" % (now() - t0))
    log("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def argument_parser(doc):
    """A parser described by the first paragraph of `doc`, with --jobcontrold and --jobctl."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobcontrold", required=True)
    ap.add_argument("--jobctl", required=True)
    return ap


def prepare(args):
    """After parsing: absolute binary paths, the work directory made, signal handlers set."""
    args.jobcontrold = os.path.abspath(args.jobcontrold)
    args.jobctl = os.path.abspath(args.jobctl)
    os.makedirs(args.workdir, exist_ok=True)
    install_signal_handlers()
