//! OpenID Federation metadata policies and trust chains: see `oauth_dcr_fuzz::federation`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| oauth_dcr_fuzz::federation(data));
