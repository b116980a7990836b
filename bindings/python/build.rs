//! Builds the `nucleus-shim` supervisor and puts it into the Python package
//! (`python/nucleus/nucleus-shim`), so that every wheel carries the executable its
//! sandboxes need and `import nucleus` works without configuration.
//!
//! The shim is built by a nested `cargo build` of the root workspace into a target
//! directory of its own (inside this build's `OUT_DIR`): the outer cargo holds the lock
//! on its own target directory for the whole build, so sharing it would deadlock.
//!
//! Set `NUCLEUS_SKIP_SHIM_BUILD=1` to skip this (e.g. when a packager provides the shim).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.join("../..");
    let dest = manifest_dir.join("python/nucleus/nucleus-shim");
    for watched in ["nucleus-core/src", "nucleus-core/Cargo.toml", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    // Rebuild the copy if it was removed. It gets the mtime of the built executable, so
    // an unchanged shim does not make this script run again on every build.
    println!("cargo:rerun-if-changed={}", dest.display());
    println!("cargo:rerun-if-env-changed=NUCLEUS_SKIP_SHIM_BUILD");
    if std::env::var_os("NUCLEUS_SKIP_SHIM_BUILD").is_some() {
        return;
    }
    let target_dir = PathBuf::from(env("OUT_DIR")).join("shim-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["-p", "nucleus-core", "--bin", "nucleus-shim", "--release", "--target-dir"])
        .arg(&target_dir);
    // The outer build's settings are for the extension module, not for this build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let outer = (key.starts_with("CARGO_") && key != "CARGO_HOME")
            || key.starts_with("PYO3_")
            || key.starts_with("DEP_")
            || matches!(
                key.as_ref(),
                "RUSTFLAGS" | "OUT_DIR" | "TARGET" | "HOST" | "PROFILE" | "OPT_LEVEL" | "DEBUG"
                    | "NUM_JOBS" | "RUSTC_LINKER" | "MAKEFLAGS" | "MFLAGS"
            );
        if outer {
            cmd.env_remove(key.as_ref());
        }
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("cannot run cargo to build nucleus-shim: {e}"));
    assert!(status.success(), "building nucleus-shim failed ({status})");
    let built = target_dir.join("release/nucleus-shim");
    copy_executable(&built, &dest);
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("cargo sets {key}"))
}

/// Copy through a temporary name and rename, so a half-written shim is never packaged.
fn copy_executable(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp).unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), tmp.display()));
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).expect("chmod nucleus-shim");
    let built_at = std::fs::metadata(from).and_then(|m| m.modified()).expect("mtime of nucleus-shim");
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .and_then(|f| f.set_modified(built_at))
        .expect("set the mtime of nucleus-shim");
    std::fs::rename(&tmp, to).unwrap_or_else(|e| panic!("rename to {}: {e}", to.display()));
}
