#!/usr/bin/env python3
"""Checks the systemd timer corpus of `jobctl import timer` against the real systemd
(`systemd-analyze`, systemd 252 here), and prints what the importer should find.

    python3 check_corpus.py [--elapses] [--no-verify] [DIR]
    python3 check_corpus.py --effective [DIR]

DIR defaults to the directory of this script. For every NAME.timer in DIR (name order),
the unit file is read and then its drop-ins DIR/NAME.timer.d/*.conf in file-name order,
as systemd does; an empty `OnCalendar=` drops every OnCalendar= read before it. Each
effective OnCalendar= expression is run through

    TZ=UTC systemd-analyze calendar --iterations=50 \\
        --base-time='2026-01-01 00:00:00 UTC' -- EXPR

Default output, one line per effective expression:

    TIMER<TAB>EXPR<TAB>ok                  systemd accepts EXPR
    TIMER<TAB>EXPR<TAB>ERROR: MESSAGE      it does not (exit status 1)
    TIMER<TAB>-<TAB>monotonic only         a timer with no OnCalendar= (OnBootSec= ...)
    TIMER<TAB>EXPR<TAB>ok<TAB>reset        written in the unit or a drop-in, but dropped by a
                                           later empty OnCalendar= (checked all the same)

--elapses replaces `ok` by the elapses systemd-analyze prints (up to 50, strictly after
the base time) as comma-separated Unix seconds. Expressions with an explicit zone
(`... Europe/Berlin`) are evaluated in that zone; all others in UTC (TZ=UTC).

--effective prints instead one JSON object per timer: the unit it activates (Unit= or
NAME.service), the drop-ins read, the effective OnCalendar= list, the monotonic settings,
the other [Timer] settings, and the activated service's effective settings after its own
drop-ins (list-valued keys such as ExecStart=, Environment= accumulate and are reset by an
empty assignment; other keys: the last value wins). Values are raw: continuation lines
joined (the trailing backslash becomes a space), no unquoting, no specifier or variable
expansion. This is this script's reading of systemd.unit(5), not systemd's own output.

Also checked (exit status 1 on any failure):
  * every timer has an OnCalendar= or a monotonic setting after its drop-ins;
  * the unit it activates exists in DIR;
  * unless --no-verify: `systemd-analyze verify` loads every unit in DIR (with drop-ins)
    without complaint, apart from the ExecStart= programs and the units outside the corpus
    that do not exist on this machine.
"""
import glob
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone

BASE = "2026-01-01 00:00:00 UTC"
ITERATIONS = 50
HERE = os.path.dirname(os.path.abspath(__file__))
MONOTONIC = ["OnActiveSec", "OnBootSec", "OnStartupSec", "OnUnitActiveSec", "OnUnitInactiveSec"]
LIST_KEYS = {
    # [Unit]
    "Documentation", "After", "Before", "Wants", "Requires", "Requisite", "BindsTo", "PartOf",
    "Conflicts", "OnFailure", "OnSuccess", "RequiresMountsFor",
    # [Timer]
    "OnCalendar", *MONOTONIC,
    # [Service]
    "ExecCondition", "ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop",
    "ExecStopPost", "Environment", "EnvironmentFile", "PassEnvironment", "UnsetEnvironment",
    "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "ExecPaths", "NoExecPaths",
    "SuccessExitStatus", "RestartPreventExitStatus", "SupplementaryGroups", "AmbientCapabilities",
    "CapabilityBoundingSet", "SystemCallFilter", "StateDirectory", "CacheDirectory",
    "LogsDirectory", "RuntimeDirectory", "ConfigurationDirectory",
    # [Install]
    "WantedBy", "RequiredBy", "Alias", "Also",
}


def read_unit_file(path):
    """[(section, key, value)] as systemd's config parser reads them: blank lines and lines
    starting with '#' or ';' skipped (also inside a continuation), a line ending in an odd
    number of backslashes continued on the next one (that backslash becomes a space), keys
    and values stripped."""
    out, section, cont = [], None, None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            s = line.lstrip()
            if s[:1] in ("#", ";"):
                continue
            text = (cont + line) if cont is not None else line
            m = re.search(r"(\\+)$", text)
            if m and len(m.group(1)) % 2 == 1:
                cont = text[:-1] + " "
                continue
            cont = None
            text = text.strip()
            if not text:
                continue
            if text.startswith("[") and text.endswith("]"):
                section = text[1:-1]
                continue
            key, eq, value = text.partition("=")
            if not eq:
                raise SystemExit(f"{path}: not an assignment: {text!r}")
            out.append((section, key.strip(), value.strip()))
    if cont is not None:
        out.append(("?", "?", cont))
    return out


def effective(paths):
    """Effective settings from a unit file and its drop-ins: {section: {key: value or [values]}}."""
    eff = {}
    for path in paths:
        for section, key, value in read_unit_file(path):
            sec = eff.setdefault(section, {})
            if key in LIST_KEYS or key.startswith(("Condition", "Assert")):
                if value == "":
                    sec[key] = []
                else:
                    sec.setdefault(key, []).append(value)
            else:
                sec[key] = value
    return eff


def unit_paths(directory, name):
    return [os.path.join(directory, name)] + sorted(glob.glob(os.path.join(directory, name + ".d", "*.conf")))


def analyze(expr):
    """(ok, error message or None, [unix seconds])"""
    env = dict(os.environ, TZ="UTC", LC_ALL="C", SYSTEMD_COLORS="0", SYSTEMD_PAGER="")
    p = subprocess.run(["systemd-analyze", "calendar", f"--iterations={ITERATIONS}",
                        f"--base-time={BASE}", "--", expr],
                       capture_output=True, text=True, env=env)
    out = p.stdout + p.stderr
    if p.returncode != 0 or "Normalized form:" not in out:
        msg = " ".join(l.strip() for l in out.splitlines() if l.strip()) or f"exit status {p.returncode}"
        return False, msg, []
    stamps, pending = [], None
    for line in out.splitlines():
        m = re.match(r"^\s*(Next elapse|Iter\. #\d+|\(in UTC\)):\s+\w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (\S+)$", line)
        if not m:
            continue
        label, when, zone = m.groups()
        if label == "(in UTC)":
            pending = (when, "UTC")
            continue
        if pending:
            stamps.append(pending)
        pending = (when, zone)
    if pending:
        stamps.append(pending)
    secs = []
    for when, zone in stamps:
        if zone != "UTC":
            return False, f"cannot read elapse {when} {zone} (expected UTC)", []
        secs.append(int(datetime.strptime(when, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()))
    return True, None, secs


VERIFY_IGNORED = [
    re.compile(r"Command .* is not executable"),
    re.compile(r"Unit \S+ not found"),
]


def verify(directory):
    """Problems systemd-analyze verify reports for the corpus (minus the ignored ones)."""
    units = sorted(glob.glob(os.path.join(directory, "*.timer")) + glob.glob(os.path.join(directory, "*.service")))
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True,
                       env=dict(os.environ, SYSTEMD_COLORS="0", SYSTEMD_LOG_COLOR="0"))
    lines = [l for l in (p.stdout + p.stderr).splitlines() if l.strip()]
    return [l for l in lines if not any(r.search(l) for r in VERIFY_IGNORED)]


def main(argv):
    mode = "ok"
    do_verify = True
    directory = HERE
    for a in argv:
        if a == "--elapses":
            mode = "elapses"
        elif a == "--effective":
            mode = "effective"
        elif a == "--no-verify":
            do_verify = False
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            directory = a

    timers = sorted(os.path.basename(p) for p in glob.glob(os.path.join(directory, "*.timer")))
    bad = n_expr = n_mono_only = 0
    for timer in timers:
        name = timer[: -len(".timer")]
        tpaths = [p for p in unit_paths(directory, timer) if os.path.exists(p)]
        teff = effective(tpaths)
        tsec = teff.get("Timer", {})
        calendars = tsec.get("OnCalendar", [])
        mono = {k: tsec[k] for k in MONOTONIC if tsec.get(k)}
        unit = tsec.get("Unit", name + ".service")
        if not calendars and not mono:
            print(f"ERROR {timer}: no OnCalendar= and no monotonic setting", file=sys.stderr)
            bad += 1
        if not os.path.exists(os.path.join(directory, unit)):
            print(f"ERROR {timer}: activates {unit}, which is not in the corpus", file=sys.stderr)
            bad += 1
            spaths = []
        else:
            spaths = [p for p in unit_paths(directory, unit) if os.path.exists(p)]

        if mode == "effective":
            n_expr += len(calendars)
            n_mono_only += not calendars
            seff = effective(spaths)
            print(json.dumps({
                "timer": timer, "unit": unit,
                "dropins": [os.path.relpath(p, directory) for p in tpaths[1:]],
                "OnCalendar": calendars, "monotonic": mono,
                "timer_options": {k: v for k, v in tsec.items() if k not in LIST_KEYS and k != "Unit"},
                "timer_unit_section": teff.get("Unit", {}), "timer_install": teff.get("Install", {}),
                "service": {"dropins": [os.path.relpath(p, directory) for p in spaths[1:]], **seff},
            }, ensure_ascii=False))
            continue

        if not calendars:
            n_mono_only += 1
            print(f"{timer}\t-\tmonotonic only")
        # Expressions written in the files but dropped by a later empty OnCalendar=: checked
        # too (the corpus must be valid throughout), printed with a fourth column "reset".
        written = [v for p in tpaths for sec, k, v in read_unit_file(p) if sec == "Timer" and k == "OnCalendar" and v]
        for expr in written[: len(written) - len(calendars)]:
            n_expr += 1
            ok, err, secs = analyze(expr)
            if not ok:
                bad += 1
                print(f"{timer}\t{expr}\tERROR: {err}\treset")
            elif mode == "elapses":
                print(f"{timer}\t{expr}\t{','.join(map(str, secs))}\treset")
            else:
                print(f"{timer}\t{expr}\tok\treset")
        for expr in calendars:
            n_expr += 1
            ok, err, secs = analyze(expr)
            if not ok:
                bad += 1
                print(f"{timer}\t{expr}\tERROR: {err}")
            elif mode == "elapses":
                print(f"{timer}\t{expr}\t{','.join(map(str, secs))}")
            else:
                print(f"{timer}\t{expr}\tok")

    if do_verify and mode != "effective":
        problems = verify(directory)
        for l in problems:
            print(f"ERROR verify: {l}", file=sys.stderr)
        bad += len(problems)
    version = subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"{version}: {len(timers)} timers, {n_expr} OnCalendar expressions, {n_mono_only} monotonic-only timers,"
          f" {bad} errors", file=sys.stderr)
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
