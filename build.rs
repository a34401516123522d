//! How the release binary is linked on Linux, so that a running agent keeps
//! little of it in memory (issue 11; figures in BENCHMARKS.md):
//!
//! - **Not position-independent** (`-no-pie`): the linker fills in the
//!   binary's own addresses, so the loader has no relocations to apply at
//!   start. A position-independent keepwatch had 17,000 of them: their table
//!   stayed resident and the 300 KiB of tables they patched became private
//!   memory of each process.
//! - **The code that runs in steady state placed together**
//!   (`build/hot-code.txt`, lld's `--symbol-ordering-file`): Linux maps code
//!   in 64 KiB windows, and the few hundred functions a watching agent runs
//!   were spread over most of the 9 MB of code, so most of it stayed
//!   resident. The list is made by `scripts/hot-code.sh`; a function missing
//!   from it (new or renamed) only lands elsewhere, it still works.
//!
//! Debug and test builds, other systems and a linker other than the
//! toolchain's own lld are left as they are.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/hot-code.txt");
    println!("cargo:rerun-if-env-changed=KEEPWATCH_LINK_MAP");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let release = var("PROFILE") == "release";
    let linux_gnu = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    if !release || !linux_gnu {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-no-pie");
    let order = PathBuf::from(var("CARGO_MANIFEST_DIR")).join("build/hot-code.txt");
    if order.is_file() && links_with_lld(&var("RUSTC"), &var("TARGET")) {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        // scripts/hot-code.sh asks for the linker's map, to name the code the
        // stripped binary ran: the binary itself is the same.
        if std::env::var_os("KEEPWATCH_LINK_MAP").is_some() {
            let out = PathBuf::from(var("OUT_DIR"));
            // OUT_DIR is <target>/<profile>/build/keepwatch-<hash>/out.
            if let Some(profile_dir) = out.ancestors().nth(3) {
                println!(
                    "cargo:rustc-link-arg-bins=-Wl,-Map={}",
                    profile_dir.join("keepwatch.map").display()
                );
                // Named as the ordering file needs them, not demangled.
                println!("cargo:rustc-link-arg-bins=-Wl,--no-demangle");
            }
        }
    }
}

/// Whether the toolchain links with its own lld (rustup's toolchains do on
/// x86_64 Linux since Rust 1.90; a distribution's rustc may use the system's
/// GNU ld, which has no symbol ordering).
fn links_with_lld(rustc: &str, target: &str) -> bool {
    let Ok(out) = std::process::Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
    else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    target == "x86_64-unknown-linux-gnu"
        && Path::new(&sysroot)
            .join("lib/rustlib")
            .join(target)
            .join("bin/gcc-ld/ld.lld")
            .is_file()
}
