//! With the `ladybug` feature, link the C++ runtime LadybugDB was built against.
//!
//! Debian 12's gcc cannot compile LadybugDB, so `tests/services/ladybug.sh` builds it with
//! clang 19 and libc++; whatever links it (every test and binary of this crate with the
//! feature) needs libc++ and libc++abi as well as what the `lbug` crate asks for.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_LADYBUG").is_some() {
        println!("cargo:rustc-link-lib=dylib=c++");
        println!("cargo:rustc-link-lib=dylib=c++abi");
    }
}
