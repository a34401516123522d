#!/usr/bin/env bash
# Makes a release folder that `keepwatch update` reads: the binary for each
# platform, CHANNEL.toml (the manifest: version, oldest version that may
# update to it, each artefact's platform, file, size and SHA-256) and
# CHANNEL.toml.minisig, its minisign signature. Copy the folder's files to
# the web server or the shared folder named by [update] source.
#
#   scripts/release.sh --key SECRET_KEY --out DIR [--version X.Y.Z]
#       [--min-version X.Y.Z] [--channel stable] [--artefact PLATFORM=FILE]...
#
# Without --artefact it builds `cargo build --release` for this machine
# (platform ARCH-OS as keepwatch names it, e.g. x86_64-linux). Without
# --version it asks the first binary (`--version`). The key is a minisign
# secret key (`minisign -G` makes one); keepwatch's own release key is kept
# off the repository, its public half is built into keepwatch. minisign is
# installed from Debian's packages if missing.
set -euo pipefail

usage() { sed -n '2,17p' "$0" >&2; exit 2; }

key="" out="" version="" min_version="" channel="stable"
artefacts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --key) key=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --version) version=${2:?}; shift 2 ;;
    --min-version) min_version=${2:?}; shift 2 ;;
    --channel) channel=${2:?}; shift 2 ;;
    --artefact) artefacts+=("${2:?}"); shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$key" ] && [ -n "$out" ] || usage
[ -r "$key" ] || { echo "release.sh: cannot read the secret key $key" >&2; exit 1; }

if ! command -v minisign >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "release.sh: installing minisign" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq minisign >&2
  else
    echo "release.sh: minisign is missing: install it (Debian: apt-get install minisign)" >&2
    exit 1
  fi
fi

if [ ${#artefacts[@]} -eq 0 ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  cargo build --release --manifest-path "$root/Cargo.toml" >&2
  arch=$(uname -m)
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=macos ;; *) os=$(uname -s | tr 'A-Z' 'a-z') ;; esac
  artefacts=("$arch-$os=${CARGO_TARGET_DIR:-$root/target}/release/keepwatch")
fi

first=${artefacts[0]#*=}
if [ -z "$version" ]; then
  version=$("$first" --version | awk '{print $2}')
fi
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "release.sh: version \"$version\" is not X.Y.Z" >&2; exit 1; }
min_version=${min_version:-0.0.0}
[[ $channel =~ ^[A-Za-z0-9-]+$ ]] || { echo "release.sh: channel \"$channel\" is not a plain name" >&2; exit 1; }

mkdir -p "$out"
manifest="$out/$channel.toml"
{
  echo "# keepwatch $version, channel $channel, made by scripts/release.sh"
  echo "version = \"$version\""
  echo "min_version = \"$min_version\""
} >"$manifest.new"
for entry in "${artefacts[@]}"; do
  platform=${entry%%=*} file=${entry#*=}
  [ -f "$file" ] || { echo "release.sh: no file $file for $platform" >&2; rm -f "$manifest.new"; exit 1; }
  name="keepwatch-$version-$platform"
  cp "$file" "$out/$name"
  {
    echo
    echo "[[artefact]]"
    echo "platform = \"$platform\""
    echo "file = \"$name\""
    echo "size = $(wc -c <"$out/$name" | tr -d ' ')"
    echo "sha256 = \"$(sha256sum "$out/$name" | awk '{print $1}')\""
  } >>"$manifest.new"
done
mv "$manifest.new" "$manifest"
minisign -S -s "$key" -m "$manifest" -x "$manifest.minisig" -t "keepwatch $version ($channel)" >&2
echo "$manifest"
