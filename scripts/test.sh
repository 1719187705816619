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
# The test build first: everything below reuses its compiled modules.
swift build --build-tests
# Examples/reports-daemon, a package of its own that builds a daemon with its Swift functions. Built
# as its own root package, but in this package's scratch folder, so the modules it shares with us
# (ours, NIO, ArgumentParser...) are the ones just compiled: seconds instead of 90 s of building every
# dependency again. ExamplePackageTests runs the daemon it built (the variable below); run alone,
# that test builds the example in the example's own folder.
# SwiftPM keeps one cached build description per scratch folder and, after a `swift build
# --product …` of this package, reuses ours for the example (which then builds nothing, and no
# example daemon exists): drop it, and each package plans its own.
rm -f "$(swift build --show-bin-path)/description.json"
swift build --package-path Examples/reports-daemon --scratch-path .build
export JOBCONTROL_TEST_EXAMPLE_BINARY=$PWD/.build/debug/reports-jobcontrold
# The Debian package: PackageTests installs it in a throwaway root, runs it, purges it, and checks
# lintian's verdict. Its binaries are the test build's objects linked again with the static Swift
# runtime, as a release build links them (seconds; a release build, even unoptimized, compiled
# everything again for 90 s). What is tested is the packaging, not the optimizer or the build
# configuration; scripts/build-deb.sh on its own builds the optimized binaries. A debug build's
# static link has to name Foundation's static libraries (as one group: they refer to each other);
# `swift test` below links both executables dynamically again.
scripts/generate-docs.sh .build/docs > /dev/null
static=(--static-swift-stdlib -Xlinker --gc-sections -Xlinker --start-group)
for lib in FoundationInternationalization _FoundationICU Foundation CoreFoundation FoundationEssentials \
  _FoundationCollections _FoundationCShims; do
  static+=(-Xlinker "-l$lib")
done
static+=(-Xlinker --end-group -Xlinker -lstdc++)
marker=$(mktemp)
swift build "${static[@]}" --product jobcontrold
swift build "${static[@]}" --product jobctl
# An object the static build had to compile (in a tree built before, after an edit) carries the
# static-only libraries in its autolink entries (-l_FoundationCShims), and the dynamic build of
# `swift test` below would link it as it is and fail; it must compile those again. In a fresh
# clone the static build only links, and this deletes nothing.
find "$(swift build --show-bin-path)" -name '*.o' -newer "$marker" -delete
rm -f "$marker"
deb=$(scripts/build-deb.sh --bin-dir "$(swift build --show-bin-path)" \
  --docs-dir .build/docs --out .build/deb --compress gzip \
  --maintainer "JobControl developers <jobcontrol@example.org>" | sed -n 1p)
export JOBCONTROL_TEST_DEB=$deb JOBCONTROL_TEST_REQUIRE_DEB=1
# The PostgreSQL cases must run here: a missing server is a failure, not a silent skip.
export JOBCONTROL_TEST_REQUIRE_PG=1
swift test "$@"
