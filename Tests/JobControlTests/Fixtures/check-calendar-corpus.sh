#!/usr/bin/env bash
# Verify calendar-corpus.txt against the real `systemd-analyze calendar`.
#
# Usage: check-calendar-corpus.sh [-v] [--dump] [CORPUS]
#   -v       print every case with its outcome
#   --dump   print, for each valid case, the elapses systemd-analyze reports
#            (UTC, one-second resolution) as  EXPR<TAB>ZONE<TAB>BASE<TAB>never|t1,t2,...
#            Useful for recording expected values on a machine without systemd.
#
# Classification rules:
#   valid line   (EXPR<TAB>ZONE<TAB>BASE):
#       TZ=ZONE systemd-analyze calendar --iterations=5 --base-time=BASE -- EXPR
#       must exit 0 and print "Normalized form:" plus either "Next elapse: never"
#       or at least one "(in UTC):" line. ZONE must exist in /usr/share/zoneinfo and
#       BASE must look like "YYYY-MM-DD HH:MM:SS UTC".
#   invalid line (!EXPR):
#       must be rejected ("Failed to parse calendar specification", non-zero exit)
#       under TZ=UTC, TZ=Europe/Berlin and TZ=America/New_York alike.
#
# Prints a summary; exits 1 if any line is misclassified or malformed.
set -u

verbose=0
dump=0
corpus=""
for arg in "$@"; do
    case "$arg" in
        -v) verbose=1 ;;
        --dump) dump=1 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) corpus="$arg" ;;
    esac
done
[ -n "$corpus" ] || corpus="$(dirname "$0")/calendar-corpus.txt"

command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not found" >&2; exit 2; }
[ -r "$corpus" ] || { echo "cannot read $corpus" >&2; exit 2; }

zonedir=/usr/share/zoneinfo
n_valid=0 n_invalid=0 n_never=0 n_short=0 n_bad=0 lineno=0

fail() {
    n_bad=$((n_bad + 1))
    echo "MISCLASSIFIED line $lineno: $1" >&2
    [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/    | /' >&2
}

while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    case "$line" in ''|'#'*) continue ;; esac

    if [ "${line:0:1}" = "!" ]; then
        expr="${line:1}"
        n_invalid=$((n_invalid + 1))
        if [ -z "$expr" ]; then fail "empty invalid expression"; continue; fi
        ok=1
        for z in UTC Europe/Berlin America/New_York; do
            out=$(TZ="$z" systemd-analyze calendar --base-time='2024-01-01 00:00:00 UTC' -- "$expr" 2>&1)
            rc=$?
            if [ $rc -eq 0 ] || ! grep -q 'Failed to parse calendar specification' <<<"$out"; then
                fail "expected rejection under TZ=$z: [$expr] (rc=$rc)" "$out"
                ok=0
                break
            fi
        done
        [ $verbose -eq 1 ] && [ $ok -eq 1 ] && printf 'invalid ok  %s\n' "$expr"
        continue
    fi

    IFS=$'\t' read -r expr zone base extra <<<"$line"
    n_valid=$((n_valid + 1))
    if [ -z "${expr:-}" ] || [ -z "${zone:-}" ] || [ -z "${base:-}" ] || [ -n "${extra:-}" ]; then
        fail "malformed line (need EXPR<TAB>ZONE<TAB>BASE): [$line]"; continue
    fi
    if [ "$zone" != UTC ] && [ ! -f "$zonedir/$zone" ]; then
        fail "unknown zone [$zone]"; continue
    fi
    if ! [[ "$base" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ UTC$ ]]; then
        fail "bad base time [$base]"; continue
    fi

    out=$(TZ="$zone" systemd-analyze calendar --iterations=5 --base-time="$base" -- "$expr" 2>&1)
    rc=$?
    # Elapses in UTC: the "(in UTC):" line after each "Next elapse:"/"Iter. #n:" line;
    # systemd-analyze omits it when the local rendering is already in UTC.
    utc_list=$(awk '
        /^ *(Next elapse|Iter\. #[0-9]+): ... [0-9]/ { if (have) print cur; cur = $0; have = 1; next }
        /^ *\(in UTC\): /                            { cur = $0; next }
        END                                          { if (have) print cur }' <<<"$out" |
        sed -n 's/^.*: ... \([0-9-]* [0-9:]*\) UTC$/\1/p' | sed 's/ /T/; s/$/Z/')
    n_utc=$(grep -c . <<<"$utc_list")
    if [ $rc -ne 0 ] || ! grep -q '^Normalized form:' <<<"$out"; then
        fail "expected acceptance: [$expr] TZ=$zone base=[$base] (rc=$rc)" "$out"; continue
    fi
    if grep -q 'Next elapse: never' <<<"$out"; then
        n_never=$((n_never + 1)); result=never
    elif [ "$n_utc" -ge 1 ]; then
        [ "$n_utc" -lt 5 ] && n_short=$((n_short + 1))
        result=$(paste -sd, - <<<"$utc_list")
    else
        fail "no elapse and no 'never': [$expr] TZ=$zone base=[$base]" "$out"; continue
    fi
    [ $verbose -eq 1 ] && printf 'valid ok    %s | %s | %s -> %s\n' "$expr" "$zone" "$base" "$result"
    [ $dump -eq 1 ] && printf '%s\t%s\t%s\t%s\n' "$expr" "$zone" "$base" "$result"
done <"$corpus"

{
    echo "systemd-analyze: $(systemd-analyze --version | head -1)"
    echo "valid cases:   $n_valid (of which never elapse: $n_never, fewer than 5 iterations: $n_short)"
    echo "invalid cases: $n_invalid"
    echo "misclassified/malformed: $n_bad"
} >&2
[ $n_bad -eq 0 ]
