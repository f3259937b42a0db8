//! Generation throughput on this machine: batch size 1 against dynamic micro-batching, with the
//! committed models (see `warmstart::generate::bench`).
//!
//!     cargo bench --bench generation        # 256 new Beauty products, on CUDA when present
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it is a smoke run on 16 products.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let (products, sizes): (usize, &[usize]) = if full {
        (256, &[1, 16, 32, 64])
    } else {
        (16, &[1, 8])
    };
    let report = warmstart::generate::bench::run(products, "auto", 1, sizes, 64).unwrap();
    println!("{}", warmstart::generate::bench::render(&report));
    assert!(report.batched.products_per_s > 0.0 && report.unbatched.products_per_s > 0.0);
}
