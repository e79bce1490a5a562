#!/bin/sh
# Build everything a distribution package (or a manual install) needs into one directory:
#   bin/codexd, bin/codexctl            release binaries
#   completions/{bash,zsh,fish}/...     shell completions, generated from the CLI definition
#   man/man1/*.1                        man pages, generated from the CLI definition
#   systemd/user/codexd.{socket,service} the user units (ExecStart points at $PREFIX/bin/codexd)
#   launchd/dev.codexd.codexd.plist     the launchd agent (binary at $PREFIX/bin/codexd)
#
# Usage: packaging/build-dist.sh [DIST_DIR]     (default: dist/ at the workspace root)
#   PREFIX=/usr (default) is where the binaries will be installed; it is written into the units.
#   CARGO_BUILD_FLAGS="--locked" (default) is passed to cargo build.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
dist=${1:-$root/dist}
prefix=${PREFIX:-/usr}

cd "$root"
# shellcheck disable=SC2086
cargo build --release ${CARGO_BUILD_FLAGS:---locked} -p codexd -p codexctl
target=${CARGO_TARGET_DIR:-$root/target}/release

rm -rf "$dist"
mkdir -p "$dist/bin" "$dist/completions/bash" "$dist/completions/zsh" "$dist/completions/fish" \
    "$dist/man/man1" "$dist/systemd/user" "$dist/launchd"

install -m 0755 "$target/codexd" "$target/codexctl" "$dist/bin/"
ctl="$dist/bin/codexctl"
"$ctl" generate completions bash >"$dist/completions/bash/codexctl"
"$ctl" generate completions zsh >"$dist/completions/zsh/_codexctl"
"$ctl" generate completions fish >"$dist/completions/fish/codexctl.fish"
"$ctl" generate man "$dist/man/man1"

install -m 0644 packaging/systemd/codexd.socket "$dist/systemd/user/"
sed "s|^ExecStart=/usr/bin/codexd |ExecStart=$prefix/bin/codexd |" packaging/systemd/codexd.service \
    >"$dist/systemd/user/codexd.service"
sed "s|<string>/usr/local/bin/codexd</string>|<string>$prefix/bin/codexd</string>|" \
    packaging/launchd/dev.codexd.codexd.plist >"$dist/launchd/dev.codexd.codexd.plist"

echo "built $dist:"
(cd "$dist" && find . -type f | sort)
