//! The dataset loaders' text parsers (Bitbrains VM files, the Alibaba GenAI pod series, the
//! Alibaba GPU trace's node and pod lists): the first byte picks the loader, the rest is the
//! file (lossily UTF-8, as the loaders read files). Nothing may panic, no row is counted
//! twice, and what is loaded holds only finite readings.

#![no_main]

use ironspider_datasets::{bitbrains, genai, openb};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|bytes: &[u8]| {
    let Some((&which, rest)) = bytes.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let origin = Path::new("fuzz.csv");
    let report = match which % 6 {
        0 => {
            let (trace, report) = bitbrains::from_text(&text);
            assert_eq!(trace.keys.len() as u64, report.rows_used);
            assert!(trace.values.iter().all(|v| v.is_finite() || v.is_nan()));
            report
        }
        1..=3 => genai::from_text(genai::FILES[usize::from(which % 6) - 1], &text),
        4 => match openb::nodes_from_text(&text, origin) {
            Ok((nodes, report)) => {
                assert_eq!(nodes.len() as u64, report.rows_used);
                report
            }
            Err(_) => return,
        },
        _ => match openb::pods_from_text(&text, origin) {
            Ok((pods, report)) => {
                assert!(pods.iter().all(|pod| pod.gpu_milli <= 1000));
                report
            }
            Err(_) => return,
        },
    };
    let rejected: u64 = report.rows_rejected.values().sum();
    assert_eq!(report.rows_used + rejected, report.rows_read, "{report:?}");
});
