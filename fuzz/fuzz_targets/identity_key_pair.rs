#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| missive_fuzz::decoders::identity_key_pair(data));
