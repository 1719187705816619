#!/usr/bin/env python3
"""Checks the crontab corpus of `jobctl import cron` against croniter (an independent
implementation), and prints the expected schedules.

    python3 check_corpus.py [-n N] [--cross-check] [FILE...]
    python3 check_corpus.py --jobs [FILE...]

FILEs default to every *.crontab beside this script, in name order. A file named
system-*.crontab is in /etc/crontab / /etc/cron.d format (5 time fields, a USER column,
then the command); any other file (user-*.crontab) is a user crontab (5 time fields, then
the command).

Default output, one line per job line, in file order:

    FILE:LINE<TAB>EXPRESSION<TAB>T1,T2,...,T50
    FILE:LINE<TAB>@reboot<TAB>                      (no elapses)
    FILE:LINE<TAB>INVALID<TAB>REASON                (a line marked '# invalid: ...')

  EXPRESSION is the five time fields joined by single spaces (tabs and runs of blanks
  collapsed), or the @shortcut as written. Tn are the next N (default 50) elapses strictly
  after 2026-01-01 00:00:00 UTC, as Unix seconds, computed by croniter with day_or=True
  (day-of-month and day-of-week ORed when both are restricted, as in cron). A job under
  a cronie `CRON_TZ=ZONE` assignment is matched in ZONE's wall-clock time; its elapses
  are still printed as Unix seconds (no corpus schedule lies in a DST gap or overlap).

--jobs prints instead one JSON object per job line: file, line, schedule, zone (CRON_TZ
in effect, or null), user (system files; null otherwise), command and stdin after cron's
% processing (see below), env (the assignments in effect, in file order, values unquoted
as cron does), or {file, line, invalid} for a line marked invalid. This is this
script's own reading of cron's rules (cronie's entry.c, env.c and do_command.c, same as
Debian's cron), not an independent oracle.

--cross-check also compares every elapse list with ../../cron-reference.py (the
project's brute-force reference for cron-corpus.txt), and reports any difference.

Rules this script applies (and checks the corpus against):
  * blank lines and lines whose first non-blank character is '#' are comments. A comment
    `# invalid: REASON` marks the job line right after it as one that must be rejected.
  * an environment assignment is a line `NAME=value` or `NAME = value`, NAME an identifier;
    it is recognised before the line is tried as a job. The value is unquoted as cronie's
    load_env does: leading blanks skipped; a value in '...' or "..." is the text between
    the quotes (nothing but blanks may follow); otherwise trailing blanks are trimmed.
  * a job line is 5 time fields or an @shortcut (@reboot @yearly @annually @monthly
    @weekly @daily @midnight @hourly, lower case), then in system files a USER, then the
    command (the rest of the line, leading blanks skipped). A '#' inside the command is part
    of it.
  * every valid line must also pass a strict Vixie-cron/cronie field grammar (croniter
    accepts more, e.g. '5/10', '@HOURLY', 'L', '7-7' -- see the README), and croniter must
    accept it; every line marked invalid must fail one of the two.

Exit status: 0 when every line is classified as its marking says (and, with
--cross-check, croniter and the reference agree), 1 otherwise.
"""
import glob
import importlib.util
import json
import os
import re
import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from croniter import croniter

BASE = datetime(2026, 1, 1, 0, 0, 0, tzinfo=timezone.utc)
HERE = os.path.dirname(os.path.abspath(__file__))
SHORTCUTS = {"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
ENV_RE = re.compile(r"^[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=(.*)$")
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DOWS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# name, low, high, names, value of names[0]
FIELDS = [("minute", 0, 59, None, 0), ("hour", 0, 23, None, 0), ("day-of-month", 1, 31, None, 0),
          ("month", 1, 12, MONTHS, 1), ("day-of-week", 0, 7, DOWS, 0)]


class Invalid(Exception):
    pass


# ------------------------------------------------------------------ strict field grammar
def _value(tok, field):
    name, lo, hi, names, first = field
    if tok.isascii() and tok.isdigit():
        v = int(tok)
    elif names and tok.isascii() and tok.isalpha() and tok.lower() in names:
        v = names.index(tok.lower()) + first
    else:
        raise Invalid(f"bad {name} value {tok!r}")
    if not lo <= v <= hi:
        raise Invalid(f"{name} value {v} out of range {lo}-{hi}")
    return v


def check_field(text, field):
    """Vixie cron / cronie syntax: element{,element}; element = * | V | V-V, with /STEP
    only after * or V-V; V a number or (month, weekday) a three-letter name."""
    name = field[0]
    for part in text.split(","):
        rng, slash, step = part.partition("/")
        if slash and not (step.isascii() and step.isdigit() and int(step) > 0):
            raise Invalid(f"bad step {step!r} in {name} field {text!r}")
        if rng == "*":
            continue
        if "-" in rng:
            a, _, b = rng.partition("-")
            if _value(a, field) > _value(b, field):
                raise Invalid(f"reversed range {rng!r} in {name} field")
        elif slash:
            raise Invalid(f"step after a single value {part!r} in {name} field (not Vixie cron)")
        else:
            _value(rng, field)


# ------------------------------------------------------------------ cron's rules
def env_value(raw):
    """cronie load_env: the value of NAME=raw, or raise Invalid."""
    v = raw.lstrip(" \t")
    if v[:1] in ("'", '"'):
        q = v[0]
        end = v.find(q, 1)
        if end < 0:
            raise Invalid("unterminated quote in assignment")
        if v[end + 1:].strip(" \t"):
            raise Invalid("text after the closing quote (cron would read a job line)")
        return v[1:end]
    return v.rstrip(" \t")


def split_percent(cmd):
    """cronie do_command.c: (command, stdin). '\\%' -> '%' in both; the first unescaped
    '%' ends the command; in stdin each unescaped '%' is a newline, '\\x' stays '\\x', and
    a newline is appended when the data does not end with one."""
    out, escaped, data = [], False, None
    for i, ch in enumerate(cmd):
        if escaped:
            if ch == "%":
                out[-1] = "%"
            else:
                out.append(ch)
            escaped = False
            continue
        if ch == "\\":
            out.append(ch)
            escaped = True
            continue
        if ch == "%":
            data = cmd[i + 1:]
            break
        out.append(ch)
    stdin = []
    if data:
        escaped = need_newline = False
        for ch in data:
            if escaped:
                if ch != "%":
                    stdin.append("\\")
            elif ch == "%":
                ch = "\n"
            escaped = ch == "\\"
            if not escaped:
                stdin.append(ch)
                need_newline = ch != "\n"
        if escaped:
            stdin.append("\\")
        if need_newline:
            stdin.append("\n")
    return "".join(out), "".join(stdin)


def parse_job(line, system):
    """(schedule, user, command) of a job line, or raise Invalid."""
    body = line.lstrip(" \t")
    if body.startswith("@"):
        word, *rest = re.split(r"[ \t]+", body, maxsplit=1)
        if word not in SHORTCUTS:
            raise Invalid(f"unknown shortcut {word!r}")
        schedule, rest = word, (rest[0] if rest else "")
    else:
        parts = re.split(r"[ \t]+", body.rstrip(" \t"), maxsplit=5)
        if len(parts) < 6:
            raise Invalid(f"only {len(parts)} words: expected 5 time fields and a command")
        for text, field in zip(parts[:5], FIELDS):
            check_field(text, field)
        schedule, rest = " ".join(parts[:5]), parts[5]
        if rest.startswith("*"):
            raise Invalid("a sixth time field? (cron rejects a command starting with '*')")
    user = None
    if system:
        words = re.split(r"[ \t]+", rest, maxsplit=1)
        if len(words) < 2 or not words[1].strip(" \t"):
            raise Invalid("no USER and command after the schedule")
        user, rest = words
    if not rest.strip(" \t"):
        raise Invalid("no command")
    return schedule, user, rest


def elapses(schedule, zone, n):
    if schedule == "@reboot":
        return []
    base = BASE.astimezone(ZoneInfo(zone)) if zone else BASE
    try:
        it = croniter(schedule, base, day_or=True)
        return [int(it.get_next(datetime).timestamp()) for _ in range(n)]
    except Exception as e:  # croniter's own error classes, ValueError, ...
        raise Invalid(f"croniter: {type(e).__name__}: {e}")


def croniter_verdict(line):
    """What croniter alone says of a rejected line's schedule part."""
    words = re.split(r"[ \t]+", line.strip(" \t"))
    expr = words[0] if words[0].startswith("@") else " ".join(words[:5])
    try:
        croniter(expr, BASE, day_or=True).get_next(datetime)
    except Exception as e:
        return f"croniter also rejects {expr!r} ({type(e).__name__})"
    return f"croniter alone would accept {expr!r}"


# ------------------------------------------------------------------ corpus walk
def read_corpus(path):
    """Yields dicts: kind 'job' | 'invalid' | 'error' for each job line of one file."""
    system = os.path.basename(path).startswith("system-")
    env = {}
    pending = None  # reason from a '# invalid:' comment on the previous line
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip("\n")
            marked, pending = pending, None
            body = line.strip(" \t")
            if not body:
                continue
            if body.startswith("#"):
                m = re.match(r"#\s*invalid:\s*(.*)$", body)
                if m:
                    pending = m.group(1)
                continue
            where = {"file": os.path.basename(path), "line": no, "marked": marked}
            m = ENV_RE.match(line)
            if m:
                try:
                    env[m.group(1)] = env_value(m.group(2))
                except Invalid as e:
                    yield {**where, "kind": "error", "reason": f"assignment: {e}"}
                if marked:
                    yield {**where, "kind": "error", "reason": "a line marked invalid is an assignment"}
                continue
            try:
                schedule, user, command = parse_job(line, system)
                zone = env.get("CRON_TZ") or None
                times = elapses(schedule, zone, ARGS["n"])
            except Invalid as e:
                yield {**where, "kind": "invalid", "reason": f"{e}; {croniter_verdict(line)}"}
                continue
            cmd, stdin = split_percent(command)
            yield {**where, "kind": "job", "schedule": schedule, "zone": zone, "user": user,
                   "command": cmd, "stdin": stdin, "env": dict(env), "elapses": times}


def load_reference():
    path = os.path.join(HERE, "..", "..", "cron-reference.py")
    sys.dont_write_bytecode = True  # no __pycache__ in Fixtures/
    spec = importlib.util.spec_from_file_location("cron_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ARGS = {"n": 50}


def main(argv):
    jobs_mode = cross = False
    files = []
    it = iter(argv)
    for a in it:
        if a == "--jobs":
            jobs_mode = True
        elif a == "--cross-check":
            cross = True
        elif a == "-n":
            ARGS["n"] = int(next(it))
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            files.append(a)
    files = files or sorted(glob.glob(os.path.join(HERE, "*.crontab")))
    ref = load_reference() if cross else None

    bad = n_jobs = n_invalid = n_reboot = n_mismatch = 0
    for path in files:
        for r in read_corpus(path):
            tag = f"{r['file']}:{r['line']}"
            if r["kind"] == "error":
                print(f"ERROR {tag}: {r['reason']}", file=sys.stderr)
                bad += 1
            elif r["kind"] == "invalid":
                if not r["marked"]:
                    print(f"ERROR {tag}: rejected but not marked '# invalid:': {r['reason']}", file=sys.stderr)
                    bad += 1
                    continue
                n_invalid += 1
                if jobs_mode:
                    print(json.dumps({"file": r["file"], "line": r["line"], "invalid": r["reason"]}))
                else:
                    print(f"{tag}\tINVALID\t{r['reason']}")
            else:
                if r["marked"]:
                    print(f"ERROR {tag}: marked invalid ({r['marked']}) but accepted", file=sys.stderr)
                    bad += 1
                    continue
                n_jobs += 1
                n_reboot += r["schedule"] == "@reboot"
                if jobs_mode:
                    print(json.dumps({k: r[k] for k in
                                      ("file", "line", "schedule", "zone", "user", "command", "stdin", "env")}))
                else:
                    print(f"{tag}\t{r['schedule']}\t{','.join(map(str, r['elapses']))}")
                if ref and r["schedule"] != "@reboot":
                    want = [int(u.timestamp()) for u in ref.next_fires_wallclock(
                        ref.parse(r["schedule"]), r["zone"] or "UTC", BASE, ARGS["n"], max_years=ARGS["n"] + 10)]
                    if want != r["elapses"]:
                        n_mismatch += 1
                        diff = next(i for i, (a, b) in enumerate(zip(want + [None] * 99, r["elapses"])) if a != b)
                        print(f"MISMATCH {tag} {r['schedule']!r}: croniter and cron-reference.py differ"
                              f" from elapse #{diff + 1}", file=sys.stderr)
    print(f"{len(files)} files: {n_jobs} job lines ({n_reboot} @reboot), {n_invalid} invalid lines, "
          f"{bad} errors" + (f", {n_mismatch} cross-check mismatches" if cross else ""), file=sys.stderr)
    return 0 if bad == 0 and n_mismatch == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
