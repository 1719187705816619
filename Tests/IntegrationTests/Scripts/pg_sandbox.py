"""The throwaway PostgreSQL server of the fault scenarios (pg_faults.py): start, stop,
databases, and its processes (standard library only)."""

import glob
import os
import re
import time
import urllib.parse

from fault_support import (describe_rc, log, now, run)


class Postgres:
    def __init__(self, pgdir, url):
        self.dir = os.path.abspath(pgdir)
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "log")
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("postgresql", "postgres"):
            raise SystemExit("--url must be postgresql://…, got %r" % url)
        self.url = u
        self.port = u.port or 5432
        self.host = u.hostname or "127.0.0.1"
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda p: [int(x) if x.isdigit() else x
                                     for x in re.split(r"(\d+)", p)])
        bins = [b for b in bins if os.access(os.path.join(b, "pg_ctl"), os.X_OK)]
        if not bins:
            raise SystemExit("no /usr/lib/postgresql/*/bin/pg_ctl")
        self.bin = bins[-1]
        # the options scripts/postgres-sandbox.sh starts the server with
        self.options = ("-c listen_addresses=%s -p %d -k %s -c fsync=off -c max_connections=300"
                        % (self.host, self.port, self.dir))

    def as_postgres(self, argv):
        if os.getuid() == 0:
            return ["runuser", "-u", "postgres", "--"] + argv
        return argv

    def url_for(self, database):
        u = self.url
        return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + database, u.query, u.fragment))

    def pg_ctl(self, action, timeout=90):
        argv = [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-t", "60"]
        if action in ("stop", "restart"):
            argv += ["-m", "fast"]
        if action in ("start", "restart"):
            # -l: without it the server would inherit our pipes and pg_ctl's output never ends
            argv += ["-l", self.logfile, "-o", self.options]
        argv.append(action)
        rc, out, err, secs = run(self.as_postgres(argv), timeout)
        if rc != 0:
            raise RuntimeError("pg_ctl %s: %s: %s%s" % (action, describe_rc(rc), out, err))
        return secs

    def running(self):
        rc, _, _, _ = run(self.as_postgres([os.path.join(self.bin, "pg_ctl"), "-D", self.data,
                                            "status"]), 30)
        return rc == 0

    def ensure_running(self):
        if not self.running():
            log("  (PostgreSQL was not running: starting it)")
            self.pg_ctl("start")
        # wait until it accepts connections (bounded)
        deadline = now() + 30
        while True:
            rc, _, err, _ = self.psql("postgres", "select 1", check=False, timeout=10)
            if rc == 0:
                return
            if now() > deadline:
                raise RuntimeError("PostgreSQL does not accept connections: %s" % err.strip())
            time.sleep(0.3)

    def psql(self, database, sql, check=True, timeout=30):
        argv = self.as_postgres([os.path.join(self.bin, "psql"), "-X", "-q", "-h", self.dir,
                                 "-p", str(self.port), "-U", "postgres", "-d", database,
                                 "-At", "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-c", sql])
        rc, out, err, _ = run(argv, timeout)
        if check and rc != 0:
            raise RuntimeError("psql %s: %s: %s" % (sql[:60], describe_rc(rc), err.strip()))
        return (rc, out, err, None) if not check else out

    def create_db(self, name):
        self.psql("postgres", 'drop database if exists "%s" with (force)' % name)
        self.psql("postgres", 'create database "%s"' % name)

    def drop_db(self, name):
        self.psql("postgres", 'drop database if exists "%s" with (force)' % name)


def server_processes(pg):
    """The postmaster and its children (every backend and auxiliary process)."""
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        master = int(f.readline())
    pids = [master]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == master:
            pids.append(int(entry))
    return pids
