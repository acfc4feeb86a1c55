#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| missive_fuzz::braid::braid_chunks(data));
