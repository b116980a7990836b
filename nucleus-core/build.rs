//! Records where this build puts the `nucleus-shim` executable, so the library finds it
//! without configuration when both come from the same cargo target directory.

fn main() {
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out.
    if let Some(profile_dir) = out.ancestors().nth(3) {
        println!("cargo:rustc-env=NUCLEUS_SHIM_BUILD_PATH={}", profile_dir.join("nucleus-shim").display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
