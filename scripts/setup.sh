#!/usr/bin/env bash
# Installs the system packages the build needs, only those that are missing (Debian/Ubuntu),
# and the reference Python Varlink client the protocol tests use.
# Safe to run again; needs root (or sudo) only when something is missing.
set -euo pipefail
if ! python3 -c 'import varlink' >/dev/null 2>&1; then
  echo "setup: installing the Python varlink package (reference client for the tests)" >&2
  python3 -m pip install -q 'varlink==31.0.0' >/dev/null || echo "setup: could not install varlink; its test will fail" >&2
fi
# croniter: the independent implementation of cron the crontab import tests compare with.
if ! python3 -c 'import croniter' >/dev/null 2>&1; then
  echo "setup: installing the Python croniter package (oracle for the cron import tests)" >&2
  python3 -m pip install -q 'croniter==7.0.0' >/dev/null 2>&1 || echo "setup: could not install croniter; the import tests will fail" >&2
fi
# Selenium drives Debian's chromium in the dashboard's browser tests; openapi-spec-validator
# checks the API's OpenAPI document. (Selenium 4.35: later ones need a newer certifi than PyPI's mirror has.)
if ! python3 -c 'import selenium, openapi_spec_validator' >/dev/null 2>&1; then
  echo "setup: installing the Python selenium and openapi-spec-validator packages (web tests)" >&2
  python3 -m pip install -q 'selenium==4.35.0' 'openapi-spec-validator==0.7.1' >/dev/null 2>&1 || echo "setup: could not install selenium; the web tests will fail" >&2
fi
# lintian: the Debian package test checks its output; prometheus: promtool and a real scraper for /metrics;
# chromium and chromium-driver: the dashboard's browser tests.
needed=(libsystemd-dev libsqlite3-dev libyaml-dev libpq-dev libcurl4-openssl-dev libssl-dev pkg-config socat curl lintian prometheus chromium chromium-driver)
missing=()
for package in "${needed[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
