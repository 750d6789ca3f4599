//! HdrHistogram interval logs: `<transport>-<repetition>.hlog`, the standard V2 compressed
//! format with one interval per second of the measured window, so HistogramLogAnalyzer and
//! other HdrHistogram tools read them, and histograms can later be merged without loss.

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use pushbench_loadgen::PhaseResult;
use std::time::{Duration, UNIX_EPOCH};

/// The file name of a phase's log.
pub fn file_name(phase: &PhaseResult) -> String {
    format!("{}-{}.hlog", phase.label, phase.repetition)
}

/// The log of one phase. Values are latencies in microseconds; `MaxValueDivisor` 1000
/// makes the max column read in milliseconds, as HdrHistogram tools expect.
pub fn encode(phase: &PhaseResult) -> Result<Vec<u8>, String> {
    let start = UNIX_EPOCH + Duration::from_secs_f64(phase.started_unix_s.max(0.0));
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "[pushbench {} latency log: transport {}, repetition {}; values in microseconds]",
            env!("CARGO_PKG_VERSION"),
            phase.label,
            phase.repetition
        ))
        .add_comment("[Intervals are the seconds of the measured window; timestamps count from the phase start]")
        .with_start_time(start)
        .with_base_time(start)
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut out, &mut serializer)
        .map_err(|e| e.to_string())?;
    let (w0, w1) = (
        phase.window_offset_s,
        phase.window_offset_s + phase.duration_s,
    );
    for s in &phase.seconds {
        let (a, b) = (f64::from(s.second).max(w0), f64::from(s.second + 1).min(w1));
        if b <= a {
            continue;
        }
        log.write_histogram(
            &s.latency,
            Duration::from_secs_f64(a),
            Duration::from_secs_f64(b - a),
            None,
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(out)
}
