#!/usr/bin/env bash
# Runs the units of systemd/ under a real `systemd --user` manager, in a private mount namespace
# (tmpfs /run/systemd, a private journald, the manager in its own cgroup), with a drop-in for
# paths. Usage, as root:  unshare --mount --propagation private systemd-user-units.sh REPO BIN WORK
# Prints "check NAME VALUE" lines for the test to read; every step is bounded.
set -uo pipefail
repo=$1 bin=$2 work=$3
export XDG_RUNTIME_DIR=$work/rt XDG_CONFIG_HOME=$work/cfg HOME=$work/home
unset DBUS_SESSION_BUS_ADDRESS NOTIFY_SOCKET WATCHDOG_USEC LISTEN_FDS
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME/systemd/user" "$HOME" && chmod 700 "$XDG_RUNTIME_DIR"
cgroup=jcunits.slice/user@0.service
manager= journald=
cleanup() {
  [ -n "$manager" ] && { systemctl --user exit 2>/dev/null; for _ in $(seq 100); do kill -0 "$manager" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$manager" 2>/dev/null; wait "$manager" 2>/dev/null; }
  [ -n "$journald" ] && { kill "$journald" 2>/dev/null; wait "$journald" 2>/dev/null; }
  for hierarchy in unified systemd; do
    [ -d "/sys/fs/cgroup/$hierarchy/jcunits.slice" ] && find "/sys/fs/cgroup/$hierarchy/jcunits.slice" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  return 0
}
trap cleanup EXIT

# A booted-with-systemd look for this namespace only, and a private journald.
mount -t tmpfs -o mode=755 tmpfs /run/systemd && mkdir -p /run/systemd/system /run/systemd/journal
mount -t tmpfs -o mode=2755 tmpfs /run/log
mount -t tmpfs -o mode=2755 tmpfs /var/log/journal 2>/dev/null || true
: > "$work/console.log" && mount --bind "$work/console.log" /dev/console
printf '[Journal]\nStorage=volatile\nReadKMsg=no\nAudit=no\nRateLimitBurst=0\n' > "$work/journald.conf"
mount --bind "$work/journald.conf" /etc/systemd/journald.conf
/lib/systemd/systemd-journald > "$work/journald.log" 2>&1 & journald=$!
for _ in $(seq 200); do journalctl --sync 2>/dev/null && break; sleep 0.05; done

# The units as shipped, plus a drop-in for this sandbox's paths.
units=$XDG_CONFIG_HOME/systemd/user
cp "$repo/systemd/jobcontrold.service" "$repo/systemd/jobcontrold.socket" "$units/"
mkdir -p "$units/jobcontrold.service.d" "$units/jobcontrold.socket.d"
cat > "$units/jobcontrold.service.d/test.conf" <<UNIT
[Service]
ExecStart=
ExecStart=$bin/jobcontrold --config $work/jobcontrol.yaml --storage sqlite://$work/db.sqlite3 --socket $XDG_RUNTIME_DIR/jobcontrol/jobcontrol.sock
User=
Group=
WatchdogSec=3
RestartSec=100ms
Environment=JOBCONTROL_DEBUG_HOOKS=1
# The watchdog's SIGABRT would start Swift's backtracer, which takes long in a debug build.
Environment=SWIFT_BACKTRACE=enable=no
# A user manager in this sandbox cannot build the unit's mount namespaces (226/NAMESPACE);
# systemd-analyze security checks those options instead.
PrivateTmp=no
PrivateDevices=no
PrivateMounts=no
ProtectSystem=no
ProtectKernelTunables=no
ProtectKernelModules=no
ProtectKernelLogs=no
ProtectControlGroups=no
ProtectClock=no
ProtectHostname=no
ProtectProc=default
UNIT
cat > "$units/jobcontrold.socket.d/test.conf" <<UNIT
[Socket]
ListenStream=
ListenStream=%t/jobcontrol/jobcontrol.sock
SocketGroup=
UNIT
printf '[Unit]\nDescription=test target\n' > "$units/test.target"

mkdir -p "/sys/fs/cgroup/unified/$cgroup" "/sys/fs/cgroup/systemd/$cgroup" 2>/dev/null
( echo $BASHPID > "/sys/fs/cgroup/unified/$cgroup/cgroup.procs" 2>/dev/null
  echo $BASHPID > "/sys/fs/cgroup/systemd/$cgroup/cgroup.procs" 2>/dev/null
  exec /lib/systemd/systemd --user --unit=test.target ) > "$work/manager.log" 2>&1 & manager=$!
for _ in $(seq 200); do
  [ -S "$XDG_RUNTIME_DIR/systemd/private" ] && systemctl --user is-system-running >/dev/null 2>&1 && break
  sleep 0.05
done
echo "check manager $(systemctl --user is-system-running 2>&1)"

state() { systemctl --user show jobcontrold.service -p "$1" --value; }
waitfor() {  # waitfor PROPERTY VALUE: up to 30 s
  for _ in $(seq 300); do [ "$(state "$1")" = "$2" ] && return 0; sleep 0.1; done; return 1
}
socket=$XDG_RUNTIME_DIR/jobcontrol/jobcontrol.sock

systemctl --user start jobcontrold.socket
echo "check before-first-call $(state ActiveState)"
timeout 60 "$bin/jobctl" --socket "$socket" run hello --follow > "$work/run.out" 2>&1
echo "check run-status $?"
echo "check after-first-call $(state ActiveState)/$(state SubState)"
echo "check status-line $(state StatusText)"
# Delegate=yes: the daemon left the service's cgroup for <service>/daemon, and the build ran in
# <service>/builds/build-<id>.<n> (its command printed its own cgroup).
echo "check daemon-cgroup $(grep '^0::' "/proc/$(state MainPID)/cgroup" | sed 's|.*/jobcontrold.service/||')"
echo "check build-cgroup $(grep -o 'jobcontrold.service/builds/build-1\.[0-9]*' "$work/run.out" | head -1 | sed 's|\.[0-9]*$||')"
if [ "$(state ActiveState)" != active ]; then
  journalctl --sync; journalctl --no-pager -o cat 2>&1 | tail -25 | sed "s/^/journal: /"
  systemctl --user status jobcontrold.service --no-pager -l 2>&1 | sed "s/^/status: /"; tail -5 "$work/manager.log" | sed "s/^/manager: /"
  exit 1
fi

systemctl --user reload jobcontrold.service
echo "check reload $?"
# With Type=notify and ExecReload=kill -HUP (systemd 252 has no notify-reload), `systemctl reload`
# returns once the signal is sent; the unit stays "reloading" until the daemon's READY=1, after
# it has waited for the configuration files to settle. Wait for that, bounded.
for _ in $(seq 100); do [ "$(state ActiveState)" = reloading ] || break; sleep 0.1; done
echo "check after-reload $(state ActiveState)"

pid=$(state MainPID)
[ "${pid:-0}" -gt 1 ] && kill -USR2 "$pid"
waitfor NRestarts 1 && waitfor ActiveState active
echo "check watchdog-restarts $(state NRestarts)"
echo "check after-watchdog $(state ActiveState) pid-changed=$([ "$(state MainPID)" != "$pid" ] && echo yes || echo no)"
timeout 60 "$bin/jobctl" --socket "$socket" run hello --wait > "$work/run2.out" 2>&1
echo "check run-after-restart $?"

systemctl --user stop jobcontrold.service
echo "check stopped $(state ActiveState) result=$(state Result)"
journalctl --sync
echo "check journal-stopped $(journalctl --no-pager -o cat 2>/dev/null | grep -c 'jobcontrold stopped')"
echo done
