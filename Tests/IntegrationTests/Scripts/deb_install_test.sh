#!/usr/bin/env bash
# Installs the jobcontrol Debian package for real, in a throwaway copy of this machine, and checks
# what it installs, runs and removes; the machine itself is left as it was.
#
# Usage, as root:  deb_install_test.sh PATH_TO_DEB [PATH_TO_DBGSYM]
#   PATH_TO_DBGSYM defaults to the jobcontrol-dbgsym package beside PATH_TO_DEB, when there is one.
#
# How: a private mount and PID namespace (unshare) overlays the root filesystem (and /usr, /var,
# /etc, /opt when they are mounts of their own) with writable layers on a tmpfs, gives it a fresh
# /proc, /run and /tmp, and chroots into it: dpkg, systemd-sysusers and the daemon write only to the
# tmpfs, which goes with the namespace; every process started there dies with it.
# Inside: dpkg -i; the files, conffiles, user, directories and unit enablement; systemd-analyze
# verify; the versions; the configuration check; the daemon run briefly as the jobcontrol user on
# the packaged configuration (jobctl status, a build) and on a test one (a Python function build
# that imports the packaged jobcontrol module); reinstalling keeps a changed conffile; the dbgsym
# package's debug files match the binaries' build ids; dpkg -r keeps the conffiles, dpkg -P removes
# them and the state. Outside: lintian (errors and warnings that are not overridden fail the test)
# and a comparison of the machine's users, /etc/jobcontrol, units and dpkg database before and
# after. Prints "deb-install-test: ok" last on success; otherwise what failed, and exits 1.
set -uo pipefail
export LC_ALL=C.UTF-8
self=$(realpath "$0")

say() { echo "deb-install-test: $*"; }
failures=0
fail() { say "FAIL: $*"; failures=$((failures + 1)); }
check() { # DESCRIPTION COMMAND...: runs COMMAND, a failure is recorded with its output
  local description=$1 output
  shift
  if output=$("$@" 2>&1); then
    say "ok: $description"
  else
    fail "$description"
    [ -n "$output" ] && printf '%s\n' "$output" | sed 's/^/    /' | head -n 40
  fi
}

# ---------------------------------------------------------------------------------------------
# Phase 3, in the chroot: install, check, remove. Arguments: DEB DBGSYM (DBGSYM may be "").
in_chroot() {
  local deb=$1 dbgsym=$2
  export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive
  local upstream_version
  daemon_pid="" # global: the EXIT trap reads it
  stop_daemon() {
    [ -n "$daemon_pid" ] || return 0
    kill -TERM "$daemon_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
    local status=$?
    daemon_pid=""
    return $status
  }
  trap stop_daemon EXIT
  start_daemon() { # LOG SOCKET ARGS...: jobcontrold as the jobcontrol user; waits for its socket to answer
    local log=$1 socket=$2
    shift 2
    setpriv --reuid=jobcontrol --regid=jobcontrol --init-groups \
      env -i PATH="$PATH" LANG=C.UTF-8 /usr/bin/jobcontrold --log-target console "$@" --socket "$socket" > "$log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 200); do
      jobctl --socket "$socket" status > /dev/null 2>&1 && return 0
      kill -0 "$daemon_pid" 2>/dev/null || break
      sleep 0.1
    done
    return 1
  }

  had_user=no
  getent passwd jobcontrol > /dev/null && had_user=yes
  check "dpkg -i $(basename "$deb")" dpkg -i "$deb"
  if ! dpkg-query -W -f='${Status}' jobcontrol 2>/dev/null | grep -q 'install ok installed'; then
    fail "jobcontrol is not installed; the remaining checks cannot run"
    return
  fi
  upstream_version=$(dpkg-query -W -f='${Version}' jobcontrol | sed 's/-[^-]*$//')
  say "installed jobcontrol $(dpkg-query -W -f='${Version}' jobcontrol)"

  # Files in place.
  local file missing=""
  for file in /usr/bin/jobcontrold /usr/bin/jobctl; do
    [ -x "$file" ] || missing+=" $file"
  done
  for file in /lib/systemd/system/jobcontrold.service /lib/systemd/system/jobcontrold.socket \
    /usr/lib/sysusers.d/jobcontrol.conf /usr/lib/tmpfiles.d/jobcontrol.conf \
    /etc/jobcontrol/jobcontrol.yaml /usr/share/doc/jobcontrol/examples/jobcontrol.yaml \
    /usr/share/doc/jobcontrol/examples/jobs.d/examples.yaml \
    /usr/share/man/man1/jobctl.1.gz /usr/share/man/man1/jobcontrold.1.gz \
    /usr/share/bash-completion/completions/jobctl /usr/share/zsh/vendor-completions/_jobctl \
    /usr/share/fish/vendor_completions.d/jobctl.fish \
    /usr/share/jobcontrol/python/jobcontrol/__init__.py /usr/share/jobcontrol/python/jobcontrol/_runner.py \
    /usr/share/doc/jobcontrol/copyright /usr/share/doc/jobcontrol/changelog.Debian.gz \
    /usr/share/doc/jobcontrol/changelog.gz /usr/share/lintian/overrides/jobcontrol; do
    [ -f "$file" ] || missing+=" $file"
  done
  check "files in place" sh -c '[ -z "$1" ] || { echo "missing:$1"; exit 1; }' sh "$missing"
  check "conffiles registered" sh -c "dpkg-query -W -f='\${Conffiles}\n' jobcontrol | awk '{print \$1}' | sort | tr '\n' ' ' | grep -qx '/etc/jobcontrol/jobcontrol.yaml '"
  check "units name /usr/bin/jobcontrold, not /usr/local" sh -c \
    'grep -q "^ExecStart=/usr/bin/jobcontrold " /lib/systemd/system/jobcontrold.service && ! grep -n /usr/local /lib/systemd/system/jobcontrold.*'
  command -v man > /dev/null && check "man pages read" sh -c 'for page in jobctl jobcontrold; do man -l /usr/share/man/man1/$page.1.gz > /dev/null || exit 1; done'
  check "binaries stripped, with a debuglink" sh -c \
    'for b in /usr/bin/jobcontrold /usr/bin/jobctl; do s=$(readelf -S -W $b); echo "$s" | grep -q "\.gnu_debuglink" || exit 1; ! echo "$s" | grep -q -e "\.symtab" -e "\.debug_info" || exit 1; done'

  # The user, its directories, the units' enablement.
  check "jobcontrol user created (sysusers)" sh -c \
    'getent passwd jobcontrol | awk -F: '\''$3 < 1000 && $6 == "/var/lib/jobcontrol" && $7 == "/usr/sbin/nologin" {ok=1} END {exit !ok}'\'' && getent group jobcontrol'
  [ "$had_user" = yes ] && say "note: the machine already had a jobcontrol user, so the chroot did too"
  check "/var/lib/jobcontrol and /run/jobcontrol made (tmpfiles)" sh -c \
    '[ "$(stat -c "%U:%G %a" /var/lib/jobcontrol)" = "jobcontrol:jobcontrol 750" ] && [ "$(stat -c "%U:%G %a" /run/jobcontrol)" = "jobcontrol:jobcontrol 750" ]'
  check "units enabled (deb-systemd-helper)" sh -c \
    '[ "$(readlink /etc/systemd/system/multi-user.target.wants/jobcontrold.service)" = /lib/systemd/system/jobcontrold.service ] && [ "$(readlink /etc/systemd/system/sockets.target.wants/jobcontrold.socket)" = /lib/systemd/system/jobcontrold.socket ]'
  # systemd-analyze verify also loads the units these name (network-online.target, …); it needs no
  # running systemd. Its output is printed; any line that names our units fails the check.
  local verify
  verify=$(systemd-analyze verify /lib/systemd/system/jobcontrold.service /lib/systemd/system/jobcontrold.socket 2>&1)
  local verify_status=$?
  [ -n "$verify" ] && printf '%s\n' "$verify" | sed 's/^/    systemd-analyze: /'
  check "systemd-analyze verify" sh -c "[ $verify_status -eq 0 ] && ! printf '%s\n' \"\$1\" | grep -i jobcontrol" sh "$verify"

  # Versions and the configuration check.
  check "jobctl --version prints $upstream_version" sh -c "jobctl --version | grep -qx '$upstream_version'"
  check "jobcontrold --version prints $upstream_version" sh -c "jobcontrold --version | grep -qx '$upstream_version'"
  check "the packaged configuration defines no job (the examples are documentation)" \
    grep -qx 'jobs: \[\]' /etc/jobcontrol/jobcontrol.yaml
  check "jobcontrold --check-config on the packaged configuration" jobcontrold --check-config --config /etc/jobcontrol/jobcontrol.yaml
  check "jobctl check-config on it, as the jobcontrol user" \
    setpriv --reuid=jobcontrol --regid=jobcontrol --init-groups jobctl check-config /etc/jobcontrol/jobcontrol.yaml

  # The daemon on the packaged configuration, as the unit runs it (user, storage, socket directory),
  # with a job file an administrator added to jobs.d/.
  printf 'jobs:\n  - {id: hello, command: "echo hello from the package"}\n' > /etc/jobcontrol/jobs.d/hello.yaml
  local socket=/run/jobcontrol/jobcontrol.sock
  if start_daemon /tmp/daemon.log "$socket" --config /etc/jobcontrol/jobcontrol.yaml; then
    say "ok: jobcontrold started as the jobcontrol user on /etc/jobcontrol/jobcontrol.yaml"
    check "jobctl status reports jobcontrold $upstream_version" sh -c "jobctl --socket $socket status | tee /dev/stderr | grep -q 'jobcontrold $upstream_version '"
    check "jobctl run hello --wait" jobctl --socket "$socket" run hello --wait
    check "storage in /var/lib/jobcontrol" test -s /var/lib/jobcontrol/jobcontrol.sqlite3
  else
    fail "jobcontrold did not answer on $socket"
    sed 's/^/    /' /tmp/daemon.log | tail -n 30
  fi
  stop_daemon
  check "jobcontrold stops cleanly on SIGTERM (exit status 0)" test $? -eq 0
  rm -f /etc/jobcontrol/jobs.d/hello.yaml  # the administrator's file: purge would leave it

  # A Python function build: the daemon finds the packaged jobcontrol module by itself.
  mkdir -p /tmp/pyjob/src && chmod -R a+rX /tmp/pyjob
  cat > /tmp/pyjob/src/debtest.py << 'PY'
import jobcontrol

def answer(name):
    jobcontrol.progress(1, 1, status="done")
    return {"hello": name, "module": jobcontrol.__file__}
PY
  cat > /tmp/pyjob/jobcontrol.yaml << 'YAML'
storage: 'sqlite::memory:'
python_path: [/tmp/pyjob/src]
jobs:
  - id: py
    function: 'debtest:answer'
    args: [deb]
YAML
  chmod -R a+rX /tmp/pyjob
  if start_daemon /tmp/daemon-py.log /run/jobcontrol/py.sock --config /tmp/pyjob/jobcontrol.yaml; then
    check "a Python function build imports /usr/share/jobcontrol/python/jobcontrol" sh -c \
      'jobctl --socket /run/jobcontrol/py.sock --json run py --wait | tr -d "\\\\" | tee /dev/stderr | grep -q "/usr/share/jobcontrol/python/jobcontrol/__init__.py"'
  else
    fail "jobcontrold did not start on the Python test configuration"
    sed 's/^/    /' /tmp/daemon-py.log | tail -n 30
  fi
  stop_daemon
  check "jobcontrold (Python test) stops cleanly" test $? -eq 0

  # From here on the maintainer scripts see a booted systemd (/run/systemd/system) and take their
  # systemctl and deb-systemd-invoke branches: those calls fail (no manager listens in this /run,
  # a tmpfs of its own) and must not fail the scripts.
  mkdir -p /run/systemd/system

  # Reinstalling (an upgrade to the same version) keeps a changed conffile and the stored builds.
  echo "# changed by deb_install_test" >> /etc/jobcontrol/jobcontrol.yaml
  check "dpkg -i again (upgrade path)" dpkg -i --force-confold "$deb"
  check "a changed conffile survives the upgrade" grep -q 'changed by deb_install_test' /etc/jobcontrol/jobcontrol.yaml
  check "stored builds survive the upgrade" test -s /var/lib/jobcontrol/jobcontrol.sqlite3

  # Debug symbols: each binary's build id has its .debug file, with the same id and the symbols.
  if [ -n "$dbgsym" ]; then
    check "dpkg -i $(basename "$dbgsym")" dpkg -i "$dbgsym"
    local binary id debug_file
    for binary in /usr/bin/jobcontrold /usr/bin/jobctl; do
      id=$(readelf -n "$binary" | sed -n 's/^ *Build ID: *//p')
      debug_file=/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
      check "$(basename "$binary"): $debug_file matches" sh -c \
        "[ -n '$id' ] && [ -f '$debug_file' ] && readelf -n '$debug_file' | grep -q 'Build ID: $id\$' && readelf -S -W '$debug_file' | grep -q -e '\.debug_info' && readelf -S -W '$debug_file' | grep -q '\.symtab' && readelf -p .gnu_debuglink '$binary' | grep -q '${id:2}.debug'"
    done
    if command -v gdb > /dev/null; then
      check "gdb finds jobctl's symbols through the build id" sh -c \
        "gdb -nx -batch -ex 'info symbol main' /usr/bin/jobctl 2>&1 | grep -v 'No symbol' | grep -q 'main in section .text'"
    fi
    check "dpkg -r jobcontrol-dbgsym" dpkg -r jobcontrol-dbgsym
  else
    say "note: no dbgsym package given or found; debug symbols not checked"
  fi

  # Removal keeps the configuration and the data; purge removes them (not the user).
  check "dpkg -r jobcontrol" dpkg -r jobcontrol
  check "after remove: binaries and units gone" sh -c \
    '! [ -e /usr/bin/jobcontrold ] && ! [ -e /usr/bin/jobctl ] && ! [ -e /lib/systemd/system/jobcontrold.service ] && ! [ -e /usr/share/jobcontrol ]'
  check "after remove: conffiles and /var/lib/jobcontrol kept" sh -c \
    'grep -q "changed by deb_install_test" /etc/jobcontrol/jobcontrol.yaml && [ -d /var/lib/jobcontrol ] && dpkg-query -W -f="\${Status}" jobcontrol | grep -q "deinstall ok config-files"'
  check "dpkg -P jobcontrol" dpkg -P jobcontrol
  check "after purge: /etc/jobcontrol, /var/lib/jobcontrol, /run/jobcontrol gone" sh -c \
    '! [ -e /etc/jobcontrol ] && ! [ -e /var/lib/jobcontrol ] && ! [ -e /run/jobcontrol ]'
  check "after purge: no unit links or deb-systemd-helper state left" sh -c \
    '! find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked -name "*jobcontrold*" 2>/dev/null | grep .'
  check "after purge: dpkg knows nothing of jobcontrol" sh -c '! dpkg-query -W -f="\${Status}" jobcontrol 2>/dev/null | grep -q .'
  check "after purge: the jobcontrol user stays (Debian convention)" getent passwd jobcontrol
}

# ---------------------------------------------------------------------------------------------
# Phase 2, in the namespace: the overlay, the chroot. Arguments: WORK DEB DBGSYM.
in_namespace() {
  local work=$1 deb=$2 dbgsym=$3
  local layers=$work/layers root=$work/layers/root
  setup_failed() { say "FAIL: could not set up the throwaway root: $*"; exit 1; }
  mount --make-rprivate / || setup_failed "mount --make-rprivate /"
  mount -t tmpfs -o mode=0755,size=4g jobcontrol-deb-test "$work/layers" || setup_failed "tmpfs"
  mkdir -p "$root"
  local directory name
  for directory in / /usr /var /etc /opt; do
    [ "$directory" = / ] || mountpoint -q "$directory" || continue
    name=$(echo "$directory" | tr / _)
    mkdir -p "$layers/upper$name" "$layers/work$name"
    mount -t overlay "overlay$name" -o "lowerdir=$directory,upperdir=$layers/upper$name,workdir=$layers/work$name" "$root$directory" ||
      setup_failed "overlayfs on $directory"
    [ "$directory" = / ] || say "note: $directory is a mount of its own: overlaid too"
  done
  mount -t proc proc "$root/proc" &&
    mount --rbind /dev "$root/dev" &&
    mount --rbind /sys "$root/sys" &&
    mount -t tmpfs -o mode=0755 run "$root/run" &&
    mount -t tmpfs -o mode=1777 tmp "$root/tmp" || setup_failed "/proc, /dev, /sys, /run, /tmp"
  mkdir -p "$root/tmp/debs"
  cp "$self" "$root/tmp/deb_install_test.sh" && cp "$deb" "$root/tmp/debs/" || setup_failed "copying the packages"
  local inner_dbgsym=""
  if [ -n "$dbgsym" ]; then
    cp "$dbgsym" "$root/tmp/debs/" || setup_failed "copying the packages"
    inner_dbgsym=/tmp/debs/$(basename "$dbgsym")
  fi
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
    bash /tmp/deb_install_test.sh --in-chroot "/tmp/debs/$(basename "$deb")" "$inner_dbgsym"
}

# ---------------------------------------------------------------------------------------------
# Phase 1, on the machine: lintian, the namespace, and the machine compared before and after.
host_state() {
  echo "user: $(getent passwd jobcontrol || echo none)"
  echo "group: $(getent group jobcontrol || echo none)"
  md5sum /etc/passwd /etc/group /etc/shadow /etc/gshadow 2>&1
  local path
  for path in /etc/jobcontrol /var/lib/jobcontrol /run/jobcontrol /usr/bin/jobcontrold /usr/bin/jobctl \
    /lib/systemd/system/jobcontrold.service /lib/systemd/system/jobcontrold.socket \
    /usr/lib/sysusers.d/jobcontrol.conf /usr/lib/tmpfiles.d/jobcontrol.conf /usr/share/jobcontrol \
    /etc/systemd/system/multi-user.target.wants/jobcontrold.service \
    /etc/systemd/system/sockets.target.wants/jobcontrold.socket; do
    if [ -e "$path" ] || [ -L "$path" ]; then
      echo "$path: $(find "$path" -printf '%p %s %T@\n' 2>/dev/null | md5sum)"
    else
      echo "$path: absent"
    fi
  done
  dpkg-query -W -f='${Package} ${Status}\n' jobcontrol jobcontrol-dbgsym 2>/dev/null
}

main() {
  if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $self PATH_TO_DEB [PATH_TO_DBGSYM]" >&2
    exit 64
  fi
  [ "$(id -u)" -eq 0 ] || { say "FAIL: needs root (unshare, mount, chroot)"; exit 1; }
  local deb dbgsym=""
  deb=$(realpath "$1") || exit 1
  [ -f "$deb" ] || { say "FAIL: no such package: $1"; exit 1; }
  if [ $# -eq 2 ]; then
    dbgsym=$(realpath "$2") && [ -f "$dbgsym" ] || { say "FAIL: no such package: $2"; exit 1; }
  else
    local guess
    guess=$(dirname "$deb")/$(basename "$deb" | sed 's/^jobcontrol_/jobcontrol-dbgsym_/')
    [ -f "$guess" ] && [ "$guess" != "$deb" ] && dbgsym=$guess
  fi
  local tool
  for tool in unshare chroot dpkg lintian readelf setpriv; do
    command -v "$tool" > /dev/null || { say "FAIL: $tool is missing"; exit 1; }
  done
  local started=$SECONDS
  work=$(mktemp -d "${TMPDIR:-/tmp}/deb-install-test.XXXXXX") || exit 1
  mkdir -p "$work/layers"
  namespace_pid="" tail_pid="" # global, as work is: the EXIT trap reads them
  cleanup() {
    # The namespace's mounts and processes end with it; --kill-child makes sure it ends.
    [ -n "$namespace_pid" ] && kill -TERM "$namespace_pid" 2>/dev/null && wait "$namespace_pid" 2>/dev/null
    [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null && wait "$tail_pid" 2>/dev/null
    mountpoint -q "$work/layers" 2>/dev/null && umount -l "$work/layers"
    rm -rf "$work"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM

  # lintian: errors and warnings that are not overridden fail the test.
  local lintian_output
  # Its temporary files (mldbm-elf-*, which it leaves behind) go with the work directory.
  lintian_output=$(TMPDIR="$work" lintian --allow-root --display-info --pedantic --display-experimental --info "$deb" ${dbgsym:+"$dbgsym"} 2>&1)
  say "lintian output:"
  if [ -n "$lintian_output" ]; then printf '%s\n' "$lintian_output" | sed 's/^/    /'; else echo "    (none)"; fi
  if printf '%s\n' "$lintian_output" | grep -q -E '^[EW]: '; then
    fail "lintian reports errors or warnings that are not overridden"
  else
    say "ok: lintian: no error or warning that is not overridden"
  fi

  local before after
  before=$(host_state)
  # Bounded: a stuck step ends the namespace (SIGKILL to its init, so to everything in it).
  timeout --kill-after=10 600 unshare --mount --pid --fork --kill-child --propagation private \
    bash "$self" --in-namespace "$work" "$deb" "$dbgsym" > "$work/namespace.log" 2>&1 &
  namespace_pid=$!
  # Shown as it comes (a stuck step is seen where it sticks), kept for the verdict.
  tail -n +1 -F --pid="$namespace_pid" "$work/namespace.log" 2> /dev/null &
  tail_pid=$!
  wait "$namespace_pid"
  local namespace_status=$?
  namespace_pid=""
  wait "$tail_pid"
  tail_pid=""
  local inner_failures
  inner_failures=$(grep -c '^deb-install-test: FAIL' "$work/namespace.log")
  failures=$((failures + inner_failures))
  if [ "$namespace_status" -ne 0 ] && [ "$inner_failures" -eq 0 ]; then
    fail "the namespace ended with status $namespace_status"
  fi
  grep -q '^deb-install-test: ok: dpkg -P jobcontrol' "$work/namespace.log" || fail "the install test did not run to its end"

  after=$(host_state)
  if [ "$before" = "$after" ]; then
    say "ok: the machine is unchanged (users, /etc/jobcontrol, units, dpkg database)"
  else
    fail "the machine changed:"
    diff <(echo "$before") <(echo "$after") | sed 's/^/    /'
  fi
  say "took $((SECONDS - started)) s"
  if [ "$failures" -ne 0 ]; then
    say "$failures check(s) failed"
    exit 1
  fi
  say "ok"
}

case ${1:-} in
  --in-chroot)
    shift
    in_chroot "$@"
    [ "$failures" -eq 0 ]
    ;;
  --in-namespace)
    shift
    in_namespace "$@"
    ;;
  *) main "$@" ;;
esac
