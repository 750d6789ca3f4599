//! The server-side publisher: an open-loop schedule of messages into every topic.

use crate::ServerConfig;
use crate::hub::{Topic, retained_bytes};
use crate::state::{AppState, payload_budget};
use bytes::Bytes;
use pushbench_wire::headers::{Direction, check_fields};
use pushbench_wire::{filler_payload, now_ns};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The body of `POST /control/workload`, echoed back when accepted.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub(crate) struct Workload {
    pub(crate) topics: u64,
    pub(crate) rate: f64,
    pub(crate) payload_bytes: u64,
    /// Extra `[name, value]` fields for every answer of the push endpoints. Left out of the
    /// echo when empty, so a workload without them is answered as before they existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) response_headers: Vec<(String, String)>,
}

pub(crate) const MAX_TOPICS: u64 = 100_000;
pub(crate) const MAX_RATE: f64 = 1_000_000.0;
pub(crate) const MAX_PAYLOAD: u64 = 1_048_576;

impl Workload {
    /// Checks the bounds; the error is a one-line reason for the client.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_TOPICS).contains(&self.topics) {
            return Err(format!(
                "topics must be 1..={MAX_TOPICS}, got {}",
                self.topics
            ));
        }
        if !self.rate.is_finite() || !(0.0..=MAX_RATE).contains(&self.rate) {
            return Err(format!(
                "rate must be a finite 0..={MAX_RATE}, got {}",
                self.rate
            ));
        }
        if self.payload_bytes > MAX_PAYLOAD {
            return Err(format!(
                "payload_bytes must be 0..={MAX_PAYLOAD}, got {}",
                self.payload_bytes
            ));
        }
        let fields = self.response_headers.iter();
        check_fields(
            Direction::Response,
            fields.map(|(n, v)| (n.as_str(), v.as_str())),
        )
        .map_err(|e| format!("response_headers: {e}"))
    }

    /// Checks that `topics` rings full of messages of `payload_bytes` stay within the
    /// server's `max_retained_bytes`: the publisher would fill them, and the memory would
    /// stay taken until the next workload.
    pub(crate) fn check_memory(&self, config: &ServerConfig) -> Result<(), String> {
        match payload_budget(config, self.topics) {
            Some(max) if self.payload_bytes <= max => Ok(()),
            _ => {
                let worst = u128::from(self.topics)
                    * config.ring_capacity as u128
                    * u128::from(retained_bytes(self.payload_bytes));
                Err(format!(
                    "{} topics of {} messages of {} payload bytes could hold {worst} bytes, more than the server's max_retained_bytes {}",
                    self.topics,
                    config.ring_capacity,
                    self.payload_bytes,
                    config.max_retained_bytes
                ))
            }
        }
    }
}

/// When tick `k` of a schedule that starts at `start_ns` is due. Computed from `k` rather
/// than by adding a period each tick, so rounding never accumulates into drift.
pub(crate) fn tick_ns(start_ns: u64, k: u64, rate: f64) -> u64 {
    start_ns.saturating_add((k as f64 * 1e9 / rate) as u64)
}

/// The longest the publisher sleeps at once, so a stop request is seen within this time.
const STOP_CHECK: Duration = Duration::from_millis(20);

/// Publishes `rate` messages per second into every topic until `stop` is cancelled.
/// Each message carries its scheduled time, and ticks missed while asleep are published
/// at once, so a stalled publisher shows up as latency instead of vanishing.
///
/// It runs on a thread of its own (`spawn_blocking`) rather than as a task: tokio's timer
/// wakes in whole milliseconds, and that lateness would be added to every latency the
/// benchmark measures; `thread::sleep` wakes within tens of microseconds.
pub(crate) fn run(
    state: Arc<AppState>,
    topics: Arc<[Arc<Topic>]>,
    rate: f64,
    payload_bytes: usize,
    stop: CancellationToken,
) {
    // The default 50 µs timer slack would be added to every wake-up, and so to every
    // latency measured; this thread sleeps little and wakes often, so ask for none.
    // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    let payload: Bytes = filler_payload(payload_bytes);
    let start_ns = now_ns();
    for k in 0u64.. {
        let due = tick_ns(start_ns, k, rate);
        loop {
            if stop.is_cancelled() {
                return;
            }
            let now = now_ns();
            if now >= due {
                break;
            }
            std::thread::sleep(Duration::from_nanos(due - now).min(STOP_CHECK));
        }
        for topic in topics.iter() {
            topic.publish(due, &payload);
        }
        state
            .stats
            .messages_published
            .fetch_add(topics.len() as u64, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_exact_multiples_of_the_period() {
        assert_eq!(tick_ns(1_000, 0, 50.0), 1_000);
        assert_eq!(tick_ns(1_000, 1, 50.0), 1_000 + 20_000_000);
        assert_eq!(tick_ns(1_000, 50, 50.0), 1_000 + 1_000_000_000);
        // A period that is not a whole number of ns does not drift: tick 3 of 3/s is 1 s.
        assert_eq!(tick_ns(0, 3, 3.0), 1_000_000_000);
        assert_eq!(tick_ns(0, 3_000_000, 3.0), 1_000_000_000_000_000);
    }

    #[test]
    fn validates_bounds() {
        let ok = Workload {
            topics: 1,
            rate: 0.0,
            payload_bytes: 0,
            response_headers: Vec::new(),
        };
        assert!(ok.validate().is_ok());
        let max = Workload {
            topics: MAX_TOPICS,
            rate: MAX_RATE,
            payload_bytes: MAX_PAYLOAD,
            response_headers: vec![("Set-Cookie".into(), "a=1".into()); 2],
        };
        assert!(max.validate().is_ok());
        for bad in [
            Workload {
                topics: 0,
                ..ok.clone()
            },
            Workload {
                topics: MAX_TOPICS + 1,
                ..ok.clone()
            },
            Workload {
                rate: -1.0,
                ..ok.clone()
            },
            Workload {
                rate: f64::NAN,
                ..ok.clone()
            },
            Workload {
                rate: f64::INFINITY,
                ..ok.clone()
            },
            Workload {
                rate: MAX_RATE * 2.0,
                ..ok.clone()
            },
            Workload {
                payload_bytes: MAX_PAYLOAD + 1,
                ..ok.clone()
            },
            Workload {
                response_headers: vec![("Content-Length".into(), "1".into())],
                ..ok.clone()
            },
        ] {
            let reason = bad.validate().unwrap_err();
            assert!(!reason.contains('\n'), "{reason}");
        }
    }

    #[test]
    fn memory_bound_follows_topics_ring_and_payload() {
        let config = ServerConfig::default();
        let w = |topics, payload_bytes| Workload {
            topics,
            rate: 1.0,
            payload_bytes,
            response_headers: Vec::new(),
        };
        assert!(w(1, MAX_PAYLOAD / 8).check_memory(&config).is_ok());
        assert!(w(100, 1024).check_memory(&config).is_ok());
        // 4,096 messages of 1 MiB, twice encoded: 8 GiB for one topic.
        assert!(w(1, MAX_PAYLOAD).check_memory(&config).is_err());
        // Even empty payloads add up over enough topics.
        let reason = w(MAX_TOPICS, 0).check_memory(&config).unwrap_err();
        assert!(!reason.contains('\n'), "{reason}");
        // Right at the budget, and one byte over it.
        let max = payload_budget(&config, 10).unwrap();
        assert!(w(10, max).check_memory(&config).is_ok());
        assert!(w(10, max + 1).check_memory(&config).is_err());
        let worst = 10 * 4096 * retained_bytes(max);
        assert!(worst <= config.max_retained_bytes);
    }
}
