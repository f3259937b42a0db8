//! Gives the binaries an rpath to libtorch's lib folder, so that they run without LD_LIBRARY_PATH,
//! and, with the `cuda` feature, forces libtorch_cuda to be linked (the linker's default
//! --as-needed drops it, because no symbol of ours references it, and tch then silently sees no GPU).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
    }
}
