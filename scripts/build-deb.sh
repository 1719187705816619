#!/usr/bin/env bash
# Builds the Debian packages of JobControl with dpkg-deb alone (no debhelper, no network):
#   OUT/jobcontrol_VERSION_ARCH.deb         jobcontrold, jobctl, the systemd units, sysusers.d and
#                                           tmpfiles.d snippets, the configuration (conffiles), the
#                                           Python module, man pages, completions, documentation
#   OUT/jobcontrol-dbgsym_VERSION_ARCH.deb  the binaries' debug information, as Debian's automatic
#                                           dbgsym packages lay it out (/usr/lib/debug/.build-id/)
#
# Usage: scripts/build-deb.sh [--bin-dir DIR] [--docs-dir DIR] [--out DIR] [--revision N]
#                             [--maintainer 'NAME <EMAIL>']
#   --bin-dir DIR   take jobcontrold and jobctl from DIR (a `swift build -c release
#                   --static-swift-stdlib` output) instead of building them here; then nothing
#                   is compiled, and the documentation defaults to .build/docs
#   --docs-dir DIR  take the man pages (DIR/man/man*/) and completions (DIR/completions/) from DIR,
#                   as scripts/generate-docs.sh writes them, instead of running it; completions
#                   missing there are generated with the packaged jobctl
# Without --bin-dir it runs scripts/generate-docs.sh (unless --docs-dir) and then
# `swift build -c release --static-swift-stdlib` for both products.
#   --out DIR       where the packages go (default .build/deb)
#   --revision N    the Debian revision (default 1): the package version is VERSION-N, VERSION
#                   being JobControlVersion.current (Sources/JobControlModel/JobControlVersion.swift)
#   --maintainer    the Maintainer field (default: $DEBFULLNAME <$DEBEMAIL>, else git's user)
#   --compress xz|gzip   dpkg-deb's compression (default xz, Debian's; gzip is faster, for tests)
# SOURCE_DATE_EPOCH (default: the time of the last commit) dates the files and the Debian changelog,
# so the same inputs give the same packages. Test the result with
#   Tests/IntegrationTests/Scripts/deb_install_test.sh OUT/jobcontrol_*.deb OUT/jobcontrol-dbgsym_*.deb
set -euo pipefail
umask 022
export LC_ALL=C.UTF-8

repo=$(cd "$(dirname "$0")/.." && pwd)
bin_dir="" docs_dir="" out="$repo/.build/deb" revision=1 maintainer="" compress=xz
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
while [ $# -gt 0 ]; do
  case $1 in --bin-dir | --docs-dir | --out | --revision | --maintainer | --compress)
    [ $# -ge 2 ] || { echo "build-deb: $1 needs a value" >&2; exit 64; } ;;
  esac
  case $1 in
    --bin-dir) bin_dir=$(realpath "$2"); shift 2 ;;
    --docs-dir) docs_dir=$(realpath "$2"); shift 2 ;;
    --out) out=$(realpath -m "$2"); shift 2 ;;
    --revision) revision=$2; shift 2 ;;
    --maintainer) maintainer=$2; shift 2 ;;
    --compress) compress=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "build-deb: unknown argument '$1'" >&2; usage >&2; exit 64 ;;
  esac
done
die() { echo "build-deb: $*" >&2; exit 1; }
case $compress in xz | gzip) ;; *) die "--compress takes xz or gzip" ;; esac
for tool in dpkg-deb objcopy strip readelf gzip install; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install dpkg binutils)"
done
packaging=$repo/packaging

# The version: the one every binary reports. CHANGELOG.md's newest section, when it names a version
# rather than "Unreleased", must be the same.
version=$(sed -n 's/.*static let current = "\([^"]*\)".*/\1/p' "$repo/Sources/JobControlModel/JobControlVersion.swift")
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "no usable version in Sources/JobControlModel/JobControlVersion.swift ('$version')"
[[ $revision =~ ^[0-9A-Za-z.+~]+$ ]] || die "bad --revision '$revision'"
changelog_heading=$(sed -n 's/^## \[\{0,1\}\([^] ]*\).*/\1/p' "$repo/CHANGELOG.md" | head -n 1)
case $changelog_heading in
  Unreleased | unreleased) echo "build-deb: CHANGELOG.md's newest section is Unreleased; packaging $version from the code" >&2 ;;
  "$version" | "v$version") ;;
  *) die "CHANGELOG.md's newest section is '$changelog_heading' but JobControlVersion.current is '$version'" ;;
esac
deb_version=$version-$revision

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
git_commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || true)
if [ -z "$maintainer" ]; then
  name=${DEBFULLNAME:-$(git -C "$repo" config user.name 2>/dev/null || true)}
  email=${DEBEMAIL:-$(git -C "$repo" config user.email 2>/dev/null || true)}
  [ -n "$name" ] && [ -n "$email" ] || die "no maintainer: pass --maintainer 'NAME <EMAIL>' or set DEBFULLNAME and DEBEMAIL"
  maintainer="$name <$email>"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/jobcontrol-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The binaries and the generated documentation. Without --bin-dir everything is built here: the
# documentation first (`swift package generate-manual` builds the products its own way in
# .build/release), then the static binaries. With --bin-dir nothing is compiled: the documentation
# comes from --docs-dir, else from .build/docs (scripts/generate-docs.sh's default output).
if [ -z "$bin_dir" ]; then
  if [ -z "$docs_dir" ]; then
    docs_dir=$work/docs
    "$repo/scripts/generate-docs.sh" "$docs_dir"
  fi
  (cd "$repo" && scripts/setup.sh)
  for product in jobcontrold jobctl; do
    (cd "$repo" && swift build -c release --static-swift-stdlib --product "$product")
  done
  bin_dir=$(cd "$repo" && swift build -c release --static-swift-stdlib --show-bin-path)
elif [ -z "$docs_dir" ]; then
  docs_dir=$repo/.build/docs
  ls "$docs_dir"/man/man[1-8]/*.[1-8] > /dev/null 2>&1 ||
    die "no --docs-dir, and no man pages in .build/docs: run scripts/generate-docs.sh (it compiles) or pass --docs-dir"
  echo "build-deb: man pages and completions from $docs_dir" >&2
fi
ls "$docs_dir"/man/man[1-8]/*.[1-8] > /dev/null 2>&1 || die "no man pages in $docs_dir/man/man[1-8]/"
# A snapshot of the binaries: a build running meanwhile cannot change them under the packaging.
mkdir -p "$work/bin"
for binary in jobcontrold jobctl; do
  [ -x "$bin_dir/$binary" ] || die "$bin_dir/$binary is missing"
  cp "$bin_dir/$binary" "$work/bin/$binary"
done
bin_dir=$work/bin

# The Debian architecture, from the binaries themselves (they may not be this machine's).
machine=$(readelf -h "$bin_dir/jobcontrold" | sed -n 's/^ *Machine: *//p')
case $machine in
  *X86-64*) arch=amd64 ;;
  *AArch64*) arch=arm64 ;;
  *) die "jobcontrold is built for '$machine', which this script does not map to a Debian architecture" ;;
esac
[ "$(readelf -h "$bin_dir/jobctl" | sed -n 's/^ *Machine: *//p')" = "$machine" ] || die "jobctl and jobcontrold are built for different machines"

pkg=$work/jobcontrol dbg=$work/jobcontrol-dbgsym
mkdir -p "$pkg/DEBIAN" "$dbg/DEBIAN"

# Binaries, stripped as dh_strip does, their debug information in the dbgsym package under their
# build id (gdb, debuginfod and systemd-coredump look there), with a debuglink to it.
build_ids=()
for binary in jobcontrold jobctl; do
  installed=$pkg/usr/bin/$binary
  install -D -m 0755 "$bin_dir/$binary" "$installed"
  build_id=$(readelf -n "$installed" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p' | head -n 1)
  [ ${#build_id} -ge 3 ] || die "$binary has no GNU build id (link with --build-id)"
  debug_file=$dbg/usr/lib/debug/.build-id/${build_id:0:2}/${build_id:2}.debug
  mkdir -p "$(dirname "$debug_file")"
  objcopy --only-keep-debug --compress-debug-sections "$installed" "$debug_file"
  chmod 0644 "$debug_file"
  strip --remove-section=.comment --remove-section=.note "$installed"
  objcopy --add-gnu-debuglink="$debug_file" "$installed"
  build_ids+=("$build_id")
done

# systemd units, with the installed paths (the repository's are written for /usr/local).
install -d "$pkg/lib/systemd/system"
{
  echo "# jobcontrold as a system service, installed by the jobcontrol package. Local changes belong"
  echo "# in a drop-in (systemctl edit jobcontrold). See /usr/share/doc/jobcontrol/docs/operations.md.gz."
  sed -n '/^\[/,$p' "$repo/systemd/jobcontrold.service" \
    | sed -e 's|^Documentation=.*|Documentation=man:jobcontrold(1) man:jobctl(1)|' -e 's|/usr/local/bin/|/usr/bin/|g'
} > "$pkg/lib/systemd/system/jobcontrold.service"
sed 's|/usr/local/bin/|/usr/bin/|g' "$repo/systemd/jobcontrold.socket" > "$pkg/lib/systemd/system/jobcontrold.socket"
! grep -n /usr/local "$pkg"/lib/systemd/system/* || die "a unit still names /usr/local (above)"
grep -q '^ExecStart=/usr/bin/jobcontrold ' "$pkg/lib/systemd/system/jobcontrold.service" || die "jobcontrold.service: unexpected ExecStart="
install -D -m 0644 "$repo/systemd/jobcontrol.sysusers" "$pkg/usr/lib/sysusers.d/jobcontrol.conf"
install -D -m 0644 "$repo/systemd/jobcontrol.tmpfiles" "$pkg/usr/lib/tmpfiles.d/jobcontrol.conf"

# Configuration (conffiles: dpkg keeps local changes on upgrade and removes them on purge): the
# sample's daemon settings, documented line by line, without its demonstration jobs: an installed
# daemon starts with no job (the sample jobs would run on a production host). The sample's jobs
# and jobs.d/examples.yaml go to /usr/share/doc/jobcontrol/examples/.
install -d "$pkg/etc/jobcontrol/jobs.d"
# The sample's dashboard (http:, with a run token whose value is public) is commented out,
# and its token dropped: an installed daemon opens no port until an administrator says so.
{
  sed -e '/^jobs:/,$d' -e '/^  dashboard_token: /d' -e '/^http:/,/^$/{/^$/!s/^/# /}' "$repo/etc/jobcontrol/jobcontrol.yaml"
  echo "# Jobs: here, or in files under jobs.d/ (see include: above). Examples of every job key:"
  echo "# /usr/share/doc/jobcontrol/examples/. From crontabs and systemd timers: jobctl import cron|timer."
  echo "jobs: []"
} > "$pkg/etc/jobcontrol/jobcontrol.yaml"
chmod 0644 "$pkg/etc/jobcontrol/jobcontrol.yaml"
grep -q '^jobs: \[\]$' "$pkg/etc/jobcontrol/jobcontrol.yaml" || die "the packaged configuration has no jobs: []"
! grep -q '^http:\|sample-dashboard-token' "$pkg/etc/jobcontrol/jobcontrol.yaml" || die "the packaged configuration enables the sample's dashboard"
install -D -m 0644 "$repo/etc/jobcontrol/jobcontrol.yaml" "$pkg/usr/share/doc/jobcontrol/examples/jobcontrol.yaml"
install -D -m 0644 "$repo/etc/jobcontrol/jobs.d/examples.yaml" "$pkg/usr/share/doc/jobcontrol/examples/jobs.d/examples.yaml"

# The sample configuration must be one the packaged daemon accepts (binaries older than the tree's
# configuration would not), checked when the binaries run here.
if [ "$(dpkg --print-architecture)" = "$arch" ]; then
  "$bin_dir/jobctl" check-config "$pkg/etc/jobcontrol/jobcontrol.yaml" > "$work/check-config.log" 2>&1 || {
    cat "$work/check-config.log" >&2
    die "the packaged configuration is not valid for these binaries (are they older than the tree?)"
  }
fi

# The Python module of Python job functions, where jobcontrold finds it from /usr/bin
# (share/jobcontrol/python beside bin/; see PythonFunction.moduleDirectory).
for file in "$repo"/python/jobcontrol/*.py; do
  install -D -m 0644 "$file" "$pkg/usr/share/jobcontrol/python/jobcontrol/$(basename "$file")"
done

# Man pages and completions.
for page in "$docs_dir"/man/man[1-8]/*.[1-8]; do
  section=${page##*.}
  install -d "$pkg/usr/share/man/man$section"
  # ArgumentParser's generator writes a blank line for a paragraph break: mdoc's is .Pp (groff warns).
  sed 's/^$/.Pp/' "$page" | gzip -9n > "$pkg/usr/share/man/man$section/$(basename "$page").gz"
done
completion() { # SHELL FILE-IN-DOCS DESTINATION
  local destination=$pkg$3
  install -d "$(dirname "$destination")"
  if [ -s "$docs_dir/completions/$2" ]; then
    install -m 0644 "$docs_dir/completions/$2" "$destination"
  else
    "$pkg/usr/bin/jobctl" --generate-completion-script "$1" > "$destination"
  fi
}
completion bash jobctl.bash /usr/share/bash-completion/completions/jobctl
# bash-completion sources the file: the generator's #!/bin/bash line means nothing there.
sed -i '1{/^#!/d}' "$pkg/usr/share/bash-completion/completions/jobctl"
completion zsh _jobctl /usr/share/zsh/vendor-completions/_jobctl
completion fish jobctl.fish /usr/share/fish/vendor_completions.d/jobctl.fish

# Documentation: compressed as dh_compress does (over 4 KiB), copyright as it is.
doc=$pkg/usr/share/doc/jobcontrol
install -D -m 0644 "$packaging/copyright" "$doc/copyright"
install -m 0644 "$repo/README.md" "$doc/README.md"
install -D -m 0644 -t "$doc/docs" "$repo"/docs/*.md
gzip -9n < "$repo/CHANGELOG.md" > "$doc/changelog.gz"
changelog_date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
{
  echo "jobcontrol ($deb_version) unstable; urgency=medium"
  echo
  echo "  * JobControl $version${git_commit:+ (git $git_commit)}, packaged by scripts/build-deb.sh."
  echo "    Upstream changes: /usr/share/doc/jobcontrol/changelog.gz."
  echo
  echo " -- $maintainer  $changelog_date"
} | gzip -9n > "$doc/changelog.Debian.gz"
find "$doc" -type f -name '*.md' -size +4k -exec gzip -9n {} +
install -D -m 0644 "$packaging/lintian-overrides" "$pkg/usr/share/lintian/overrides/jobcontrol"

# Maintainer scripts and conffiles.
for script in postinst prerm postrm; do
  install -m 0755 "$packaging/$script" "$pkg/DEBIAN/$script"
done
(cd "$pkg" && find etc -type f | sort | sed 's|^|/|') > "$pkg/DEBIAN/conffiles"

# Depends: the shared libraries jobcontrold links (jobctl is fully static), with the versions their
# symbols need (dpkg-shlibdeps), else just the packages that hold them.
needed=$(readelf -d "$pkg/usr/bin/jobcontrold" "$pkg/usr/bin/jobctl" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u)
shlibs_depends=""
if command -v dpkg-shlibdeps >/dev/null; then
  mkdir -p "$work/src/debian"
  printf 'Source: jobcontrol\n\nPackage: jobcontrol\nArchitecture: any\n' > "$work/src/debian/control"
  shlibs_depends=$(cd "$work/src" && dpkg-shlibdeps -O -e"$pkg/usr/bin/jobcontrold" -e"$pkg/usr/bin/jobctl" 2>"$work/shlibdeps.log" \
    | sed -n 's/^shlibs:Depends=//p') || { cat "$work/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
fi
if [ -z "$shlibs_depends" ] && [ -n "$needed" ]; then
  echo "build-deb: dpkg-shlibdeps gave nothing; Depends without versions from dpkg -S" >&2
  shlibs_depends=$(for library in $needed; do
    dpkg -S "*/$library" 2>/dev/null | head -n 1 | cut -d: -f1
  done | sort -u | paste -sd, | sed 's/,/, /g')
fi
[ -n "$shlibs_depends" ] || die "no Depends for the libraries: $needed"
# A statically linked binary carries glibc (LGPL) and the GCC runtime: Built-Using names their
# source versions, as Debian does for static builds.
built_using=""
for binary in jobcontrold jobctl; do
  if ! readelf -d "$pkg/usr/bin/$binary" | grep -q '(NEEDED)'; then
    built_using=$(dpkg-query -W -f='${source:Package} (= ${source:Version})\n' libc6-dev 2>/dev/null | head -n 1)
  fi
done

installed_size() { # DIR: the sum dpkg-gencontrol computes (KiB per file, rounded up; 1 per other entry)
  (cd "$1" && find . -path ./DEBIAN -prune -o ! -path . -printf '%y %s\n') \
    | awk '{ total += ($1 == "f") ? int(($2 + 1023) / 1024) : 1 } END { print total }'
}
md5sums() { # DIR: DEBIAN/md5sums, conffiles left out as dh_md5sums does
  (cd "$1" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' | sort -z | xargs -0 -r md5sum) > "$1/DEBIAN/md5sums"
}
md5sums "$pkg"
control=$(<"$packaging/control.in")
for field in VERSION:"$deb_version" ARCH:"$arch" MAINTAINER:"$maintainer" INSTALLED_SIZE:"$(installed_size "$pkg")" \
  SHLIBS_DEPENDS:"$shlibs_depends" BUILT_USING:"$built_using"; do
  control=${control//"@${field%%:*}@"/"${field#*:}"}
done
# Comment lines go, and so do fields left empty (no Built-Using for a dynamic jobctl).
printf '%s\n' "$control" | grep -v -e '^#' -e '^[A-Za-z-]*: *$' > "$pkg/DEBIAN/control"

# The dbgsym package, as dh_strip makes it.
install -d "$dbg/usr/share/doc"
ln -s jobcontrol "$dbg/usr/share/doc/jobcontrol-dbgsym"
md5sums "$dbg"
cat > "$dbg/DEBIAN/control" <<CONTROL
Package: jobcontrol-dbgsym
Source: jobcontrol
Version: $deb_version
Auto-Built-Package: debug-symbols
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(installed_size "$dbg")
Depends: jobcontrol (= $deb_version)
Section: debug
Priority: optional
Description: debug symbols for jobcontrol
Build-Ids: ${build_ids[*]}
CONTROL

mkdir -p "$out"
for root in "$pkg" "$dbg"; do
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  name=$(basename "$root")_${deb_version}_$arch.deb
  dpkg-deb --root-owner-group -Z"$compress" --build "$root" "$out/$name" >/dev/null
  echo "$out/$name"
done
