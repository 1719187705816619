#!/usr/bin/env bash
# Installs the system packages the build needs, only those that are missing (Debian/Ubuntu).
# Safe to run again; needs root (or sudo) only when something is missing.
set -euo pipefail
needed=(libsystemd-dev libsqlite3-dev pkg-config)
missing=()
for package in "${needed[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >/dev/null
