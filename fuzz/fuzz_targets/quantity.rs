//! Kubernetes quantities (`quantity::parse`): never a panic; what parses is a finite,
//! non-negative number no larger than apimachinery's int64 bound.

#![no_main]

use ironspider_scheduler::quantity;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Some(value) = quantity::parse(text) {
        assert!(value.is_finite() && value >= 0.0, "{text:?} parsed as {value}");
        assert!(value <= quantity::MAX, "{text:?} parsed as {value}, past int64");
    }
});
