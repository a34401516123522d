#!/usr/bin/env bash
# Proves that keepwatch compiles for Windows and macOS: `cargo check` of the
# library, the binary, the benchmarks and every test that is not Linux-only,
# for x86_64-pc-windows-gnu and x86_64-apple-darwin. It compiles, nothing
# more: linking and running need those systems.
#
# rustup cannot download those targets' standard libraries here, so this uses
# Debian's Rust (rustc-web, cargo-web) and its standard library's source
# (rust-web-src), built for each target with -Zbuild-std. C code in the
# dependencies (ring, SQLite) is compiled by their build scripts, with
# mingw-w64 for Windows and zig's cc (Python's `ziglang`) for macOS.
# Whatever is missing is installed (apt-get and pip, as root), each step
# bounded in time.
#
# The target directory is kept under $KEEPWATCH_CI_CACHE (like .ci/run's),
# so a second run only checks keepwatch itself.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

cache=${KEEPWATCH_CI_CACHE:-/var/cache/keepwatch-ci}
mkdir -p "$cache"
target_dir=$cache/cross-target
targets=(x86_64-pc-windows-gnu x86_64-apple-darwin)

# Debian's toolchain, and the C cross compiler for Windows.
missing=()
[ -x /usr/bin/rustc ] || missing+=(rustc-web)
[ -x /usr/bin/cargo ] || missing+=(cargo-web)
compgen -G '/usr/lib/rustlib/src/rust/library/std' >/dev/null || missing+=(rust-web-src)
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(mingw-w64)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "cross-check needs ${missing[*]}; run it as root to install them" >&2
    exit 1
  fi
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq
  timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# zig as macOS's C compiler: the pip package brings its own macOS headers.
pip_python=$(command -v python3)
zig_dir() { "$pip_python" -c 'import ziglang, os; print(os.path.dirname(ziglang.__file__))' 2>/dev/null; }
if ! zig_dir >/dev/null; then
  echo "installing ziglang (pip)"
  timeout 600 "$pip_python" -m pip install -q ziglang
fi
zig="$(zig_dir)/zig"

# cc-rs passes clang's Apple flags, which zig cc does not take.
wrappers=$cache/cross-bin
mkdir -p "$wrappers"
cat >"$wrappers/zig-cc-macos" <<EOF
#!/usr/bin/env bash
args=()
skip=0
for arg in "\$@"; do
  if [ \$skip = 1 ]; then skip=0; continue; fi
  case "\$arg" in
    -arch|-target) skip=1 ;;
    --target=*|-mmacosx-version-min=*) ;;
    *) args+=("\$arg") ;;
  esac
done
exec "$zig" cc -target x86_64-macos "\${args[@]}"
EOF
cat >"$wrappers/zig-ar" <<EOF
#!/usr/bin/env bash
exec "$zig" ar "\$@"
EOF
chmod +x "$wrappers/zig-cc-macos" "$wrappers/zig-ar"

status=0
for target in "${targets[@]}"; do
  t0=$SECONDS
  echo "== cargo check --all-targets --target $target"
  # PATH first: Debian's cargo and rustc, not rustup's proxies.
  if ! env PATH="/usr/bin:/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    CC_x86_64_apple_darwin="$wrappers/zig-cc-macos" AR_x86_64_apple_darwin="$wrappers/zig-ar" \
    CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar \
    RUSTFLAGS="-D warnings" \
    /usr/bin/cargo check --locked --all-targets -Zbuild-std=std,panic_abort \
    --target "$target" --target-dir "$target_dir"; then
    status=1
    echo "== $target: FAILED after $((SECONDS - t0)) s"
  else
    echo "== $target: compiles ($((SECONDS - t0)) s)"
  fi
done
echo "== cross-check took $((SECONDS - started)) s"
exit "$status"
