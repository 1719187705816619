#!/usr/bin/env bash
# Runs the whole test suite: lint, unit tests, integration tests that start the real jobcontrold and
# jobctl binaries, and the storage conformance suite on SQLite and on a throwaway PostgreSQL
# server started here (scripts/postgres-sandbox.sh). `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Lint first (seconds): the project's .swift-format, in check mode; any finding fails the run.
# Warnings are errors in every target of ours (Package.swift), so the build below checks them.
swift format lint --strict --recursive Sources Tests Package.swift
if [ -z "${JOBCONTROL_TEST_PG_URL:-}" ]; then
  port=$((55000 + RANDOM % 1000))
  eval "$(scripts/postgres-sandbox.sh start "$port")"
  trap 'scripts/postgres-sandbox.sh stop "$PGSANDBOX_DIR"' EXIT
fi
# Examples/reports-daemon (a package of its own that builds a daemon with its Swift functions)
# is built before the tests, not by one of them while the others run on the same 2 cores.
swift build --package-path Examples/reports-daemon
# The Debian package: PackageTests installs it in a throwaway root, runs it, purges it, and checks
# lintian's verdict. Built by scripts/build-deb.sh from a release-configuration build (static Swift
# runtime, the release link flags) compiled without optimization: 65 s instead of 190 s on 2
# cores, and what is tested is the packaging, not the optimizer. scripts/build-deb.sh on its own
# builds the optimized binaries.
scripts/generate-docs.sh .build/docs > /dev/null
release=(-c release -Xswiftc -Onone --static-swift-stdlib)
swift build "${release[@]}" --product jobcontrold
swift build "${release[@]}" --product jobctl
deb=$(scripts/build-deb.sh --bin-dir "$(swift build "${release[@]}" --show-bin-path)" \
  --docs-dir .build/docs --out .build/deb --compress gzip \
  --maintainer "JobControl developers <jobcontrol@example.org>" | sed -n 1p)
export JOBCONTROL_TEST_DEB=$deb JOBCONTROL_TEST_REQUIRE_DEB=1
# The PostgreSQL cases must run here: a missing server is a failure, not a silent skip.
export JOBCONTROL_TEST_REQUIRE_PG=1
swift test "$@"
