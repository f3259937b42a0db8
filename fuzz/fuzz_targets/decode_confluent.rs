//! The confluent decoder of every event type on arbitrary bytes.
#![no_main]
mod common;
libfuzzer_sys::fuzz_target!(|data: &[u8]| common::decode_all(
    warmstart::codec::Format::Confluent,
    data
));
