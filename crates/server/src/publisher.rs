//! The server-side publisher: an open-loop schedule of messages into every topic.

use crate::ServerConfig;
use crate::hub::{Topic, retained_bytes};
use crate::state::{AppState, payload_budget};
use bytes::Bytes;
use pushbench_model::protocol::WorkloadDoc;
use pushbench_wire::{filler_payload, now_ns};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Checks that `topics` rings full of messages of `payload_bytes` stay within the server's
/// `max_retained_bytes`: the publisher would fill them, and the memory would stay taken
/// until the next workload.
pub(crate) fn check_memory(w: &WorkloadDoc, config: &ServerConfig) -> Result<(), String> {
    match payload_budget(config, w.topics) {
        Some(max) if w.payload_bytes <= max => Ok(()),
        _ => {
            let worst = u128::from(w.topics)
                * config.ring_capacity as u128
                * u128::from(retained_bytes(w.payload_bytes));
            Err(format!(
                "{} topics of {} messages of {} payload bytes could hold {worst} bytes, more than the server's max_retained_bytes {}",
                w.topics, config.ring_capacity, w.payload_bytes, config.max_retained_bytes
            ))
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

/// When the publisher of a workload starts, and when it ends: `start_ns`, and the ticks due
/// before `stop_at_ns` (`u64::MAX` until a stop is scheduled), both on the shared clock. A
/// multi-process server gives every process the same two instants, so each publishes the
/// same ticks with the same sequence numbers and `sent_ns` (`crate::group`).
pub(crate) struct Schedule {
    pub(crate) start_ns: u64,
    pub(crate) rate: f64,
    pub(crate) stop_at_ns: Arc<AtomicU64>,
}

/// Publishes `rate` messages per second into every topic until `stop` is cancelled or the
/// next tick is due at or after `stop_at_ns`. Each message carries its scheduled time, and ticks missed while asleep are published
/// at once, so a stalled publisher shows up as latency instead of vanishing. Each tick's
/// lag (actual minus scheduled time) goes into the `/stats` histogram, and the bytes then
/// queued for subscribers into the peak.
///
/// It runs on a thread of its own (`spawn_blocking`) rather than as a task: tokio's timer
/// wakes in whole milliseconds, and that lateness would be added to every latency the
/// benchmark measures; `thread::sleep` wakes within tens of microseconds.
pub(crate) fn run(
    state: Arc<AppState>,
    topics: Arc<[Arc<Topic>]>,
    schedule: Schedule,
    payload_bytes: usize,
    stop: CancellationToken,
) {
    // The default 50 µs timer slack would be added to every wake-up, and so to every
    // latency measured; this thread sleeps little and wakes often, so ask for none.
    // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    let payload: Bytes = filler_payload(payload_bytes);
    let meter = &state.publisher_stats;
    // `publisher_max_rate` spaces ticks at least this far apart, whatever the schedule.
    let min_gap_ns = state
        .config
        .publisher_max_rate
        .map_or(0, |r| (1e9 / r) as u64);
    let Schedule {
        start_ns,
        rate,
        stop_at_ns,
    } = schedule;
    let mut last_ns = 0u64;
    for k in 0u64.. {
        let due = tick_ns(start_ns, k, rate);
        // Release: a reader that sees this tick's due time sees every tick before it in
        // the topics (`PublisherStats::reached`).
        meter.next_due_ns.store(due, Release);
        let not_before = due.max(last_ns.saturating_add(min_gap_ns));
        loop {
            // Checked while waiting too: a stop scheduled meanwhile may fall before `due`.
            if stop.is_cancelled() || due >= stop_at_ns.load(Relaxed) {
                meter.next_due_ns.store(0, Relaxed);
                return;
            }
            let now = now_ns();
            if now >= not_before {
                break;
            }
            std::thread::sleep(Duration::from_nanos(not_before - now).min(STOP_CHECK));
        }
        last_ns = now_ns();
        for topic in topics.iter() {
            topic.publish(due, &payload);
        }
        state
            .stats
            .messages_published
            .fetch_add(topics.len() as u64, Relaxed);
        meter.published(last_ns.saturating_sub(due) / 1_000, &topics);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushbench_model::protocol::{MAX_PAYLOAD, MAX_TOPICS};

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
    fn memory_bound_follows_topics_ring_and_payload() {
        let config = ServerConfig::default();
        let w = |topics, payload_bytes| WorkloadDoc {
            topics,
            rate: 1.0,
            payload_bytes,
            response_headers: Vec::new(),
        };
        assert!(check_memory(&w(1, MAX_PAYLOAD / 8), &config).is_ok());
        assert!(check_memory(&w(100, 1024), &config).is_ok());
        // 4,096 messages of 1 MiB, twice encoded: 8 GiB for one topic.
        assert!(check_memory(&w(1, MAX_PAYLOAD), &config).is_err());
        // Even empty payloads add up over enough topics.
        let reason = check_memory(&w(MAX_TOPICS, 0), &config).unwrap_err();
        assert!(!reason.contains('\n'), "{reason}");
        // Right at the budget, and one byte over it.
        let max = payload_budget(&config, 10).unwrap();
        assert!(check_memory(&w(10, max), &config).is_ok());
        assert!(check_memory(&w(10, max + 1), &config).is_err());
        let worst = 10 * 4096 * retained_bytes(max);
        assert!(worst <= config.max_retained_bytes);
    }
}
