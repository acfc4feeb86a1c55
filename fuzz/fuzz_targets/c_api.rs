#![no_main]
// The C API target: outside `TARGETS` (missive's own tests cannot link missive-ffi);
// missive-ffi's tests/fuzz_corpus.rs replays its corpus.
#[path = "../src/c_api.rs"]
#[allow(dead_code)] // `seeds` serves missive-ffi's corpus test
mod c_api;
libfuzzer_sys::fuzz_target!(|data: &[u8]| c_api::check(data));
