#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| missive_fuzz::conversation::handshake(data));
