//! The rows of the run directory's CSV files, one type per file, used both to write the file
//! and to read it back (the report writes and reads them through serde and the `csv`
//! crate): a column is a field, the column order the field order, and each number's text
//! (`duration_s` to three decimals, latencies as whole µs) its field's serializer.
//!
//! Reading is strict with a few documented exceptions: a column added after the first
//! release reads as its default in a run made before it ([`CsvRow::OPTIONAL`]: no sweep,
//! not measured); any other missing column is an error naming the file and the column,
//! never a zero.
//!
//! The derived figures (bytes per message, delivered messages per second, server CPU per
//! 1,000 messages) are defined once, in [`Figures`], for one repetition and for repetitions
//! pooled alike.

use crate::overload::Verdict;
use crate::result::{ErrorKind, PhaseResult};
use crate::scenario::{SweepDimension, SweepPoint};
use crate::transport::TransportKind;
use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A row of a CSV file of the run directory, read back by its column names.
pub trait CsvRow: Serialize + for<'de> Deserialize<'de> {
    /// The columns a file may lack because they were added after the first release; they
    /// read as their defaults, which is what such a run measured or did (no sweep, not
    /// measured). Every other column must be there.
    const OPTIONAL: &'static [&'static str];

    /// The columns, in file order.
    fn columns() -> &'static [&'static str] {
        struct_fields::<Self>()
    }
}

/// The derived figures, from the quantities they are made of. One repetition
/// ([`SummaryRow`]) and repetitions pooled ([`SweepRow`], [`Pooled`]) give their quantities
/// and share the definitions, so a figure means the same in every table and chart.
pub trait Figures {
    /// Messages delivered in the measured window.
    fn delivered(&self) -> f64;
    /// Seconds of measured window.
    fn window_s(&self) -> f64;
    /// Bytes clients wrote and read in the window, set-up excluded.
    fn wire_bytes(&self) -> f64;
    /// Server CPU seconds over the whole phase.
    fn server_cpu_s(&self) -> f64;

    /// Delivered messages per second of window; `None` for an empty window.
    fn delivered_per_s(&self) -> Option<f64> {
        (self.window_s() > 0.0).then(|| self.delivered() / self.window_s())
    }

    /// Bytes on the wire per delivered message; `None` when nothing was delivered (a cost
    /// per message then means nothing).
    fn wire_bytes_per_message(&self) -> Option<f64> {
        (self.delivered() > 0.0).then(|| self.wire_bytes() / self.delivered())
    }

    /// Server CPU seconds per delivered message, whole phases (connecting the clients
    /// included) over the deliveries of the windows; `None` when nothing was delivered.
    fn server_cpu_s_per_message(&self) -> Option<f64> {
        (self.delivered() > 0.0).then(|| self.server_cpu_s() / self.delivered())
    }

    /// [`Figures::server_cpu_s_per_message`] per 1,000 messages, in seconds.
    fn server_cpu_s_per_1k_messages(&self) -> Option<f64> {
        self.server_cpu_s_per_message().map(|s| s * 1000.0)
    }

    /// The same per 1,000 messages, in milliseconds: CPU microseconds over deliveries,
    /// `server_cpu_ms_per_1k_messages` of `sweep.csv`.
    fn server_cpu_ms_per_1k_messages(&self) -> Option<f64> {
        (self.delivered() > 0.0).then(|| self.server_cpu_s() * 1e6 / self.delivered())
    }
}

/// The means of several rows' quantities (a transport's repetitions), so their figures are
/// ratios of means.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pooled {
    /// Mean messages delivered.
    pub delivered: f64,
    /// Mean window seconds.
    pub window_s: f64,
    /// Mean wire bytes.
    pub wire_bytes: f64,
    /// Mean server CPU seconds.
    pub server_cpu_s: f64,
}

impl Pooled {
    /// The means over `rows` (all zero for none).
    pub fn mean<'a>(rows: impl IntoIterator<Item = &'a SummaryRow>) -> Pooled {
        let rows: Vec<&SummaryRow> = rows.into_iter().collect();
        let mean = |f: fn(&SummaryRow) -> f64| {
            if rows.is_empty() {
                0.0
            } else {
                rows.iter().map(|r| f(r)).sum::<f64>() / rows.len() as f64
            }
        };
        Pooled {
            delivered: mean(SummaryRow::delivered),
            window_s: mean(SummaryRow::window_s),
            wire_bytes: mean(SummaryRow::wire_bytes),
            server_cpu_s: mean(SummaryRow::server_cpu_s),
        }
    }
}

impl Figures for Pooled {
    fn delivered(&self) -> f64 {
        self.delivered
    }
    fn window_s(&self) -> f64 {
        self.window_s
    }
    fn wire_bytes(&self) -> f64 {
        self.wire_bytes
    }
    fn server_cpu_s(&self) -> f64 {
        self.server_cpu_s
    }
}

/// One row of `summary.csv`: one phase (a transport at a repetition, and a sweep point).
/// The README's run-directory section documents every column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// The phase's label.
    pub transport: String,
    /// Repetition, from 1.
    #[serde(deserialize_with = "whole")]
    pub repetition: u32,
    /// Planned clients.
    #[serde(deserialize_with = "whole")]
    pub clients: u32,
    /// Length of the measured window, seconds.
    #[serde(serialize_with = "dp3", deserialize_with = "real")]
    pub duration_s: f64,
    /// Deliveries the window called for.
    #[serde(deserialize_with = "whole")]
    pub messages_published: u64,
    /// Messages clients read in the window.
    #[serde(deserialize_with = "whole")]
    pub messages_delivered: u64,
    /// Sequence gaps.
    #[serde(deserialize_with = "whole")]
    pub messages_lost: u64,
    /// Repeats.
    #[serde(deserialize_with = "whole")]
    pub messages_duplicated: u64,
    /// Late arrivals.
    #[serde(deserialize_with = "whole")]
    pub messages_out_of_order: u64,
    /// Mean delivery latency, µs.
    #[serde(serialize_with = "dp1", deserialize_with = "real")]
    pub latency_mean_us: f64,
    /// Median delivery latency, µs (written whole; 0 when nothing was delivered).
    #[serde(serialize_with = "dp0", deserialize_with = "real")]
    pub latency_p50_us: f64,
    /// 90th percentile, µs.
    #[serde(serialize_with = "dp0", deserialize_with = "real")]
    pub latency_p90_us: f64,
    /// 99th percentile, µs.
    #[serde(serialize_with = "dp0", deserialize_with = "real")]
    pub latency_p99_us: f64,
    /// 99.9th percentile, µs.
    #[serde(serialize_with = "dp0", deserialize_with = "real")]
    pub latency_p999_us: f64,
    /// Largest latency, µs.
    #[serde(serialize_with = "dp0", deserialize_with = "real")]
    pub latency_max_us: f64,
    /// Bytes clients wrote in the window, set-up excluded.
    #[serde(deserialize_with = "whole")]
    pub bytes_up: u64,
    /// Bytes clients read in the window, set-up excluded.
    #[serde(deserialize_with = "whole")]
    pub bytes_down: u64,
    /// `(bytes_up + bytes_down) / messages_delivered`, 0 when nothing was delivered.
    #[serde(serialize_with = "dp2", deserialize_with = "real")]
    pub bytes_per_message: f64,
    /// Connection set-up bytes, whole phase.
    #[serde(deserialize_with = "whole")]
    pub setup_bytes: u64,
    /// Every byte the client sockets carried, whole phase.
    #[serde(deserialize_with = "whole")]
    pub bytes_total: u64,
    /// HTTP requests sent in the window.
    #[serde(deserialize_with = "whole")]
    pub requests: u64,
    /// Poll and long-poll answers without a message.
    #[serde(deserialize_with = "whole")]
    pub empty_responses: u64,
    /// TCP connections opened, whole phase.
    #[serde(deserialize_with = "whole")]
    pub connections_opened: u64,
    /// Failures of every kind, whole phase.
    #[serde(deserialize_with = "whole")]
    pub errors: u64,
    /// Server CPU seconds during the phase.
    #[serde(serialize_with = "dp3", deserialize_with = "real")]
    pub server_cpu_s: f64,
    /// Server peak RSS during the phase.
    #[serde(deserialize_with = "whole")]
    pub server_peak_rss_bytes: u64,
    /// Load-generator CPU seconds during the phase.
    #[serde(serialize_with = "dp3", deserialize_with = "real")]
    pub loadgen_cpu_s: f64,
    /// Load-generator peak RSS during the phase.
    #[serde(deserialize_with = "whole")]
    pub loadgen_peak_rss_bytes: u64,
    /// The client kind.
    pub kind: TransportKind,
    /// Bytes of one message (34-byte envelope and payload).
    #[serde(deserialize_with = "whole")]
    pub message_bytes: u64,
    /// Connections made again after a failure.
    #[serde(deserialize_with = "whole")]
    pub reconnects: u64,
    /// Failures to connect.
    #[serde(deserialize_with = "whole")]
    pub errors_connect: u64,
    /// Read or write failures.
    #[serde(deserialize_with = "whole")]
    pub errors_io: u64,
    /// Connections the server closed where an answer was due.
    #[serde(deserialize_with = "whole")]
    pub errors_closed: u64,
    /// Unexpected HTTP statuses.
    #[serde(deserialize_with = "whole")]
    pub errors_status: u64,
    /// Protocol violations.
    #[serde(deserialize_with = "whole")]
    pub errors_protocol: u64,
    /// Median time to connect (TCP connect plus handshake), µs.
    #[serde(deserialize_with = "whole")]
    pub connect_p50_us: u64,
    /// 99th percentile time to connect, µs.
    #[serde(deserialize_with = "whole")]
    pub connect_p99_us: u64,
    /// Share of all cores the load generator used.
    #[serde(serialize_with = "dp3", deserialize_with = "real")]
    pub loadgen_cpu_share: f64,
    /// Bytes of the load generator's control requests.
    #[serde(deserialize_with = "whole")]
    pub control_bytes: u64,
    /// Server peak RSS above its idle RSS, per connection; absent in runs made before it
    /// was measured.
    #[serde(default, deserialize_with = "some_whole")]
    pub server_rss_per_connection_bytes: Option<u64>,
    /// The same for the load generator; absent in runs made before it was measured.
    #[serde(default, deserialize_with = "some_whole")]
    pub loadgen_rss_per_connection_bytes: Option<u64>,
    /// Median request round trip (poll and long poll), µs; absent in runs made before it
    /// was measured.
    #[serde(default, deserialize_with = "some_whole")]
    pub request_p50_us: Option<u64>,
    /// 90th percentile request round trip, µs; absent in older runs.
    #[serde(default, deserialize_with = "some_whole")]
    pub request_p90_us: Option<u64>,
    /// 99th percentile request round trip, µs; absent in older runs.
    #[serde(default, deserialize_with = "some_whole")]
    pub request_p99_us: Option<u64>,
    /// Largest request round trip, µs; absent in older runs.
    #[serde(default, deserialize_with = "some_whole")]
    pub request_max_us: Option<u64>,
    /// Whether the server kept up ([`crate::overload`]): `ok`, `overloaded`,
    /// `loadgen-saturated` or `unknown`; absent in runs made before phases were judged.
    #[serde(default, serialize_with = "verdict_text", deserialize_with = "verdict")]
    pub verdict: Option<Verdict>,
    /// What the judgement found, `;`-separated (`publisher-lag`, `backlog`,
    /// `slow-consumers`, `loadgen-cpu`); empty for none.
    #[serde(default)]
    pub overload_reasons: String,
    /// Median lag of the server's publisher in the window (actual minus scheduled publish
    /// time), µs; empty when the server did not report it.
    #[serde(default, deserialize_with = "opt_whole")]
    pub publisher_lag_p50_us: Option<u64>,
    /// 99th percentile publisher lag, µs; empty when not reported.
    #[serde(default, deserialize_with = "opt_whole")]
    pub publisher_lag_p99_us: Option<u64>,
    /// Largest publisher lag, µs; empty when not reported.
    #[serde(default, deserialize_with = "opt_whole")]
    pub publisher_lag_max_us: Option<u64>,
    /// How much further behind its schedule the publisher was at the window's end than at
    /// its start, µs; empty when not reported.
    #[serde(default, deserialize_with = "opt_whole")]
    pub publisher_fell_behind_us: Option<u64>,
    /// The most bytes (at the envelope's size) queued for push subscribers at any
    /// publication from the workload's start to the window's end; empty when not reported.
    #[serde(default, deserialize_with = "opt_whole")]
    pub server_peak_queued_bytes: Option<u64>,
    /// Which client ran the phase, `rust` or `browser`; absent in runs made before browser
    /// clients existed (all `rust`).
    #[serde(default)]
    pub client: crate::client::ClientKind,
    /// Delivered messages whose latency came out below zero (counted, and in the latency
    /// figures as 0): only possible when latencies were converted by an estimated clock
    /// offset; absent in runs made before it was counted.
    #[serde(default, deserialize_with = "some_whole")]
    pub negative_latencies: Option<u64>,
    /// The clock-offset error bound the phase's latencies carry, µs, rounded up: the largest
    /// bound among the load generators' offsets to the server that were applied
    /// (`meta.json` `clock`), plus, for browser clients, the bound of their pages' offsets
    /// to the load generator ([`PhaseResult::clock_error_us`]), since a browser's receive
    /// time goes through both; 0 when none was applied (one shared clock); absent in older
    /// runs.
    #[serde(default, deserialize_with = "some_whole")]
    pub clock_error_us: Option<u64>,
    /// The swept dimension, empty without a sweep (and absent in runs made before sweeps).
    #[serde(default, deserialize_with = "dimension")]
    pub sweep_dimension: Option<SweepDimension>,
    /// The swept value, empty without a sweep (and absent in runs made before sweeps).
    #[serde(default, serialize_with = "value_text", deserialize_with = "finite")]
    pub sweep_value: Option<f64>,
}

impl CsvRow for SummaryRow {
    const OPTIONAL: &'static [&'static str] = &[
        "verdict",
        "overload_reasons",
        "publisher_lag_p50_us",
        "publisher_lag_p99_us",
        "publisher_lag_max_us",
        "publisher_fell_behind_us",
        "server_peak_queued_bytes",
        "server_rss_per_connection_bytes",
        "loadgen_rss_per_connection_bytes",
        "request_p50_us",
        "request_p90_us",
        "request_p99_us",
        "request_max_us",
        "sweep_dimension",
        "sweep_value",
        "client",
        "negative_latencies",
        "clock_error_us",
    ];
}

impl SummaryRow {
    /// A row of a phase that measured nothing: every count and figure zero, nothing
    /// missing.
    pub fn empty(transport: &str, kind: TransportKind, repetition: u32) -> SummaryRow {
        SummaryRow {
            transport: transport.to_string(),
            repetition,
            clients: 0,
            duration_s: 0.0,
            messages_published: 0,
            messages_delivered: 0,
            messages_lost: 0,
            messages_duplicated: 0,
            messages_out_of_order: 0,
            latency_mean_us: 0.0,
            latency_p50_us: 0.0,
            latency_p90_us: 0.0,
            latency_p99_us: 0.0,
            latency_p999_us: 0.0,
            latency_max_us: 0.0,
            bytes_up: 0,
            bytes_down: 0,
            bytes_per_message: 0.0,
            setup_bytes: 0,
            bytes_total: 0,
            requests: 0,
            empty_responses: 0,
            connections_opened: 0,
            errors: 0,
            server_cpu_s: 0.0,
            server_peak_rss_bytes: 0,
            loadgen_cpu_s: 0.0,
            loadgen_peak_rss_bytes: 0,
            kind,
            message_bytes: 0,
            reconnects: 0,
            errors_connect: 0,
            errors_io: 0,
            errors_closed: 0,
            errors_status: 0,
            errors_protocol: 0,
            connect_p50_us: 0,
            connect_p99_us: 0,
            loadgen_cpu_share: 0.0,
            control_bytes: 0,
            server_rss_per_connection_bytes: Some(0),
            loadgen_rss_per_connection_bytes: Some(0),
            request_p50_us: Some(0),
            request_p90_us: Some(0),
            request_p99_us: Some(0),
            request_max_us: Some(0),
            sweep_dimension: None,
            sweep_value: None,
            client: Default::default(),
            verdict: None,
            overload_reasons: String::new(),
            publisher_lag_p50_us: None,
            publisher_lag_p99_us: None,
            publisher_lag_max_us: None,
            publisher_fell_behind_us: None,
            server_peak_queued_bytes: None,
            negative_latencies: Some(0),
            clock_error_us: Some(0),
        }
    }

    /// The row of a phase, as `summary.csv` records it.
    pub fn of(p: &PhaseResult) -> SummaryRow {
        let c = &p.counters;
        let l = &p.latency;
        let q = |h: &Histogram<u64>, p: f64| percentile(h, p);
        let e = |k: ErrorKind| p.errors.get(k);
        let k = &p.keeping_up;
        let lag = k.publisher_lag.as_ref();
        SummaryRow {
            transport: p.label.clone(),
            repetition: p.repetition,
            clients: p.clients,
            duration_s: p.duration_s,
            messages_published: c.messages_published,
            messages_delivered: c.messages_delivered,
            messages_lost: c.messages_lost,
            messages_duplicated: c.messages_duplicated,
            messages_out_of_order: c.messages_out_of_order,
            latency_mean_us: if l.is_empty() { 0.0 } else { l.mean() },
            latency_p50_us: q(l, 50.0) as f64,
            latency_p90_us: q(l, 90.0) as f64,
            latency_p99_us: q(l, 99.0) as f64,
            latency_p999_us: q(l, 99.9) as f64,
            latency_max_us: l.max() as f64,
            bytes_up: c.bytes_up,
            bytes_down: c.bytes_down,
            bytes_per_message: p.wire_bytes_per_message().unwrap_or(0.0),
            setup_bytes: c.setup_bytes,
            bytes_total: c.bytes_total,
            requests: c.requests,
            empty_responses: c.empty_responses,
            connections_opened: c.connections_opened,
            errors: p.errors.total(),
            server_cpu_s: p.server.cpu_s,
            server_peak_rss_bytes: p.server.peak_rss_bytes,
            loadgen_cpu_s: p.loadgen.cpu_s,
            loadgen_peak_rss_bytes: p.loadgen.peak_rss_bytes,
            kind: p.transport,
            message_bytes: p.message_bytes,
            reconnects: c.reconnects,
            errors_connect: e(ErrorKind::Connect),
            errors_io: e(ErrorKind::Io),
            errors_closed: e(ErrorKind::Closed),
            errors_status: e(ErrorKind::Status),
            errors_protocol: e(ErrorKind::Protocol),
            connect_p50_us: q(&p.connect_latency, 50.0),
            connect_p99_us: q(&p.connect_latency, 99.0),
            loadgen_cpu_share: p.loadgen_cpu_share,
            control_bytes: p.control_bytes,
            server_rss_per_connection_bytes: Some(p.server.rss_per_connection(p.connections)),
            loadgen_rss_per_connection_bytes: Some(p.loadgen.rss_per_connection(p.connections)),
            request_p50_us: Some(q(&p.request_latency, 50.0)),
            request_p90_us: Some(q(&p.request_latency, 90.0)),
            request_p99_us: Some(q(&p.request_latency, 99.0)),
            request_max_us: Some(p.request_latency.max()),
            sweep_dimension: p.sweep.map(|s| s.dimension),
            sweep_value: p.sweep.map(|s| s.value),
            client: p.client,
            verdict: k.judgement.verdict,
            overload_reasons: k.judgement.reasons_text(),
            publisher_lag_p50_us: lag.map(|h| q(h, 50.0)),
            publisher_lag_p99_us: lag.map(|h| q(h, 99.0)),
            publisher_lag_max_us: lag.map(|h| h.max()),
            publisher_fell_behind_us: k.publisher_fell_behind_us,
            server_peak_queued_bytes: k.peak_queued_bytes,
            negative_latencies: Some(c.negative_latencies),
            clock_error_us: Some(
                crate::clock::carried_error_ns(&p.clock).div_ceil(1000)
                    + p.clock_error_us.unwrap_or(0),
            ),
        }
    }

    /// The sweep point, when the run swept (both columns filled).
    pub fn sweep(&self) -> Option<SweepPoint> {
        Some(SweepPoint {
            dimension: self.sweep_dimension?,
            value: self.sweep_value?,
        })
    }

    /// Whether a message was delivered: latencies, and costs per message, mean something
    /// only then (the file writes 0 for them otherwise).
    pub fn delivered_any(&self) -> bool {
        self.messages_delivered > 0
    }

    /// Connection set-up bytes per delivered message (set-up amortised); `None` when
    /// nothing was delivered.
    pub fn setup_bytes_per_message(&self) -> Option<f64> {
        self.delivered_any()
            .then(|| self.setup_bytes as f64 / self.messages_delivered as f64)
    }

    /// The server's peak RSS per planned client; `None` without clients.
    pub fn peak_rss_per_client(&self) -> Option<f64> {
        (self.clients > 0).then(|| self.server_peak_rss_bytes as f64 / f64::from(self.clients))
    }

    /// Bytes per delivered message beyond the message itself: what the transport adds.
    pub fn overhead_per_message(&self) -> f64 {
        self.bytes_per_message - self.message_bytes as f64
    }
}

impl Figures for SummaryRow {
    fn delivered(&self) -> f64 {
        self.messages_delivered as f64
    }
    fn window_s(&self) -> f64 {
        self.duration_s
    }
    fn wire_bytes(&self) -> f64 {
        (self.bytes_up + self.bytes_down) as f64
    }
    fn server_cpu_s(&self) -> f64 {
        self.server_cpu_s
    }
}

impl Figures for PhaseResult {
    fn delivered(&self) -> f64 {
        self.counters.messages_delivered as f64
    }
    fn window_s(&self) -> f64 {
        self.duration_s
    }
    fn wire_bytes(&self) -> f64 {
        (self.counters.bytes_up + self.counters.bytes_down) as f64
    }
    fn server_cpu_s(&self) -> f64 {
        self.server.cpu_s
    }
}

/// The value at percentile `p` (0 to 100) of `h`; 0 for an empty histogram.
pub fn percentile(h: &Histogram<u64>, p: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(p / 100.0)
    }
}

/// One row of `latency_percentiles.csv` (`value` is the column `latency_us`) or
/// `bandwidth_percentiles.csv` (`bytes_per_second`): one percentile of one phase. The
/// writer names the value's column ([`PercentileRow::header`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PercentileRow {
    /// The phase's label.
    pub transport: String,
    /// Repetition, from 1.
    #[serde(deserialize_with = "whole")]
    pub repetition: u32,
    /// The percentile, 0 to 100, as `f64` writes it (`99.9`, `100`).
    #[serde(serialize_with = "value", deserialize_with = "real")]
    pub percentile: f64,
    /// The value there (whole µs or bytes per second when written).
    #[serde(serialize_with = "value", deserialize_with = "real")]
    pub value: f64,
    /// The swept dimension, empty without a sweep (absent in runs made before sweeps).
    #[serde(default, deserialize_with = "dimension")]
    pub sweep_dimension: Option<SweepDimension>,
    /// The swept value, empty without a sweep (absent in runs made before sweeps).
    #[serde(default, serialize_with = "value_text", deserialize_with = "finite")]
    pub sweep_value: Option<f64>,
}

impl CsvRow for PercentileRow {
    const OPTIONAL: &'static [&'static str] = &["sweep_dimension", "sweep_value"];
}

impl PercentileRow {
    /// The header of a percentile file whose values are `unit` (`latency_us`,
    /// `bytes_per_second`).
    pub fn header(unit: &str) -> [&str; 6] {
        [
            "transport",
            "repetition",
            "percentile",
            unit,
            "sweep_dimension",
            "sweep_value",
        ]
    }

    /// The sweep point, when the run swept.
    pub fn sweep(&self) -> Option<SweepPoint> {
        Some(SweepPoint {
            dimension: self.sweep_dimension?,
            value: self.sweep_value?,
        })
    }
}

/// One row of `timeseries.csv`: one second of one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondRow {
    /// The phase's label.
    pub transport: String,
    /// Repetition, from 1.
    #[serde(deserialize_with = "whole")]
    pub repetition: u32,
    /// Seconds since the phase started.
    #[serde(deserialize_with = "whole")]
    pub second: u32,
    /// Messages delivered in it.
    #[serde(deserialize_with = "whole")]
    pub messages_delivered: u64,
    /// Bytes written in it, set-up included.
    #[serde(deserialize_with = "whole")]
    pub bytes_up: u64,
    /// Bytes read in it, set-up included.
    #[serde(deserialize_with = "whole")]
    pub bytes_down: u64,
    /// Median latency of its messages inside the window, µs (0 outside it).
    #[serde(deserialize_with = "whole")]
    pub latency_p50_us: u64,
    /// 99th percentile, µs (0 outside the window).
    #[serde(deserialize_with = "whole")]
    pub latency_p99_us: u64,
    /// Open connections at its end.
    #[serde(deserialize_with = "whole")]
    pub connections: u64,
    /// Whether it lies wholly in the measured window (absent in the oldest runs: no).
    #[serde(default, serialize_with = "flag", deserialize_with = "read_flag")]
    pub in_window: bool,
    /// The swept dimension, empty without a sweep (absent in runs made before sweeps).
    #[serde(default, deserialize_with = "dimension")]
    pub sweep_dimension: Option<SweepDimension>,
    /// The swept value, empty without a sweep (absent in runs made before sweeps).
    #[serde(default, serialize_with = "value_text", deserialize_with = "finite")]
    pub sweep_value: Option<f64>,
}

impl CsvRow for SecondRow {
    const OPTIONAL: &'static [&'static str] = &["in_window", "sweep_dimension", "sweep_value"];
}

impl SecondRow {
    /// The sweep point, when the run swept.
    pub fn sweep(&self) -> Option<SweepPoint> {
        Some(SweepPoint {
            dimension: self.sweep_dimension?,
            value: self.sweep_value?,
        })
    }
}

/// One row of `processes.csv`, written for merged runs only (`pushbench merge`): one
/// process's CPU and memory in one phase. A merged run's `summary.csv` holds the load
/// generators' sums and the server's figures; this file holds every process apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessRow {
    /// The phase's label.
    pub transport: String,
    /// Repetition, from 1.
    #[serde(deserialize_with = "whole")]
    pub repetition: u32,
    /// `server`, or `loadgen` for a load generator.
    pub process: String,
    /// The load generator's shard (`1`, `2`, …), `total` for the sum of every load
    /// generator, or for the server the shard that read its figures (shard 1).
    pub shard: String,
    /// The machine the load generator ran on (the server's is not known; empty).
    pub host: String,
    /// CPU seconds during the phase.
    #[serde(serialize_with = "dp3", deserialize_with = "real")]
    pub cpu_s: f64,
    /// Peak resident memory during the phase (for `total`, the sum of the peaks).
    #[serde(deserialize_with = "whole")]
    pub peak_rss_bytes: u64,
    /// Client connections the load generator held (for the server, all of them).
    #[serde(deserialize_with = "whole")]
    pub connections: u64,
    /// The swept dimension, empty without a sweep.
    #[serde(default, deserialize_with = "dimension")]
    pub sweep_dimension: Option<SweepDimension>,
    /// The swept value, empty without a sweep.
    #[serde(default, serialize_with = "value_text", deserialize_with = "finite")]
    pub sweep_value: Option<f64>,
}

impl CsvRow for ProcessRow {
    const OPTIONAL: &'static [&'static str] = &[];
}

/// One row of `sweep.csv`: one transport at one sweep point, its repetitions pooled (counts,
/// bytes, window and CPU seconds summed; latencies from the merged histograms; per-phase
/// levels averaged). `sweep.csv` is made again from the other files, never read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    /// The transport label.
    pub transport: String,
    /// The swept dimension.
    pub sweep_dimension: SweepDimension,
    /// The swept value.
    #[serde(serialize_with = "value")]
    pub sweep_value: f64,
    /// Repetitions pooled.
    pub repetitions: u32,
    /// Planned clients, averaged.
    #[serde(serialize_with = "number")]
    pub clients: f64,
    /// Window seconds, summed.
    #[serde(serialize_with = "number")]
    pub duration_s: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub messages_published: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub messages_delivered: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub messages_lost: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub messages_duplicated: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub messages_out_of_order: f64,
    /// From the merged histograms, µs.
    #[serde(serialize_with = "number")]
    pub latency_mean_us: f64,
    /// From the merged histograms, µs.
    #[serde(serialize_with = "number")]
    pub latency_p50_us: f64,
    /// From the merged histograms, µs.
    #[serde(serialize_with = "number")]
    pub latency_p90_us: f64,
    /// From the merged histograms, µs.
    #[serde(serialize_with = "number")]
    pub latency_p99_us: f64,
    /// From the merged histograms, µs.
    #[serde(serialize_with = "number")]
    pub latency_p999_us: f64,
    /// From the merged histograms, µs.
    #[serde(serialize_with = "number")]
    pub latency_max_us: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub bytes_up: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub bytes_down: f64,
    /// The summed bytes over the summed deliveries (0 when none).
    #[serde(serialize_with = "number")]
    pub bytes_per_message: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub setup_bytes: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub bytes_total: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub requests: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub empty_responses: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub connections_opened: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub errors: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub server_cpu_s: f64,
    /// Averaged.
    #[serde(serialize_with = "number")]
    pub server_peak_rss_bytes: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub loadgen_cpu_s: f64,
    /// Averaged.
    #[serde(serialize_with = "number")]
    pub loadgen_peak_rss_bytes: f64,
    /// The client kind.
    pub kind: TransportKind,
    /// Averaged.
    #[serde(serialize_with = "number")]
    pub message_bytes: f64,
    /// Summed.
    #[serde(serialize_with = "number")]
    pub reconnects: f64,
    /// Averaged.
    #[serde(serialize_with = "number")]
    pub loadgen_cpu_share: f64,
    /// The summed deliveries over the summed windows (0 for none).
    #[serde(serialize_with = "number")]
    pub messages_delivered_per_s: f64,
    /// The summed server CPU per 1,000 messages delivered, ms (0 when none).
    #[serde(serialize_with = "number")]
    pub server_cpu_ms_per_1k_messages: f64,
    /// The worst verdict of the repetitions ([`Verdict::worse`]); left out of the file, with
    /// `overload_reasons`, when no repetition was judged (runs made before phases were).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "verdict_text",
        deserialize_with = "verdict"
    )]
    pub verdict: Option<Verdict>,
    /// Every reason any repetition found, `;`-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overload_reasons: Option<String>,
    /// Summed; left out of the file, with `clock_error_us`, for runs made before negative
    /// latencies were counted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_number",
        deserialize_with = "opt_real"
    )]
    pub negative_latencies: Option<f64>,
    /// The largest of the repetitions' clock-offset error bounds, µs.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_number",
        deserialize_with = "opt_real"
    )]
    pub clock_error_us: Option<f64>,
}

impl CsvRow for SweepRow {
    const OPTIONAL: &'static [&'static str] = &[
        "verdict",
        "overload_reasons",
        "negative_latencies",
        "clock_error_us",
    ];
}

impl SweepRow {
    /// A row of a point where nothing was measured: every column zero.
    pub fn empty(transport: &str, kind: TransportKind, point: SweepPoint) -> SweepRow {
        SweepRow {
            transport: transport.to_string(),
            sweep_dimension: point.dimension,
            sweep_value: point.value,
            repetitions: 0,
            clients: 0.0,
            duration_s: 0.0,
            messages_published: 0.0,
            messages_delivered: 0.0,
            messages_lost: 0.0,
            messages_duplicated: 0.0,
            messages_out_of_order: 0.0,
            latency_mean_us: 0.0,
            latency_p50_us: 0.0,
            latency_p90_us: 0.0,
            latency_p99_us: 0.0,
            latency_p999_us: 0.0,
            latency_max_us: 0.0,
            bytes_up: 0.0,
            bytes_down: 0.0,
            bytes_per_message: 0.0,
            setup_bytes: 0.0,
            bytes_total: 0.0,
            requests: 0.0,
            empty_responses: 0.0,
            connections_opened: 0.0,
            errors: 0.0,
            server_cpu_s: 0.0,
            server_peak_rss_bytes: 0.0,
            loadgen_cpu_s: 0.0,
            loadgen_peak_rss_bytes: 0.0,
            kind,
            message_bytes: 0.0,
            reconnects: 0.0,
            loadgen_cpu_share: 0.0,
            messages_delivered_per_s: 0.0,
            server_cpu_ms_per_1k_messages: 0.0,
            verdict: None,
            overload_reasons: None,
            negative_latencies: None,
            clock_error_us: None,
        }
    }

    /// The point.
    pub fn point(&self) -> SweepPoint {
        SweepPoint {
            dimension: self.sweep_dimension,
            value: self.sweep_value,
        }
    }

    /// The merged median latency, µs; `None` when nothing was delivered (the file writes
    /// 0 then).
    pub fn latency_p50(&self) -> Option<f64> {
        (self.messages_delivered > 0.0).then_some(self.latency_p50_us)
    }

    /// The merged 99th percentile latency, µs; `None` when nothing was delivered.
    pub fn latency_p99(&self) -> Option<f64> {
        (self.messages_delivered > 0.0).then_some(self.latency_p99_us)
    }
}

impl Figures for SweepRow {
    fn delivered(&self) -> f64 {
        self.messages_delivered
    }
    fn window_s(&self) -> f64 {
        self.duration_s
    }
    fn wire_bytes(&self) -> f64 {
        self.bytes_up + self.bytes_down
    }
    fn server_cpu_s(&self) -> f64 {
        self.server_cpu_s
    }
}

// Number texts. Serializers take `&T` by serde's signature.

#[allow(clippy::trivially_copy_pass_by_ref)]
fn fixed<S: Serializer>(v: f64, decimals: usize, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:.decimals$}"))
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn dp0<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    fixed(*v, 0, s)
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn dp1<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    fixed(*v, 1, s)
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn dp2<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    fixed(*v, 2, s)
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn dp3<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    fixed(*v, 3, s)
}

/// As `f64`'s `Display` writes it: whole numbers without a fraction, others in the fewest
/// digits that read back to the same value.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn value<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// A sweep value, or an empty cell.
fn value_text<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_str(""),
    }
}

/// Whole numbers as such, anything else to three decimals.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn number<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        fixed(*v, 0, s)
    } else {
        fixed(*v, 3, s)
    }
}

/// [`number`] for a column that may be left out.
#[allow(clippy::ref_option)]
fn opt_number<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => number(v, s),
        None => s.serialize_str(""),
    }
}

/// [`real`] for a column that may be empty.
fn opt_real<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("expected a number, found {text:?}")))
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn flag<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(u8::from(*v))
}

fn read_flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(String::deserialize(d)? == "1")
}

/// A number (`f64`'s syntax, `inf` and `NaN` included, as the files were always read).
fn real<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|_| serde::de::Error::custom(format!("expected a number, found {text:?}")))
}

/// A sweep value: empty without a sweep, else a finite number.
fn finite<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(serde::de::Error::custom(format!(
            "expected a number, found {text:?}"
        ))),
    }
}

/// A sweep dimension by name, or an empty cell.
fn dimension<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SweepDimension>, D::Error> {
    let name = String::deserialize(d)?;
    if name.is_empty() {
        return Ok(None);
    }
    SweepDimension::from_name(&name).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "expected clients, rate or payload_bytes, or for the link rtt or bandwidth_down, found {name:?}"
        ))
    })
}

/// A count: any number text that is a whole, non-negative number (`12`, `12.0`, `1e3`), so
/// a file edited by a spreadsheet still reads.
fn whole<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
    let text = String::deserialize(d)?;
    parse_whole(&text)
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, found {text:?}")))
}

/// [`whole`] for a column that may be empty (not measured).
fn opt_whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    parse_whole(&text)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, found {text:?}")))
}

/// A verdict by name, or an empty cell.
fn verdict<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Verdict>, D::Error> {
    let name = String::deserialize(d)?;
    if name.is_empty() {
        return Ok(None);
    }
    Verdict::ALL
        .into_iter()
        .find(|v| v.name() == name)
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected ok, overloaded, loadgen-saturated or unknown, found {name:?}"
            ))
        })
}

/// A verdict's name, or an empty cell.
#[allow(clippy::ref_option)]
fn verdict_text<S: Serializer>(v: &Option<Verdict>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.map_or("", Verdict::name))
}

/// [`whole`] for a column that may be absent.
fn some_whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    whole(d).map(Some)
}

fn parse_whole(text: &str) -> Option<u64> {
    if let Ok(n) = text.parse::<u64>() {
        return Some(n);
    }
    let v: f64 = text.parse().ok()?;
    (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 2f64.powi(64)).then_some(v as u64)
}

/// The field names serde's derive gives a struct, in order: what it would read.
fn struct_fields<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{Error, Visitor, value::Error as Captured};
    struct Capture<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Capture<'_> {
        type Error = Captured;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Captured> {
            Err(Captured::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Captured> {
            *self.0 = fields;
            Err(Captured::custom("fields captured"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Capture(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_the_fields_in_order() {
        let c = SummaryRow::columns();
        assert_eq!((c[0], c[3], c.len()), ("transport", "duration_s", 58));
        assert_eq!(c[c.len() - 1], "sweep_value");
        assert_eq!(
            c[c.len() - 5..c.len() - 2],
            ["client", "negative_latencies", "clock_error_us"]
        );
        for o in SummaryRow::OPTIONAL {
            assert!(c.contains(o), "{o}");
        }
        assert_eq!(
            SecondRow::columns(),
            [
                "transport",
                "repetition",
                "second",
                "messages_delivered",
                "bytes_up",
                "bytes_down",
                "latency_p50_us",
                "latency_p99_us",
                "connections",
                "in_window",
                "sweep_dimension",
                "sweep_value"
            ]
        );
    }

    #[test]
    fn counts_read_any_whole_number_text() {
        assert_eq!(parse_whole("12"), Some(12));
        assert_eq!(parse_whole("12.0"), Some(12));
        assert_eq!(parse_whole("1e3"), Some(1000));
        for bad in ["2.5", "-1", "x", "", "inf"] {
            assert_eq!(parse_whole(bad), None, "{bad}");
        }
    }
}
