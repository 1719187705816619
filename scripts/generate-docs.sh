#!/usr/bin/env bash
# Generates the man pages (jobctl.1, jobcontrold.1) and jobctl's shell completions (bash, zsh,
# fish) from the argument definitions, into DIR (default .build/docs):
#   DIR/man/man1/*.1   DIR/completions/{jobctl.bash,_jobctl,jobctl.fish}
# Install them with, for example:
#   install -Dm644 DIR/man/man1/jobctl.1 /usr/local/share/man/man1/jobctl.1
#   install -Dm644 DIR/completions/jobctl.bash /usr/share/bash-completion/completions/jobctl
#   install -Dm644 DIR/completions/_jobctl /usr/share/zsh/vendor-completions/_jobctl
#   install -Dm644 DIR/completions/jobctl.fish /usr/share/fish/vendor_completions.d/jobctl.fish
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-.build/docs}")
mkdir -p "$out/man/man1" "$out/completions"
scripts/setup.sh
# Debug: the tools only need to print their help; a release build would be a second full build
# (and jobctl's static release link needs --static-swift-stdlib, which the plugin cannot pass).
swift package --allow-writing-to-directory "$out/man/man1" generate-manual --configuration debug \
  --output-directory "$out/man/man1" >/dev/null
swift build --product jobctl >/dev/null
jobctl="$(swift build --show-bin-path)/jobctl"
"$jobctl" --generate-completion-script bash > "$out/completions/jobctl.bash"
"$jobctl" --generate-completion-script zsh > "$out/completions/_jobctl"
"$jobctl" --generate-completion-script fish > "$out/completions/jobctl.fish"
echo "man pages and completions in $out"
