//! HdrHistogram interval logs: `<transport>-<repetition>.hlog` (in a sweep
//! `<transport>-<dimension><value>-<repetition>.hlog`), the standard V2 compressed format
//! with one interval per second of the measured window, so HistogramLogAnalyzer and other
//! HdrHistogram tools read them, and histograms can later be merged without loss.

use crate::ReportError;
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use pushbench_model::{PhaseResult, SweepPoint};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// The file name of a phase's log: `sse-1.hlog`, or `sse-clients1000-1.hlog` in a sweep.
pub fn file_name(label: &str, sweep: Option<SweepPoint>, repetition: u32) -> String {
    match sweep {
        Some(p) => format!(
            "{label}-{}{}-{repetition}.hlog",
            p.dimension,
            p.value_text()
        ),
        None => format!("{label}-{repetition}.hlog"),
    }
}

/// Every interval of a log merged into one histogram: the phase's whole measured window.
pub fn read(path: &Path) -> Result<Histogram<u64>, ReportError> {
    let bad = |message: String| ReportError::Hlog {
        path: path.to_owned(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut total = pushbench_model::new_histogram();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let LogEntry::Interval(interval) = entry.map_err(|e| bad(format!("{e:?}")))? else {
            continue;
        };
        let encoded = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .map_err(|e| bad(format!("an interval is not base64: {e}")))?;
        let h: Histogram<u64> = deserializer
            .deserialize(&mut &encoded[..])
            .map_err(|e| bad(format!("an interval does not decode: {e:?}")))?;
        total
            .add(&h)
            .map_err(|e| bad(format!("an interval does not merge: {e:?}")))?;
    }
    Ok(total)
}

/// The log of one phase. Values are latencies in microseconds; `MaxValueDivisor` 1000
/// makes the max column read in milliseconds, as HdrHistogram tools expect.
pub fn encode(phase: &PhaseResult) -> Result<Vec<u8>, String> {
    let start = UNIX_EPOCH + Duration::from_secs_f64(phase.started_unix_s.max(0.0));
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "[pushbench {} latency log: transport {}{}, repetition {}; values in microseconds]",
            env!("CARGO_PKG_VERSION"),
            phase.label,
            phase.sweep.map(|p| format!(" at {p}")).unwrap_or_default(),
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
