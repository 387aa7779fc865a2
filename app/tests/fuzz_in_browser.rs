//! The fuzz targets (envelopes, the team chain, the audit chain, request bodies, pull
//! answers, key wraps, the log-in bundle and pins, .xlsx, CSV and export files) run in
//! headless Chromium: wasm32 has 32-bit `usize`, so a length from the wire that
//! overflows only there (`n + 4` near `u32::MAX`, say) crashes here, not only in the
//! native fuzzer. A panic fails the test (wasm aborts on panic).
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn every_fuzz_target_survives_mutations_with_32_bit_lengths() {
    assert_eq!(usize::BITS, 32);
    for target in quietdesk_fuzz::targets() {
        let report = quietdesk_fuzz::fuzz_execs(&target, 1_500, 0x5eed);
        assert!(report.crashes.is_empty(), "{}: {} crashes", report.name, report.crashes.len());
        assert!(report.execs >= 1_500, "{}", report.name);
    }
}
