//! The build script every Sluice binary shares (`build = "../build.rs"`): on Linux it
//! links the binary as a position-dependent executable.
//!
//! A position-independent executable (PIE, the default) is loaded at a random address,
//! so the loader rewrites every pointer in the executable's read-only data at start-up:
//! about 2 MB of relocations are read and about 1.5–2 MB of pointer tables become
//! private memory in every process. Linked at a fixed address, those pointers are final
//! in the file, the pages stay shared with the page cache and only the ones read are
//! resident. Across the processes of `sluice dev` that is about 7 MB of the idle
//! footprint. The price is that the executable's own image sits at a known address;
//! shared libraries, heap, stacks and thread stacks are still randomized. Build with
//! `SLUICE_PIE` set (to any value, e.g. `SLUICE_PIE=1`) to keep a position-independent
//! executable.

fn main() {
    println!("cargo::rerun-if-env-changed=SLUICE_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if linux && std::env::var_os("SLUICE_PIE").is_none() {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
