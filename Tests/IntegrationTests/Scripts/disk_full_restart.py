#!/usr/bin/env python3
"""A daemon killed while its database's disk is full, and started again on the full disk
(standard library only; run as root).

    disk_full_restart.py --jobcontrold PATH --jobctl PATH --workdir DIR

The database lives on a 3 MB tmpfs mounted in a private mount namespace that a holder process
keeps (`sleep`), so the tmpfs outlives each daemon; the daemons enter that namespace with
`nsenter`. A build (`sleep 600`) runs; a file fills the tmpfs; the daemon is killed (SIGKILL);
the space it set aside for a full disk is taken too. Then:
  - a new daemon must start on the full disk and answer (it exited 74 on every start until
    space was freed), while the killed daemon's build is still unfinished;
  - once the filler is removed, the left build must be finished (FAILED, not RUNNING for ever)
    within 30 s (crash recovery is retried every 10 s), and its `sleep` stopped;
  - a new build (`echo hi`) must succeed.

Prints check lines, `PASS`/`FAIL` for the scenario and `N passed, M failed`; exits 1 on a
failure.
"""

import os
import signal
import subprocess
import sys
import time

from fault_support import (Daemon, argument_parser, close_daemon, describe_rc, now, poll_daemon,
                           prepare, run, run_scenario, run_scenarios, start_process)

TMPFS_SIZE = "3m"
RECOVERY_WAIT = 30  # crash recovery is retried every 10 s once it failed for want of space


def mount_ns(pid):
    try:
        return os.readlink("/proc/%d/ns/mnt" % pid)
    except OSError:
        return None


def pids_in_ns(ns, but=()):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in but and mount_ns(int(name)) == ns:
            found.append(int(name))
    return found


def build_pids(socket_path, build_id):
    """Live processes of build `build_id` of the daemon at `socket_path` (by their environment)."""
    want = [b"JOBCONTROL_SOCKET=" + os.fsencode(socket_path), b"JOBCONTROL_BUILD_ID=%d" % build_id]
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as f:
                env = f.read().split(b"\0")
            with open("/proc/%s/stat" % name) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except (OSError, IndexError):
            continue
        if all(entry in env for entry in want):
            pids.append(int(name))
    return pids


def scenario(c, args, workdir):
    mnt = os.path.join(os.path.realpath(workdir), "tmpfs")
    os.makedirs(mnt)
    holder = start_process(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount -t tmpfs -o size=%s tmpfs "$1" && exec sleep 3600' % TMPFS_SIZE, "sh", mnt],
        stdin=subprocess.DEVNULL, start_new_session=True)
    ns = None
    daemon = None
    try:
        deadline = now() + 10
        mounted = False
        while now() < deadline and not mounted:
            try:
                with open("/proc/%d/mountinfo" % holder.pid) as f:
                    # mountinfo escapes blanks in paths as octal (\040); the work directory is
                    # resolved (a symlinked /tmp would not match otherwise).
                    mounted = any(l.split()[4].replace("\\040", " ") == mnt and " tmpfs " in l for l in f)
            except OSError:
                pass
            if not mounted:
                time.sleep(0.05)
        if not c.check(mounted, "tmpfs (size=%s) mounted on %s in the holder's namespace" % (TMPFS_SIZE, mnt)):
            return
        ns = mount_ns(holder.pid)
        enter = ["nsenter", "--target", str(holder.pid), "--mount", "--"]
        db = os.path.join(mnt, "jobcontrol.sqlite3")
        config = ("jobs:\n  - {id: long, command: [sleep, '600']}\n"
                  "  - {id: small, command: 'echo hi'}\n")
        daemon = Daemon(args, workdir, "sqlite://" + db, config, wrap=enter,
                        env={"JOBCONTROL_WRITE_HOLD_SECONDS": "3"})
        daemon.start()
        bid, err = daemon.queue("long")
        if not c.check(bid is not None, "build of `long` queued: %s" % (bid or err)):
            return
        running, _, err = poll_daemon(daemon, lambda: daemon.build(bid), lambda b: b.get("state") == "RUNNING", 20, 0.2)
        c.check(running is not None and running.get("state") == "RUNNING",
                "build %s RUNNING: %s" % (bid, (running or {}).get("state") or err))
        # RUNNING is recorded before the command is spawned: wait for its process.
        deadline = now() + 20
        sleepers = build_pids(daemon.socket, bid)
        while not sleepers and now() < deadline:
            time.sleep(0.05)
            sleepers = build_pids(daemon.socket, bid)
        if not c.check(bool(sleepers), "the build's `sleep` runs (pids %s)" % sleepers):
            return

        rc, _, err, _ = run(enter + ["dd", "if=/dev/zero", "of=" + os.path.join(mnt, "filler"), "bs=64k"], 60)
        st = os.statvfs("/proc/%d/root%s" % (holder.pid, mnt))
        c.info("filler written (dd %s: %s); %d bytes free" % (describe_rc(rc), err.strip().splitlines()[-1:],
                                                              st.f_bavail * st.f_frsize))
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.proc.wait()
        c.info("first daemon killed: %s" % describe_rc(daemon.proc.returncode))
        daemon.logf.close()
        daemon.logf = None
        # The space the daemon sets aside for a full disk (DB.reserve) is taken too: nothing is
        # left to give back, so the next daemon's crash recovery cannot write either.
        reserve = db + ".reserve"
        rc, _, err, _ = run(enter + ["sh", "-c", 'rm -f "$1" && dd if=/dev/zero of="$2" bs=4k', "sh", reserve,
                                     os.path.join(mnt, "filler2")], 60)
        st = os.statvfs("/proc/%d/root%s" % (holder.pid, mnt))
        c.info("reserve removed, filled again; %d bytes free" % (st.f_bavail * st.f_frsize))

        # The second daemon, on the full disk.
        try:
            daemon.start(ready_timeout=30)
            started = True
        except RuntimeError as e:
            started = False
            c.bad("a daemon starts on the full disk and answers: %s" % str(e)[-1500:])
        if not started:
            return
        c.ok("a daemon starts on the full disk and answers (pid %d)" % daemon.pid)
        left, err = daemon.build(bid)
        c.check(left is not None and not left.get("finished"),
                "the killed daemon's build %s is left unfinished on the full disk (recovery waits): %s"
                % (bid, (left or {}).get("state") or err))

        rc, _, err, _ = run(enter + ["rm", os.path.join(mnt, "filler"), os.path.join(mnt, "filler2")], 30)
        c.check(rc == 0, "filler removed (%s%s)" % (describe_rc(rc), ": " + err.strip() if rc else ""))
        t0 = now()
        done, secs, err = poll_daemon(daemon, lambda: daemon.build(bid), lambda b: b.get("finished"), RECOVERY_WAIT, 0.5)
        c.check(done is not None and done.get("finished") and done.get("state") == "FAILED",
                "the left build %s finished FAILED within %d s of the space coming back: %s after %.0f s"
                % (bid, RECOVERY_WAIT, (done or {}).get("state") or err, now() - t0))
        gone = [p for p in sleepers if os.path.exists("/proc/%d" % p) and p in build_pids(daemon.socket, bid)]
        c.check(not gone, "the left build's `sleep` is stopped%s" % (": %s still runs" % gone if gone else ""))
        rc, out, err, secs = daemon.jobctl(["run", "small", "--wait"], timeout=30)
        c.check(rc == 0, "`jobctl run small --wait` afterwards: %s in %.1f s: %s"
                % (describe_rc(rc), secs, (out + err).strip().replace("\n", " / ")[:300]))
    finally:
        if daemon is not None:
            close_daemon(c, daemon)
        if ns is not None:
            for pid in pids_in_ns(ns, but=(holder.pid,)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        try:
            os.killpg(holder.pid, signal.SIGKILL)
        except OSError:
            pass
        holder.wait()


def main():
    ap = argument_parser(__doc__)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("must run as root (mount namespaces)")
    prepare(args)
    return run_scenarios(
        ["disk-full-restart"],
        lambda name: run_scenario(name, args.workdir, lambda c, workdir: scenario(c, args, workdir)),
        show_total=True)


if __name__ == "__main__":
    sys.exit(main())
