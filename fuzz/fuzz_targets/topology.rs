//! Topology parsing and validation on arbitrary text: errors name a field, never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = warmstart::topology::Topology::parse(text);
    }
});
