#![no_main]
libfuzzer_sys::fuzz_target!(
    |data: &[u8]| missive_fuzz::decoders::sender_key_distribution_message(data)
);
