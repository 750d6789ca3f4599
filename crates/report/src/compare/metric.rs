//! The metrics compared per transport, and the thresholds that judge them.

use super::CompareError;
use pushbench_model::rows::{Figures, SummaryRow};

/// One compared quantity of a transport. Each repetition gives one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Median delivery latency, µs.
    LatencyP50,
    /// 90th percentile latency, µs.
    LatencyP90,
    /// 99th percentile latency, µs.
    LatencyP99,
    /// 99.9th percentile latency, µs.
    LatencyP999,
    /// Mean latency, µs.
    LatencyMean,
    /// Delivered messages per second of the measured window (higher is better).
    Throughput,
    /// Bytes on the wire per delivered message.
    BytesPerMessage,
    /// Server CPU seconds per 1,000 delivered messages.
    ServerCpu,
    /// The server's peak resident memory, bytes.
    ServerRss,
    /// The load generator's peak resident memory, bytes.
    LoadgenRss,
    /// Messages lost (a correctness count).
    Lost,
    /// Messages delivered twice (a correctness count).
    Duplicated,
    /// Messages delivered out of order (a correctness count).
    OutOfOrder,
    /// Errors of every kind (a correctness count).
    Errors,
}

impl Metric {
    /// Every metric, in the order reports list them.
    pub const ALL: [Metric; 14] = [
        Metric::LatencyP50,
        Metric::LatencyP90,
        Metric::LatencyP99,
        Metric::LatencyP999,
        Metric::LatencyMean,
        Metric::Throughput,
        Metric::BytesPerMessage,
        Metric::ServerCpu,
        Metric::ServerRss,
        Metric::LoadgenRss,
        Metric::Lost,
        Metric::Duplicated,
        Metric::OutOfOrder,
        Metric::Errors,
    ];

    /// The full name, used in JSON and accepted in thresholds: the `summary.csv` column
    /// where there is one.
    pub fn key(self) -> &'static str {
        match self {
            Metric::LatencyP50 => "latency_p50_us",
            Metric::LatencyP90 => "latency_p90_us",
            Metric::LatencyP99 => "latency_p99_us",
            Metric::LatencyP999 => "latency_p999_us",
            Metric::LatencyMean => "latency_mean_us",
            Metric::Throughput => "messages_delivered_per_s",
            Metric::BytesPerMessage => "bytes_per_message",
            Metric::ServerCpu => "server_cpu_s_per_1k_messages",
            Metric::ServerRss => "server_peak_rss_bytes",
            Metric::LoadgenRss => "loadgen_peak_rss_bytes",
            Metric::Lost => "messages_lost",
            Metric::Duplicated => "messages_duplicated",
            Metric::OutOfOrder => "messages_out_of_order",
            Metric::Errors => "errors",
        }
    }

    /// The short name accepted in thresholds, for the metrics that take one.
    pub fn alias(self) -> Option<&'static str> {
        Some(match self {
            Metric::LatencyP50 => "p50",
            Metric::LatencyP90 => "p90",
            Metric::LatencyP99 => "p99",
            Metric::LatencyP999 => "p999",
            Metric::LatencyMean => "mean",
            Metric::Throughput => "throughput",
            Metric::BytesPerMessage => "bytes",
            Metric::ServerCpu => "cpu",
            Metric::ServerRss => "server_rss",
            Metric::LoadgenRss => "loadgen_rss",
            _ => return None,
        })
    }

    /// What a person reads in a report.
    pub fn label(self) -> &'static str {
        match self {
            Metric::LatencyP50 => "p50 latency",
            Metric::LatencyP90 => "p90 latency",
            Metric::LatencyP99 => "p99 latency",
            Metric::LatencyP999 => "p99.9 latency",
            Metric::LatencyMean => "mean latency",
            Metric::Throughput => "delivered/s",
            Metric::BytesPerMessage => "bytes/message",
            Metric::ServerCpu => "server CPU per 1k messages",
            Metric::ServerRss => "server peak RSS",
            Metric::LoadgenRss => "loadgen peak RSS",
            Metric::Lost => "lost",
            Metric::Duplicated => "duplicated",
            Metric::OutOfOrder => "out of order",
            Metric::Errors => "errors",
        }
    }

    /// Whether a larger value is worse (all but throughput).
    pub fn higher_is_worse(self) -> bool {
        self != Metric::Throughput
    }

    /// Whether this is a correctness count, judged without statistics or threshold.
    pub fn is_count(self) -> bool {
        matches!(
            self,
            Metric::Lost | Metric::Duplicated | Metric::OutOfOrder | Metric::Errors
        )
    }

    /// The threshold used when none is given: 1% for bytes per message (deterministic
    /// for a given build and scenario), 10% for the rest; none for counts.
    pub fn default_threshold(self) -> Option<f64> {
        match self {
            m if m.is_count() => None,
            Metric::BytesPerMessage => Some(0.01),
            _ => Some(0.10),
        }
    }

    /// The metric by full name or short alias (case-insensitive; `p99.9`, `lost`,
    /// `duplicated` and `out_of_order` work too).
    pub fn from_name(name: &str) -> Option<Metric> {
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "p99.9" => return Some(Metric::LatencyP999),
            "lost" => return Some(Metric::Lost),
            "duplicated" => return Some(Metric::Duplicated),
            "out_of_order" => return Some(Metric::OutOfOrder),
            _ => {}
        }
        Metric::ALL
            .into_iter()
            .find(|m| m.key() == name || m.alias() == Some(name.as_str()))
    }

    /// This metric's sample from one repetition; not finite when it has no meaning there
    /// (a rate over a zero-length window; latency, bytes or CPU per message when no
    /// message was delivered, which `summary.csv` writes as 0).
    pub fn sample(self, row: &SummaryRow) -> f64 {
        let latency_or_bytes = matches!(
            self,
            Metric::LatencyP50
                | Metric::LatencyP90
                | Metric::LatencyP99
                | Metric::LatencyP999
                | Metric::LatencyMean
                | Metric::BytesPerMessage
        );
        if latency_or_bytes && !row.delivered_any() {
            return f64::NAN;
        }
        match self {
            Metric::LatencyP50 => row.latency_p50_us,
            Metric::LatencyP90 => row.latency_p90_us,
            Metric::LatencyP99 => row.latency_p99_us,
            Metric::LatencyP999 => row.latency_p999_us,
            Metric::LatencyMean => row.latency_mean_us,
            Metric::Throughput => row.delivered_per_s().unwrap_or(f64::NAN),
            Metric::BytesPerMessage => row.bytes_per_message,
            Metric::ServerCpu => row.server_cpu_s_per_1k_messages().unwrap_or(f64::NAN),
            Metric::ServerRss => row.server_peak_rss_bytes as f64,
            Metric::LoadgenRss => row.loadgen_peak_rss_bytes as f64,
            Metric::Lost => row.messages_lost as f64,
            Metric::Duplicated => row.messages_duplicated as f64,
            Metric::OutOfOrder => row.messages_out_of_order as f64,
            Metric::Errors => row.errors as f64,
        }
    }

    /// A value of this metric with its unit.
    pub fn format(self, v: f64) -> String {
        if !v.is_finite() {
            return "n/a".into();
        }
        match self {
            Metric::LatencyP50
            | Metric::LatencyP90
            | Metric::LatencyP99
            | Metric::LatencyP999
            | Metric::LatencyMean => format_us(v),
            Metric::Throughput => format!("{}/s", sig(v)),
            Metric::BytesPerMessage => format!("{v:.2} B"),
            Metric::ServerCpu => format!("{} ms", sig(v * 1000.0)),
            Metric::ServerRss | Metric::LoadgenRss => format!("{} MiB", sig(v / 1_048_576.0)),
            _ => format!("{v:.0}"),
        }
    }
}

impl serde::Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
    }
}

/// Microseconds as µs, ms or s, three significant digits.
pub(crate) fn format_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{} s", sig(us / 1e6))
    } else if us >= 1e3 {
        format!("{} ms", sig(us / 1e3))
    } else {
        format!("{} µs", sig(us))
    }
}

/// Three significant digits below 1,000, whole numbers above.
pub(crate) fn sig(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A limit on the relative change of a metric, beyond which a change counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The metric's full name ([`Metric::key`]); `None` for every metric but bytes per
    /// message.
    pub metric: Option<String>,
    /// The limit as a fraction: 0.10 for 10%.
    pub fraction: f64,
}

/// Parses `10%` (every metric but bytes per message) or `METRIC=15%` (one metric, by
/// short alias or full name: `p99=15%`, `bytes_per_message=1%`).
pub fn parse_threshold(s: &str) -> Result<Threshold, CompareError> {
    let bad = |why: String| CompareError::BadThreshold {
        given: s.to_string(),
        why,
    };
    let (metric, amount) = match s.split_once('=') {
        Some((name, amount)) => {
            let metric = Metric::from_name(name).ok_or_else(|| {
                bad(format!(
                    "unknown metric `{}`; accepted: {}",
                    name.trim(),
                    accepted_names()
                ))
            })?;
            if metric.is_count() {
                return Err(bad(format!(
                    "`{}` is a correctness count and takes no threshold: any new one is a regression",
                    metric.key()
                )));
            }
            (Some(metric.key().to_string()), amount)
        }
        None => (None, s),
    };
    let amount = amount.trim();
    let number = amount
        .strip_suffix('%')
        .ok_or_else(|| bad(format!("`{amount}` is not a percentage such as 10%")))?;
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| bad(format!("`{amount}` is not a percentage such as 10%")))?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad(format!(
            "`{amount}` must be a percentage of zero or more"
        )));
    }
    Ok(Threshold {
        metric,
        fraction: value / 100.0,
    })
}

/// The names a threshold accepts, for error messages.
fn accepted_names() -> String {
    let short: Vec<&str> = Metric::ALL.iter().filter_map(|m| m.alias()).collect();
    let full: Vec<&str> = Metric::ALL
        .iter()
        .filter(|m| !m.is_count())
        .map(|m| m.key())
        .collect();
    format!("{} or {}", short.join(", "), full.join(", "))
}

/// The threshold that applies to `metric`: the last per-metric one given for it, else
/// (except for bytes per message) the last general one, else the default.
pub(crate) fn threshold_for(metric: Metric, thresholds: &[Threshold]) -> Option<f64> {
    if metric.is_count() {
        return None;
    }
    let specific = thresholds
        .iter()
        .rev()
        .find(|t| t.metric.as_deref().and_then(Metric::from_name) == Some(metric));
    let general = (metric != Metric::BytesPerMessage)
        .then(|| thresholds.iter().rev().find(|t| t.metric.is_none()))
        .flatten();
    specific
        .or(general)
        .map(|t| t.fraction)
        .or(metric.default_threshold())
}
