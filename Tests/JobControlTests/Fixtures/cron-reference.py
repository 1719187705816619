#!/usr/bin/env python3
"""Independent brute-force reference for classic 5-field cron (Vixie cron / cronie
field syntax), used to generate and check cron-corpus.txt.

    cron-reference.py                      print the corpus to stdout
    cron-reference.py --write [PATH]       (re)write cron-corpus.txt (default: next to this script)
    cron-reference.py --check [PATH]       recompute every line of an existing corpus, exit 1 on mismatch
    cron-reference.py --selftest           cross-check the two search methods on every case
    cron-reference.py EXPR ZONE BASE [N]   ad-hoc query, BASE as 'YYYY-MM-DD HH:MM:SS UTC'

Semantics implemented (see also the header written into the corpus):
  * fields: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or jan..dec,
    day-of-week 0-7 or sun..sat (0 and 7 are Sunday). Names are exactly three letters,
    case-insensitive, allowed wherever a number is (also as range ends) except in steps.
  * element := '*' | N | N-M, optionally followed by '/STEP' for '*' and N-M only
    (cronie rejects 'N/STEP'); list := element{,element}. STEP >= 1; N <= M; all values
    in range. Exactly five whitespace-separated fields.
  * day rule (cronie): if the day-of-month or the day-of-week field starts with '*'
    (this includes '*/2'), a day must match both fields; otherwise it must match either.
  * @yearly @annually @monthly @weekly @daily @midnight @hourly (lower case only, as in
    cronie, which compares with strcmp). @reboot has no schedule and is not covered.
  * time zones, with Vixie cron's DST rules (man 8 cron; cronie has the same): schedules
    are matched against local wall-clock time. A job is "wildcard" when its minute or hour
    field starts with '*' (cron's MIN_STAR/HR_STAR; @hourly is one), else "fixed-time".
    A local time skipped by a spring-forward change: a fixed-time job fires at the change
    (the first instant after the gap, "soon after the change"); a wildcard job does not fire
    for it. A local time that occurs twice (fall-back overlap): a fixed-time job fires once,
    at its first occurrence; a wildcard job fires at both ("based on the new time").
  * results are the first N fire instants strictly after BASE.

Two independent search methods are implemented:
  next_fires_wallclock  iterates local wall-clock minutes and maps matches to UTC
                        (gap -> the change's instant or nothing, overlap -> one or both);
  next_fires_utc        iterates UTC minutes and fires when the local rendering matches
                        (a second pass only for wildcard jobs), or, for a fixed-time job,
                        when the clock has just jumped over a matching local minute.
The corpus is produced with the first; --selftest compares both.
"""
import os
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DOWS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# name, low, high, names, offset added to a name's index
FIELDS = [("minute", 0, 59, None, 0), ("hour", 0, 23, None, 0), ("day-of-month", 1, 31, None, 0),
          ("month", 1, 12, MONTHS, 1), ("day-of-week", 0, 7, DOWS, 0)]
SPECIALS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}


class CronError(ValueError):
    pass


def _value(tok, field):
    name, lo, hi, names, off = field
    if tok.isdigit() and tok.isascii():
        v = int(tok)
    elif names and tok.isalpha() and tok.lower() in names:
        v = names.index(tok.lower()) + off
    else:
        raise CronError(f"bad {name} value {tok!r}")
    if not lo <= v <= hi:
        raise CronError(f"{name} value {v} out of range {lo}-{hi}")
    return v


def _field(text, field):
    name, lo, hi, _, _ = field
    out = set()
    for part in text.split(","):
        if part == "":
            raise CronError(f"empty element in {name} field {text!r}")
        rng, slash, step = part.partition("/")
        if slash:
            if not (step.isdigit() and step.isascii()) or int(step) == 0:
                raise CronError(f"bad step {step!r} in {name}")
            step = int(step)
        else:
            step = 1
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            x, _, y = rng.partition("-")
            a, b = _value(x, field), _value(y, field)
            if a > b:
                raise CronError(f"reversed range {rng!r} in {name}")
        else:
            if slash:
                raise CronError(f"step on a single value {part!r} in {name}")
            a = b = _value(rng, field)
        out.update(range(a, b + 1, step))
    return out


def parse(expr):
    """Returns (minutes, hours, doms, months, dows, dom_star, dow_star)."""
    expr = expr.strip()
    if expr.startswith("@"):
        if expr not in SPECIALS:
            raise CronError(f"unknown special {expr!r}")
        expr = SPECIALS[expr]
    parts = expr.split()
    if len(parts) != 5:
        raise CronError(f"expected 5 fields, got {len(parts)}")
    sets = [_field(p, f) for p, f in zip(parts, FIELDS)]
    if 7 in sets[4]:
        sets[4].add(0)
    sets[4].discard(7)
    return (*sets, parts[2].startswith("*"), parts[4].startswith("*"))


def is_wildcard(expr):
    """Vixie cron's MIN_STAR or HR_STAR: the minute or the hour field starts with '*'."""
    expr = SPECIALS.get(expr.strip(), expr.strip())
    parts = expr.split()
    return parts[0].startswith("*") or parts[1].startswith("*")


def day_matches(spec, d):
    _, _, doms, months, dows, dom_star, dow_star = spec
    if d.month not in months:
        return False
    dom_ok = d.day in doms
    dow_ok = (d.isoweekday() % 7) in dows
    return (dom_ok and dow_ok) if (dom_star or dow_star) else (dom_ok or dow_ok)


def wall_to_utcs(naive, zone):
    """The UTC instants of a local wall-clock time, ascending: none in a gap, two in an
    overlap, else one."""
    out = []
    for fold in (0, 1):
        u = naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if u.astimezone(zone).replace(tzinfo=None) == naive and u not in out:
            out.append(u)
    return sorted(out)


def gap_end(naive, zone):
    """The instant a spring-forward gap containing `naive` ends: that of the first local
    minute after it that exists."""
    t = naive
    while True:
        t += timedelta(minutes=1)
        us = wall_to_utcs(t, zone)
        if us:
            return us[0]


def next_fires_wallclock(spec, zone_name, base, n=3, max_years=40, wild=False):
    zone = ZoneInfo(zone_name)
    mins, hours = spec[0], spec[1]
    # start a few hours before BASE in wall-clock terms; results are filtered by > BASE
    t = (base - timedelta(hours=6)).astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    limit = t + timedelta(days=366 * max_years)
    found = set()
    while t < limit:
        # wall-clock order is not instant order in an overlap: go on until no wall time
        # left can map to an instant before the n-th found
        if len(found) >= n and t > sorted(found)[n - 1].replace(tzinfo=None) + timedelta(days=2):
            break
        if not day_matches(spec, t):
            t = (t + timedelta(days=1)).replace(hour=0, minute=0)
            continue
        if t.hour in hours and t.minute in mins:
            us = wall_to_utcs(t, zone)
            if not us:
                us = [] if wild else [gap_end(t, zone)]
            elif not wild:
                us = us[:1]
            found.update(u for u in us if u > base)
        t += timedelta(minutes=1)
    return sorted(found)[:n]


def next_fires_utc(spec, zone_name, base, n=3, max_days=800, wild=False):
    zone = ZoneInfo(zone_name)
    mins, hours = spec[0], spec[1]
    u = base.replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = u + timedelta(days=max_days)
    out = []

    def matches(loc):
        return loc.minute in mins and loc.hour in hours and day_matches(spec, loc)

    while len(out) < n and u < limit:
        loc = u.astimezone(zone)
        fire = matches(loc) and (loc.fold == 0 or wild)
        if not fire and not wild:
            # the local clock jumped forward over minutes that match: fire now
            before = (u - timedelta(minutes=1)).astimezone(zone).replace(tzinfo=None)
            w = before + timedelta(minutes=1)
            while w < loc.replace(tzinfo=None) and not fire:
                fire = matches(w)
                w += timedelta(minutes=1)
        if fire and u > base:
            out.append(u)
        u += timedelta(minutes=1)
    return out


def parse_base(s):
    return datetime.strptime(s, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)


def fmt(u):
    return u.strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------- cases
B = "2024-01-01 00:00:00 UTC"      # a Monday
M = "2024-06-15 10:17:23 UTC"      # a Saturday

SECTIONS = [
    ("basics: *, single values, lists, ranges", [
        ("* * * * *", "UTC", B), ("* * * * *", "UTC", "2024-01-01 00:00:30 UTC"),
        ("0 * * * *", "UTC", M), ("30 2 * * *", "UTC", M), ("0 0 1 1 *", "UTC", M),
        ("59 23 31 12 *", "UTC", "2024-12-31 23:59:00 UTC"), ("0,30 8,12,18 * * *", "UTC", M),
        ("5-10 0 * * *", "UTC", "2024-06-15 00:07:00 UTC"), ("15 14 1 * *", "UTC", M),
        ("0 4 8-14 * *", "UTC", M), ("00 05 * * *", "UTC", M), ("0  12 * * *", "UTC", M),
        ("59 23 * * *", "UTC", "2024-06-15 23:59:00 UTC"), ("0 0 1 1 *", "UTC", "2024-12-31 23:59:59 UTC"),
        ("0 0 31 * *", "UTC", M), ("0 0 15 * *", "UTC", M), ("0 0,12 1 */2 *", "UTC", M),
        ("0 9-17 * * 1-5", "UTC", M),
    ]),
    ("steps", [
        ("*/15 * * * *", "UTC", M), ("1-30/7 * * * *", "UTC", M), ("*/7 * * * *", "UTC", "2024-06-15 10:50:00 UTC"),
        ("0 */6 * * *", "UTC", M), ("23 0-20/2 * * *", "UTC", M), ("*/10 */10 */10 */10 *", "UTC", M),
        ("0 0 */2 * *", "UTC", "2024-01-30 12:00:00 UTC"), ("0-59/20 9 * * *", "UTC", M),
        ("*/45 * * * *", "UTC", M), ("0 0 1 */3 *", "UTC", M),
    ]),
    ("names (case-insensitive), 7 = Sunday", [
        ("0 0 * * 0", "UTC", M), ("0 0 * * 7", "UTC", M), ("0 0 * * sun", "UTC", M), ("0 0 * * SUN", "UTC", M),
        ("0 0 * * 0,7", "UTC", M), ("0 0 * * 5-7", "UTC", M), ("0 0 * * 1-7/2", "UTC", M),
        ("0 0 * * */2", "UTC", M), ("0 0 * * 6,0", "UTC", M),
        ("0 9 * * mon-fri", "UTC", M), ("0 9 * * MON,wed,Fri", "UTC", M), ("0 9 * * Tue-Thu", "UTC", M),
        ("0 12 * jan *", "UTC", M), ("0 12 1 JAN,jul *", "UTC", M), ("0 0 1 jan-mar *", "UTC", M),
        ("0 0 31 dec *", "UTC", M), ("0 0 1 Feb-Apr/2 *", "UTC", M), ("30 6 * sep-nov sat", "UTC", M),
    ]),
    ("day-of-month AND day-of-week (OR unless one field starts with '*')", [
        ("0 0 1-7 * mon", "UTC", M), ("0 0 13 * fri", "UTC", M), ("0 0 1,15 * 3", "UTC", M),
        ("0 0 * 2 mon", "UTC", M), ("0 0 1 * *", "UTC", M), ("0 0 * * 1", "UTC", M),
        ("0 0 31 * sun", "UTC", "2024-03-01 00:00:00 UTC"),
        ("0 0 1-31 * mon", "UTC", M),
    ]),
    ("cronie quirk: a field starting with '*' counts as '*' even with a step -> AND", [
        ("0 0 */2 * mon", "UTC", M), ("0 0 1-31/2 * mon", "UTC", M), ("0 0 13 * */5", "UTC", M),
    ]),
    ("@ shortcuts", [
        ("@hourly", "UTC", M), ("@daily", "UTC", M), ("@midnight", "UTC", M), ("@weekly", "UTC", M),
        ("@monthly", "UTC", M), ("@yearly", "UTC", M), ("@annually", "UTC", M),
        ("@daily", "Asia/Kolkata", M), ("@weekly", "America/New_York", M), ("@monthly", "Australia/Sydney", M),
    ]),
    ("Feb 29", [
        ("0 0 29 2 *", "UTC", B), ("0 12 29 2 *", "UTC", "2024-02-29 12:00:00 UTC"),
        ("0 0 29 2 *", "UTC", "2097-01-01 00:00:00 UTC"), ("0 0 29 2 mon", "UTC", B),
        ("0 0 29 feb *", "Europe/Berlin", B), ("59 23 28,29 2 *", "UTC", "2023-02-28 23:59:00 UTC"),
    ]),
    ("zones without a transition near BASE", [
        ("0 9 * * *", "Asia/Kolkata", M), ("30 8 * * 1-5", "Asia/Tokyo", M), ("0 0 * * *", "America/New_York", M),
        ("0 17 * * fri", "Europe/Berlin", M), ("45 23 31 12 *", "Australia/Sydney", M),
        ("0 0 1 1 *", "Pacific/Auckland", "2024-12-31 10:59:59 UTC"),
    ]),
    ("DST Europe/Berlin: spring forward 2024-03-31 02:00 CET -> 03:00 CEST (01:00 UTC)", [
        ("30 2 * * *", "Europe/Berlin", "2024-03-30 12:00:00 UTC"), ("0 2 * * *", "Europe/Berlin", "2024-03-30 12:00:00 UTC"),
        ("0 3 * * *", "Europe/Berlin", "2024-03-30 12:00:00 UTC"), ("*/30 * * * *", "Europe/Berlin", "2024-03-31 00:00:00 UTC"),
        ("@hourly", "Europe/Berlin", "2024-03-30 23:30:00 UTC"), ("59 1 * * *", "Europe/Berlin", "2024-03-30 12:00:00 UTC"),
        ("0-59/20 2 * * *", "Europe/Berlin", "2024-03-30 12:00:00 UTC"),
    ]),
    ("DST Europe/Berlin: fall back 2024-10-27 03:00 CEST -> 02:00 CET (01:00 UTC), 02:xx repeated", [
        ("30 2 * * *", "Europe/Berlin", "2024-10-26 12:00:00 UTC"), ("*/30 * * * *", "Europe/Berlin", "2024-10-27 00:00:00 UTC"),
        ("@hourly", "Europe/Berlin", "2024-10-26 23:30:00 UTC"), ("0 3 * * *", "Europe/Berlin", "2024-10-26 12:00:00 UTC"),
        ("*/15 * * * *", "Europe/Berlin", "2024-10-27 01:10:00 UTC",
         "BASE lies in the second 02:xx (CET): a wildcard job fires in it again (02:15 CET, 01:15Z)."),
        ("15,45 2 * * *", "Europe/Berlin", "2024-10-27 00:20:00 UTC",
         "a fixed-time job in the repeated hour: once, in the first pass only."),
        ("@daily", "Europe/Berlin", "2024-10-26 12:00:00 UTC"),
    ]),
    ("DST Australia/Lord_Howe: 30-minute changes (2024-04-07 02:00 -> 01:30, 2024-10-06 02:00 -> 02:30)", [
        ("15 2 * * *", "Australia/Lord_Howe", "2024-10-05 00:00:00 UTC"),
        ("*/10 2 * * *", "Australia/Lord_Howe", "2024-10-05 15:00:00 UTC"),
        ("45 1 * * *", "Australia/Lord_Howe", "2024-04-06 00:00:00 UTC"),
        ("*/20 1 * * *", "Australia/Lord_Howe", "2024-04-06 14:00:00 UTC"),
    ]),
    ("DST America/New_York: spring forward 2024-03-10 02:00 EST -> 03:00 EDT (07:00 UTC)", [
        ("30 2 * * *", "America/New_York", "2024-03-09 12:00:00 UTC"), ("0 * * * *", "America/New_York", "2024-03-10 06:00:00 UTC"),
        ("*/20 2 * * *", "America/New_York", "2024-03-09 12:00:00 UTC"), ("@daily", "America/New_York", "2024-03-09 12:00:00 UTC"),
    ]),
    ("DST America/New_York: fall back 2024-11-03 02:00 EDT -> 01:00 EST (06:00 UTC), 01:xx repeated", [
        ("30 1 * * *", "America/New_York", "2024-11-02 12:00:00 UTC"), ("*/20 1 * * *", "America/New_York", "2024-11-02 12:00:00 UTC"),
        ("0 * * * *", "America/New_York", "2024-11-03 04:30:00 UTC"), ("0 2 * * *", "America/New_York", "2024-11-02 12:00:00 UTC"),
        ("15 1 * * sun", "America/New_York", "2024-10-30 00:00:00 UTC"),
    ]),
]

INVALID = [
    ("wrong field count", ["* * * *", "* * * * * *", "0 0 1 1 * 2024"]),
    ("out of range", ["60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *", "* * * 0 *", "* * * 13 *", "* * * * 8", "0-60 * * * *"]),
    ("bad names (three-letter names only, month names only in month, weekday names only in day-of-week)",
     ["* * * foo *", "* * * * monday", "* * * mon *", "* * * * jan", "0 0 * * */mon"]),
    ("step 0 / malformed step", ["*/0 * * * *", "1-5/0 * * * *", "*/ * * * *", "*/5/2 * * * *"]),
    ("reversed ranges", ["5-1 * * * *", "* 23-1 * * *", "* * * * fri-mon"]),
    ("other syntax", ["1,,2 * * * *", ",5 * * * *", "5- * * * *", "1.5 * * * *", "a * * * *",
                      "L * * * *", "0 0 ? * MON", "0 0 * * 1#2", "0 0 * * 5L", "0 0 L * *", "5/15 * * * *"]),
    ("unknown or mis-cased @ shortcuts (cronie compares case-sensitively)",
     ["@every 5m", "@Daily", "@HOURLY", "@", "@daily *"]),
]

HEADER = """\
# Classic 5-field cron corpus (Vixie cron / cronie field syntax).
# GENERATED by cron-reference.py (independent brute-force reference); do not edit by hand:
#     python3 cron-reference.py --write      regenerate
#     python3 cron-reference.py --check      verify
#
# Format (blank lines and '#' lines are comments):
#   EXPRESSION<TAB>ZONE<TAB>BASE<TAB>NEXT1,NEXT2,NEXT3
#       ZONE: IANA zone (or UTC) in which the fields are matched.
#       BASE: 'YYYY-MM-DD HH:MM:SS UTC'. NEXTn: the next three fire instants strictly
#       after BASE, as YYYY-MM-DDTHH:MM:SSZ (UTC).
#   !EXPRESSION     an expression that must be rejected.
#
# Rules:
#  * minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or jan..dec, day-of-week 0-7 or
#    sun..sat (0 and 7 are Sunday). Names: exactly three letters, any case; usable as range
#    ends; not as steps. '*' | N | N-M, '/STEP' only after '*' or N-M, comma lists.
#  * Day rule (cronie): if day-of-month or day-of-week starts with '*', both must match
#    (so only the other one restricts); otherwise either may match. '*/2' starts with '*'
#    and therefore counts as '*' for this rule, exactly as in cronie (entry.c sets DOM_STAR
#    /DOW_STAR from the first character).
#  * @yearly = @annually = 0 0 1 1 *, @monthly = 0 0 1 * *, @weekly = 0 0 * * 0,
#    @daily = @midnight = 0 0 * * *, @hourly = 0 * * * *. Lower case only (cronie uses
#    strcmp). @reboot is not a schedule and is not covered.
#  * DST: Vixie cron's rules (man 8 cron; cronie's are the same). Matching uses local
#    wall-clock time in ZONE. A job is "wildcard" when its minute or hour field starts with
#    '*' (@hourly is one), else "fixed-time". A local time skipped by a spring-forward change:
#    a fixed-time job fires at the change ('30 2 * * *' fires at 03:00 on that day), a
#    wildcard job does not fire for it. A local time that occurs twice (fall-back overlap):
#    a fixed-time job fires once, at the first occurrence; a wildcard job fires at both.
#  * Valid expressions that never fire (e.g. '0 0 30 2 *') are accepted but cannot be
#    expressed in this format and are therefore not listed.
"""


def corpus_lines():
    lines = [HEADER.rstrip("\n")]
    for title, cases in SECTIONS:
        lines += ["", f"# --- {title} ---"]
        for expr, zone, base, *note in cases:
            assert "\t" not in expr
            lines += [f"# {n}" for n in note]
            spec = parse(expr)
            fires = next_fires_wallclock(spec, zone, parse_base(base), wild=is_wildcard(expr))
            if len(fires) != 3:
                raise SystemExit(f"case {expr!r} {zone} {base}: only {len(fires)} fire times")
            lines.append("\t".join([expr, zone, base, ",".join(fmt(u) for u in fires)]))
    lines += ["", "# ===== invalid expressions ====="]
    for title, exprs in INVALID:
        lines += ["", f"# --- invalid: {title} ---"]
        for expr in exprs:
            try:
                parse(expr)
            except CronError:
                lines.append("!" + expr)
            else:
                raise SystemExit(f"invalid case {expr!r} parses")
    return lines


def check(path):
    bad = n_valid = n_invalid = 0
    with open(path) as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("!"):
                n_invalid += 1
                try:
                    parse(line[1:])
                except CronError:
                    continue
                print(f"line {no}: expected rejection: {line[1:]!r}")
                bad += 1
                continue
            n_valid += 1
            try:
                expr, zone, base, nexts = line.split("\t")
                got = ",".join(
                    fmt(u) for u in next_fires_wallclock(parse(expr), zone, parse_base(base), wild=is_wildcard(expr)))
            except (ValueError, CronError) as e:
                print(f"line {no}: {e}: {line!r}")
                bad += 1
                continue
            if got != nexts:
                print(f"line {no}: {expr!r} {zone} {base}: corpus {nexts} != reference {got}")
                bad += 1
    print(f"valid: {n_valid}, invalid: {n_invalid}, mismatches: {bad}", file=sys.stderr)
    return bad == 0


def selftest():
    bad = 0
    for _, cases in SECTIONS:
        for expr, zone, base, *_ in cases:
            spec, b, wild = parse(expr), parse_base(base), is_wildcard(expr)
            a = next_fires_wallclock(spec, zone, b, wild=wild)
            if a and (a[-1] - b).days > 700:
                continue  # too far for minute-by-minute UTC iteration
            u = next_fires_utc(spec, zone, b, wild=wild)
            if a != u:
                bad += 1
                print(f"MISMATCH {expr!r} {zone} {base}: wallclock {[fmt(x) for x in a]} utc {[fmt(x) for x in u]}")
    print("selftest:", "ok" if not bad else f"{bad} mismatches", file=sys.stderr)
    return bad == 0


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "cron-corpus.txt")
    if not argv:
        print("\n".join(corpus_lines()))
        return 0
    if argv[0] == "--write":
        path = argv[1] if len(argv) > 1 else default
        with open(path, "w") as f:
            f.write("\n".join(corpus_lines()) + "\n")
        print(f"wrote {path}", file=sys.stderr)
        return 0
    if argv[0] == "--check":
        return 0 if check(argv[1] if len(argv) > 1 else default) else 1
    if argv[0] == "--selftest":
        return 0 if selftest() else 1
    if len(argv) in (3, 4):
        n = int(argv[3]) if len(argv) == 4 else 3
        for u in next_fires_wallclock(parse(argv[0]), argv[1], parse_base(argv[2]), n, wild=is_wildcard(argv[0])):
            print(fmt(u), u.astimezone(ZoneInfo(argv[1])).isoformat())
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
