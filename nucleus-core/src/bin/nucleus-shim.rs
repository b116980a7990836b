//! `nucleus-shim`: the supervisor of one nucleus sandbox. The library spawns it; it is not
//! meant to be run by hand. It lives in this package so that building or testing
//! `nucleus-core` always builds the matching supervisor.

fn main() {
    nucleus_core::supervisor::main()
}
