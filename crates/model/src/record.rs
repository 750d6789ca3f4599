//! A phase's result kept whole: `<phase>.phase.json` in a shard run directory. The CSV files
//! keep percentiles and rounded figures, enough to read but not to add up; this record
//! keeps every histogram (V2-serialized, base64) and every count, so that `pushbench merge`
//! adds shards' phases without losing a sample and writes the merged run with the same code
//! as a single-process run.

use crate::clock::ClockEstimate;
use crate::overload::{Evidence, Judgement, Reason, Verdict};
use crate::protocol::LagHistogram;
use crate::result::{Counters, ErrorCounts, KeepingUp, PhaseResult, ProcessUsage, SecondStats};
use crate::scenario::SweepPoint;
use crate::transport::TransportKind;
use serde::{Deserialize, Serialize};

/// The file name of a phase's record, beside its histogram log: `sse-1.phase.json`.
pub fn file_name(label: &str, sweep: Option<SweepPoint>, repetition: u32) -> String {
    match sweep {
        Some(p) => format!(
            "{label}-{}{}-{repetition}.phase.json",
            p.dimension,
            p.value_text()
        ),
        None => format!("{label}-{repetition}.phase.json"),
    }
}

/// [`PhaseResult`] as JSON, field for field.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseRecord {
    label: String,
    transport: TransportKind,
    /// Absent in records made before browser clients existed: `rust`.
    #[serde(default)]
    client: crate::client::ClientKind,
    #[serde(default)]
    clock_error_us: Option<u64>,
    repetition: u32,
    #[serde(default)]
    sweep: Option<SweepPoint>,
    clients: u32,
    connections: u64,
    message_bytes: u64,
    duration_s: f64,
    window_offset_s: f64,
    counters: Counters,
    errors: ErrorCounts,
    latency: LagHistogram,
    connect_latency: LagHistogram,
    request_latency: LagHistogram,
    bandwidth: LagHistogram,
    seconds: Vec<SecondRecord>,
    server: ProcessUsage,
    loadgen: ProcessUsage,
    loadgen_cpu_share: f64,
    control_bytes: u64,
    started_unix_s: f64,
    #[serde(default)]
    clock: Vec<ClockEstimate>,
    publisher_lag: Option<LagHistogram>,
    publisher_fell_behind_us: Option<u64>,
    peak_queued_bytes: Option<u64>,
    verdict: Option<String>,
    reasons: Vec<String>,
    evidence: Evidence,
}

/// One [`SecondStats`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecondRecord {
    second: u32,
    in_window: bool,
    messages_delivered: u64,
    bytes_up: u64,
    bytes_down: u64,
    connections: u64,
    latency: LagHistogram,
}

impl PhaseRecord {
    /// The record of a phase.
    pub fn of(p: &PhaseResult) -> PhaseRecord {
        let h = |h: &hdrhistogram::Histogram<u64>| LagHistogram(h.clone());
        let k = &p.keeping_up;
        PhaseRecord {
            label: p.label.clone(),
            transport: p.transport,
            client: p.client,
            clock_error_us: p.clock_error_us,
            repetition: p.repetition,
            sweep: p.sweep,
            clients: p.clients,
            connections: p.connections,
            message_bytes: p.message_bytes,
            duration_s: p.duration_s,
            window_offset_s: p.window_offset_s,
            counters: p.counters,
            errors: p.errors,
            latency: h(&p.latency),
            connect_latency: h(&p.connect_latency),
            request_latency: h(&p.request_latency),
            bandwidth: h(&p.bandwidth),
            seconds: p
                .seconds
                .iter()
                .map(|s| SecondRecord {
                    second: s.second,
                    in_window: s.in_window,
                    messages_delivered: s.messages_delivered,
                    bytes_up: s.bytes_up,
                    bytes_down: s.bytes_down,
                    connections: s.connections,
                    latency: h(&s.latency),
                })
                .collect(),
            server: p.server,
            loadgen: p.loadgen,
            loadgen_cpu_share: p.loadgen_cpu_share,
            control_bytes: p.control_bytes,
            started_unix_s: p.started_unix_s,
            clock: p.clock.clone(),
            publisher_lag: k.publisher_lag.as_ref().map(h),
            publisher_fell_behind_us: k.publisher_fell_behind_us,
            peak_queued_bytes: k.peak_queued_bytes,
            verdict: k.judgement.verdict.map(|v| v.name().to_string()),
            reasons: k
                .judgement
                .reasons
                .iter()
                .map(|r| r.name().into())
                .collect(),
            evidence: p.evidence,
        }
    }

    /// The phase back; an error names a verdict or reason this version does not know.
    pub fn into_result(self) -> Result<PhaseResult, String> {
        let verdict = match self.verdict.as_deref() {
            None => None,
            Some(name) => Some(
                Verdict::ALL
                    .into_iter()
                    .find(|v| v.name() == name)
                    .ok_or_else(|| format!("unknown verdict {name:?}"))?,
            ),
        };
        let reasons = self
            .reasons
            .iter()
            .map(|name| {
                Reason::ALL
                    .into_iter()
                    .find(|r| r.name() == name)
                    .ok_or_else(|| format!("unknown overload reason {name:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PhaseResult {
            label: self.label,
            transport: self.transport,
            client: self.client,
            clock_error_us: self.clock_error_us,
            repetition: self.repetition,
            sweep: self.sweep,
            clients: self.clients,
            connections: self.connections,
            message_bytes: self.message_bytes,
            duration_s: self.duration_s,
            window_offset_s: self.window_offset_s,
            counters: self.counters,
            errors: self.errors,
            latency: self.latency.0,
            connect_latency: self.connect_latency.0,
            request_latency: self.request_latency.0,
            bandwidth: self.bandwidth.0,
            seconds: self
                .seconds
                .into_iter()
                .map(SecondRecord::into_stats)
                .collect(),
            server: self.server,
            loadgen: self.loadgen,
            loadgen_cpu_share: self.loadgen_cpu_share,
            control_bytes: self.control_bytes,
            started_unix_s: self.started_unix_s,
            clock: self.clock,
            keeping_up: KeepingUp {
                publisher_lag: self.publisher_lag.map(|h| h.0),
                publisher_fell_behind_us: self.publisher_fell_behind_us,
                peak_queued_bytes: self.peak_queued_bytes,
                judgement: Judgement { verdict, reasons },
            },
            evidence: self.evidence,
        })
    }
}

impl SecondRecord {
    fn into_stats(self) -> SecondStats {
        SecondStats {
            second: self.second,
            in_window: self.in_window,
            messages_delivered: self.messages_delivered,
            bytes_up: self.bytes_up,
            bytes_down: self.bytes_down,
            connections: self.connections,
            latency: self.latency.0,
        }
    }
}
