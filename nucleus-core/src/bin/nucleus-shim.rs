//! `nucleus-shim`: the library spawns it once per process as the zygote, which forks the
//! supervisor of each sandbox. It is not meant to be run by hand. It lives in this package so that building or testing
//! `nucleus-core` always builds the matching supervisor.

fn main() {
    nucleus_core::supervisor::main()
}
