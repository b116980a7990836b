//! `nucleus-shim`: the supervisor of one nucleus sandbox. The library spawns it; it is not
//! meant to be run by hand.

fn main() {
    nucleus_core::supervisor::main()
}
