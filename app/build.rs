//! The app binary keeps its relocations (`--emit-relocs`): `cargo xtask build-app` splits
//! it into modules loaded on first use (see xtask/src/wasm.rs), which needs to know
//! where every function and data symbol is referenced.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-bins=--emit-relocs");
    }
}
