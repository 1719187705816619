#!/usr/bin/env python3
"""Fault injection against jobcontrold on PostgreSQL (standard library only).

    pg_faults.py --jobcontrold PATH --jobctl PATH --pgdir PGSANDBOX_DIR \
        --url postgresql://postgres@127.0.0.1:PORT/jobcontrol_test --workdir TMPDIR \
        [--scenario restart|terminate|outage|hung|start-down ...]

PGSANDBOX_DIR is a server started by scripts/postgres-sandbox.sh (run by the `postgres` user, data
in PGSANDBOX_DIR/data, socket directory PGSANDBOX_DIR). Each scenario creates its own database,
runs its own daemon and drops the database at the end; the server is always left running.

Scenarios:
  restart     3 x `pg_ctl restart -m fast` while 6 builds of `count` and a 2-second schedule run
  terminate   3 x pg_terminate_backend of every session of the daemon's database during the same
  outage      the server stopped for 10 s while a 2-second schedule and a `count` build run
  long-outage the server stopped for 8 s, longer than a 3 s lease, while a long build runs
  hung        every server process SIGSTOPped (a frozen host): no answer, no error, for 12 s
  partition   two daemons; the path of one to the server black-holed for 12 s (3 s lease)
  start-down  jobcontrold started against a stopped server, then against a missing database

Prints check lines, one `PASS name detail` / `FAIL name detail` line per scenario and finally
`N passed, M failed`; exits 1 if any scenario failed. Lines marked INFO are observations, not
assertions. Daemon logs stay in WORKDIR/<scenario>/daemon.log.
"""

import collections
import os
import signal
import subprocess
import sys
import time
import urllib.parse

from fault_support import (EX_IOERR, Daemon, argument_parser, check_alive, check_daemon_answers,
                           close_daemon, describe_rc, iso, log, now, poll_daemon, prepare,
                           run_scenario, run_scenarios, run_to_exit, tail)
from pg_checks import (LONG_MARKER, check_tick_occurrences, config_yaml, final_checks, parse_time,
                       probe_run, run_wait_check, wait_running)
from pg_sandbox import (Postgres, server_processes)


ALL_SCENARIOS = ["restart", "terminate", "outage", "long-outage", "hung", "partition", "start-down"]


def scenario_builds_under_faults(c, pg, daemon, fault, fault_name, with_wait):
    """Queue 6 builds of count, apply `fault` 3 times during them, then check everything."""
    daemon.start()
    queued = []
    for _ in range(6):
        bid, err = daemon.queue("count")
        if bid is None:
            c.bad("queueing a build before the faults failed: %s" % err)
            return
        queued.append(bid)
    c.info("queued builds %s" % queued)
    t_queue = now()
    if not wait_running(daemon):
        c.bad("no build RUNNING within 10 s of queueing")
    # 2 workers, ~4.3 s per build: the three faults hit each of the three pairs of builds
    last_end = None
    for i, at in enumerate((1.5, 5.5, 9.5), 1):
        delay = t_queue + at - now()
        if delay > 0:
            time.sleep(delay)
        t0 = now()
        detail = fault()
        last_end = now()
        c.info("%s %d at +%.1f s took %.2f s%s" % (fault_name, i, t0 - t_queue, last_end - t0,
                                                  detail or ""))
    probe_id, secs, attempts, err = probe_run(daemon, last_end)
    if probe_id is None:
        c.bad("`jobctl run count` not accepted within 60 s of the last %s (%d attempts): %s"
              % (fault_name, attempts, err))
    else:
        c.ok("recovery: `jobctl run count` accepted %.2f s after the last %s ended "
             "(attempt %d, build %s)" % (secs, fault_name, attempts, probe_id))
    final_checks(c, daemon, queued, probe_id, 90)
    if with_wait:
        run_wait_check(c, daemon)
    check_daemon_answers(c, daemon, "after the faults", digits=1)


def scenario_restart(c, pg, daemon, db):
    def fault():
        pg.pg_ctl("restart")
    started = time.time()
    scenario_builds_under_faults(c, pg, daemon, fault, "restart", with_wait=False)
    check_tick_occurrences(c, pg, db, started, time.time())


def scenario_terminate(c, pg, daemon, db):
    sql = ("select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity "
           "where datname = '%s' and pid <> pg_backend_pid()) t" % db)

    def fault():
        n = pg.psql("postgres", sql).strip()
        return ", %s sessions terminated" % n
    started = time.time()
    scenario_builds_under_faults(c, pg, daemon, fault, "terminate", with_wait=True)
    check_tick_occurrences(c, pg, db, started, time.time())


def scenario_outage(c, pg, daemon, db):
    daemon.start()
    time.sleep(4.5)  # a few ticks before the outage (this is the observation period, not a wait)
    bid, err = daemon.queue("count")
    if bid is None:
        c.bad("queueing count before the outage failed: %s" % err)
        return
    if not wait_running(daemon):
        c.bad("count build %s not RUNNING within 10 s" % bid)
    time.sleep(1.0)
    t_stop_wall = time.time()
    t_stop = now()
    pg.pg_ctl("stop")
    t_down_wall = time.time()
    c.info("PostgreSQL stopped at %s (stop took %.2f s), build %s running"
           % (iso(t_down_wall), now() - t_stop, bid))
    try:
        statuses = []
        for at in (1.0, 5.0):
            delay = t_stop + at - now()
            if delay > 0:
                time.sleep(delay)
            rc, out, err, secs = daemon.jobctl(["status"], timeout=4)
            text = (out + err).strip().replace("\n", " / ")
            statuses.append((at, rc, secs, text))
            c.info("`jobctl status` during the outage (+%.0f s): %s in %.2f s: %s"
                   % (at, describe_rc(rc), secs, text[:400]))
        check_alive(c, daemon, "daemon alive during the outage")
        # an answer: exit 0, or the daemon's own non-zero verdict (1); not a timeout, not 69
        # (daemon unreachable), not a signal
        silent = [s for s in statuses if s[1] not in (0, 1)]
        c.check(not silent, "`jobctl status` answers during the outage%s"
                % ("" if not silent else ": " + ", ".join(
                    "+%.0f s %s" % (s[0], describe_rc(s[1])) for s in silent)))
        delay = t_stop + 10.0 - now()
        if delay > 0:
            time.sleep(delay)  # the outage itself: 10 s
    finally:
        pg.pg_ctl("start")
    t_up_wall = time.time()
    t_up = now()
    c.info("PostgreSQL started again at %s (outage %.1f s)" % (iso(t_up_wall), t_up_wall - t_stop_wall))
    # the schedule after the outage: wait (bounded) for the first tick build that starts after it
    first_tick = None
    while now() - t_up < 30 and daemon.alive():
        bs, _ = daemon.builds()
        starts = [parse_time(b.get("start_time")) for b in bs or []
                  if b.get("job_id") == "tick" and b.get("start_time")]
        starts = [t for t in starts if t is not None and t >= t_up_wall]
        if starts:
            first_tick = min(starts)
            break
        time.sleep(0.5)
    if first_tick is None:
        c.info("no tick build started within 30 s after PostgreSQL was back")
    else:
        c.info("first tick build after the outage started at %s, %.1f s after PostgreSQL was back"
               % (iso(first_tick), first_tick - t_up_wall))
    final_checks(c, daemon, [bid], None, max(1.0, 60 - (now() - t_up)))
    check_daemon_answers(c, daemon, "after the outage", digits=1)
    check_tick_occurrences(c, pg, db, t_stop_wall, t_up_wall)

def scenario_hung(c, pg, daemon, db):
    """The server stops answering without closing anything (a frozen host, a dropped network
    path): statements give up after JOBCONTROL_POSTGRES_TIMEOUT_SECONDS (2 s for this daemon),
    `jobctl status` answers and says the storage is unavailable, and nothing is lost once the
    server answers again. Blocking calls used to wait for ever, with the watchdog still fed."""
    daemon.start()
    bid, err = daemon.queue("count")
    if bid is None:
        c.bad("queueing count before the hang failed: %s" % err)
        return
    if not wait_running(daemon):
        c.bad("count build %s not RUNNING within 10 s" % bid)
    pids = server_processes(pg)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    t_hung = now()
    try:
        said = None
        while said is None and now() - t_hung < 30:
            rc, out, err, secs = daemon.jobctl(["status"], timeout=10)
            if rc in (0, 1) and "UNAVAILABLE" in out + err:
                said = now() - t_hung
            else:
                time.sleep(0.5)
        c.check(said is not None, "`jobctl status` says the storage is unavailable%s"
                % (" after %.1f s of the hang" % said if said is not None else ": not within 30 s"))
        check_alive(c, daemon, "daemon alive while the server hangs")
        delay = t_hung + 12.0 - now()
        if delay > 0:
            time.sleep(delay)  # the hang itself
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    c.info("server answering again after %.1f s" % (now() - t_hung))
    final_checks(c, daemon, [bid], None, 60)
    check_daemon_answers(c, daemon, "after the hang", digits=1)


def scenario_start_down(c, pg, daemon, db):
    def attempt(label, url, must_mention):
        sock = os.path.join(daemon.workdir, "down.sock")
        logpath = os.path.join(daemon.workdir, "start-%s.log" % label)
        with open(logpath, "w") as lf:
            rc, secs = run_to_exit(daemon.argv(socket_path=sock, url=url), lf,
                                   subprocess.STDOUT, 30)
        with open(logpath, errors="replace") as f:
            text = f.read()
        c.check(rc is not None, "%s: jobcontrold exits within 30 s (%s after %.1f s)"
                % (label, describe_rc(rc), secs))
        if rc is not None:
            c.check(rc >= 0 and rc < 128, "%s: not a signal (%s)" % (label, describe_rc(rc)))
            c.check(rc == EX_IOERR, "%s: exit status %d (expected %d)" % (label, rc, EX_IOERR))
        if must_mention == url:
            c.check(url in text, "%s: output names the URL %s" % (label, url))
        else:
            # the database named by itself, not only inside the echoed URL
            c.check(must_mention in text.replace(url, ""),
                    "%s: output mentions the database %r (beyond echoing the URL)"
                    % (label, must_mention))
        c.info("%s: output:\n%s" % (label, tail(logpath, 12)))

    pg.pg_ctl("stop")
    try:
        attempt("server-down", daemon.url, daemon.url)
    finally:
        pg.pg_ctl("start")
    pg.ensure_running()
    missing = "pgf_missing_%d" % os.getpid()
    pg.drop_db(missing)
    attempt("missing-database", pg.url_for(missing), missing)


def scenario_long_outage(c, pg, daemon, db):
    """The server stopped for longer than the lease (3 s here): the daemon must stop its running
    build (nobody may run it twice), keep answering, and rejoin by itself once the server is back."""
    daemon.start()
    bid, err = daemon.queue("long")
    if bid is None:
        c.bad("queueing long failed: %s" % err)
        return
    if not wait_running(daemon):
        c.bad("build %s not RUNNING within 10 s" % bid)
        return
    pg.pg_ctl("stop")
    t_down = now()
    try:
        time.sleep(8.0)  # the fault itself: longer than the 3 s lease
        c.check(daemon.alive(), "daemon alive during an outage longer than the lease")
        rc, out, err, secs = daemon.jobctl(["status"], timeout=4)
        c.check(rc in (0, 1), "`jobctl status` answers during the outage (%s in %.2f s)" % (describe_rc(rc), secs))
    finally:
        pg.pg_ctl("start")
    c.info("outage %.1f s" % (now() - t_down))
    deadline = now() + 60
    build = None
    while now() < deadline:
        build, _ = daemon.jobctl_json(["build", str(bid)])
        if build and build.get("finished"):
            break
        time.sleep(0.2)
    if not build or not build.get("finished"):
        c.bad("build %s still unfinished 60 s after the outage" % bid)
    else:
        exc = build.get("exception") or {}
        c.check(build.get("state") == "FAILED" and exc.get("type") in ("LeaseLost", "DaemonLost"),
                "build %s ended %s with %s (stopped when the lease lapsed)" % (bid, build.get("state"), exc.get("type")))
    leftover = subprocess.run(["pgrep", "-f", LONG_MARKER], capture_output=True, text=True).stdout.split()
    c.check(not leftover, "the build's process is gone (%s)" % (leftover or "none left"))
    t_rejoin = now()
    state = None
    while now() - t_rejoin < 30:
        status, _ = daemon.jobctl_json(["status"])
        nodes = (status or {}).get("cluster") or []
        state = [n.get("state") for n in nodes]
        if status and state == ["alive"] and not status.get("storage_error"):
            break
        time.sleep(0.2)
    c.check(state == ["alive"], "the node rejoined the cluster by itself (states %s, %.1f s after the outage)" % (state, now() - t_rejoin))
    run_wait_check(c, daemon)
    builds, _ = daemon.builds()
    runs = [b for b in builds or [] if b.get("job_id") == "long"]
    c.check(len(runs) == 1, "the long build ran once (%d builds of it)" % len(runs))


PARTITION_COMMAND = ('echo "start $JOBCONTROL_BUILD_ID $(date +%%s.%%N)" >> %s; sleep 6 & wait; '
                     'echo "end $JOBCONTROL_BUILD_ID $(date +%%s.%%N)" >> %s')


def scenario_partition(c, pg, daemon, db):
    """Two daemons share the database; one reaches it through a relay that is then frozen for
    12 s (the lease is 3 s). That daemon must stop its builds before the other recovers and
    runs them again, never write over a record the other now owns, and rejoin afterwards. Its
    statements used to block for ever, so it ran the builds on beside their retries."""
    ran = os.path.join(daemon.workdir, "ran")
    config = ("cluster: {lease: 3s, node: NODE}\nworkers: 4\njobs:\n"
              "  - {id: slow, retries: 1, command: '" + PARTITION_COMMAND % (ran, ran) + "'}\n")
    workdirs = {}
    for name in ("cut", "direct"):
        workdirs[name] = os.path.join(daemon.workdir, name)
        os.makedirs(workdirs[name], exist_ok=True)
    relay_port = pg.port + 1000 + os.getpid() % 1000
    relay = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tcp_relay.py"),
                              str(relay_port), pg.host, str(pg.port)], stdout=subprocess.PIPE, text=True)
    other = None
    try:
        relay.stdout.readline()
        relayed = urllib.parse.urlsplit(daemon.url)._replace(netloc="%s@127.0.0.1:%d" % (pg.url.username or "postgres", relay_port))
        cut = Daemon(daemon.args, workdirs["cut"], urllib.parse.urlunsplit(relayed), config.replace("NODE", "cut"), name="cut")
        cut.start()
        ids = []
        for _ in range(2):
            bid, err = cut.queue("slow")
            if bid is None:
                c.bad("queueing slow failed: %s" % err)
                return
            ids.append(bid)
        if not wait_running(cut):
            c.bad("the builds did not start on the daemon behind the relay")
        # the other daemon, straight to the server
        other = Daemon(daemon.args, workdirs["direct"], daemon.url, config.replace("NODE", "direct"), name="direct")
        other.start()
        relay.send_signal(signal.SIGSTOP)
        t_cut = now()
        try:
            time.sleep(12.0)  # the partition itself
        finally:
            relay.send_signal(signal.SIGCONT)
        c.info("path restored after %.1f s" % (now() - t_cut))
        bs, waited, err = poll_daemon(other, other.builds,
                                      lambda bs: len(bs) >= 4 and all(b.get("finished") for b in bs), 60, 0.5)
        if bs is None:
            c.bad("cannot list builds: %s" % err)
            return
        byid = {b["id"]: b for b in bs}
        for bid in ids:
            exc = (byid.get(bid) or {}).get("exception") or {}
            c.check(byid.get(bid, {}).get("state") == "FAILED" and exc.get("type") == "DaemonLost",
                    "build %s recovered as DaemonLost (%s %s)" % (bid, byid.get(bid, {}).get("state"), exc.get("type")))
        retries = [b for b in bs if b["id"] not in ids]
        c.check(len(retries) == 2 and all(b.get("state") == "SUCCESSFUL" for b in retries),
                "each build retried once by the other daemon, successfully (%s)"
                % [(b["id"], b.get("state")) for b in retries])
        events = collections.defaultdict(dict)
        with open(ran) as f:
            for line in f:
                what, bid, at = line.split()
                events[int(bid)][what] = float(at)
        first_retry_start = min((events[b["id"]].get("start", 1e18) for b in retries), default=1e18)
        overlapping = [bid for bid in ids if events[bid].get("end", 0) > first_retry_start]
        c.check(not overlapping, "no build of the cut-off daemon ran on beside its retry%s"
                % ("" if not overlapping else " (%s ended after a retry started)" % overlapping))
        for b in bs:
            if b.get("start_time") and b.get("end_time"):
                c.check(b["end_time"] >= b["start_time"], "build %s ends after it starts" % b["id"])
        rc, _, _, secs = cut.jobctl(["status"], timeout=10)
        c.check(rc in (0, 1), "the cut-off daemon answers `jobctl status` (%s in %.1f s)" % (describe_rc(rc), secs))
    finally:
        for d in (other, locals().get("cut")):
            if d is not None:
                try:
                    d.stop()
                except Exception as e:
                    c.info("stopping a daemon: %s" % e)
        relay.send_signal(signal.SIGCONT)
        relay.kill()
        relay.wait()


SCENARIOS = {
    "restart": (scenario_restart, True),
    "terminate": (scenario_terminate, True),
    "outage": (scenario_outage, True),
    "start-down": (scenario_start_down, False),
    "long-outage": (scenario_long_outage, "lease"),
    "hung": (scenario_hung, False),
    "partition": (scenario_partition, False),
}


def run_pg_scenario(name, args, pg):
    """One scenario on a database of its own (created here, dropped at the end)."""
    fn, with_tick = SCENARIOS[name]
    db = "pgf_%s_%d" % (name.replace("-", "_"), os.getpid())
    daemon = None
    created = False

    def body(c, workdir):
        nonlocal daemon, created
        pg.ensure_running()
        pg.create_db(db)
        created = True
        env = {"JOBCONTROL_POSTGRES_TIMEOUT_SECONDS": "2"} if name == "hung" else None
        daemon = Daemon(args, workdir, pg.url_for(db), config_yaml(with_tick), env=env)
        fn(c, pg, daemon, db)

    def cleanup(c):
        if daemon is not None:
            try:
                close_daemon(c, daemon)
            except Exception as e:
                c.bad("stopping the daemon: %s" % e)
        try:
            pg.ensure_running()
        except Exception as e:
            c.bad("PostgreSQL cannot be started again: %s" % e)
        if created:
            try:
                pg.drop_db(db)
            except Exception as e:
                c.info("dropping %s: %s" % (db, e))

    return run_scenario(name, args.workdir, body, cleanup, where="daemon log %s/daemon.log")


def main():
    ap = argument_parser(__doc__)
    ap.add_argument("--pgdir", required=True, help="PGSANDBOX_DIR")
    ap.add_argument("--url", required=True, help="postgresql://postgres@127.0.0.1:PORT/DB")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--scenario", action="append", choices=ALL_SCENARIOS,
                    help="repeatable; default: all")
    args = ap.parse_args()
    prepare(args)
    pg = Postgres(args.pgdir, args.url)

    def restart_postgres():
        try:
            pg.ensure_running()
        except Exception as e:
            log("PostgreSQL cannot be started again: %s" % e)
    return run_scenarios(args.scenario or ALL_SCENARIOS,
                         lambda name: run_pg_scenario(name, args, pg), at_exit=restart_postgres)


if __name__ == "__main__":
    sys.exit(main())
