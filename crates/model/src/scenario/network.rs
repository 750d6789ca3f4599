//! The emulated link of `[network]` as checked: what every client connection of a phase
//! goes through. What the emulation does with it is in the load generator's `link.rs` and
//! `docs/network.md`.

use super::duration_str;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The checked link of `[network]`: what every client connection of a phase goes through.
/// Plain fields, so a sweep can set `rtt` or `bandwidth_down_bps` per point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPlan {
    /// Added delay from client to server.
    #[serde(with = "duration_str")]
    pub delay_up: Duration,
    /// Added delay from server to client.
    #[serde(with = "duration_str")]
    pub delay_down: Duration,
    /// Upper bound of the extra random delay of each chunk (uniform in `[0, jitter]`).
    #[serde(with = "duration_str")]
    pub jitter: Duration,
    /// Client-to-server bandwidth, bits per second (`None`: unlimited).
    pub bandwidth_up_bps: Option<u64>,
    /// Server-to-client bandwidth, bits per second (`None`: unlimited).
    pub bandwidth_down_bps: Option<u64>,
    /// Bytes each direction may hold waiting for transmission before the client stops
    /// reading its socket (downstream) or stops accepting what it sends (upstream).
    pub queue_bytes: u64,
}

/// The queue each direction gets unless `queue` says otherwise: 64 KiB, the classic TCP
/// window without window scaling, about what a home router's buffer holds at a few Mbit/s.
pub const DEFAULT_QUEUE_BYTES: u64 = 64 * 1024;

/// The longest the phase drain is stretched for the link.
const MAX_EXTRA_DRAIN: Duration = Duration::from_secs(10);

impl NetworkPlan {
    /// A link that adds nothing: no delay, no jitter, unlimited bandwidth, the default queue.
    pub fn zero() -> NetworkPlan {
        NetworkPlan {
            delay_up: Duration::ZERO,
            delay_down: Duration::ZERO,
            jitter: Duration::ZERO,
            bandwidth_up_bps: None,
            bandwidth_down_bps: None,
            queue_bytes: DEFAULT_QUEUE_BYTES,
        }
    }

    /// The round-trip time the link adds (jitter not included).
    pub fn rtt(&self) -> Duration {
        self.delay_up + self.delay_down
    }

    /// Sets the added round-trip time, half of it each way (as `rtt` in `[network]` does).
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.delay_up = rtt / 2;
        self.delay_down = rtt - rtt / 2;
    }

    /// How much longer than usual a phase's clients must drain after the window so that
    /// what was sent in it still crosses the link: three round trips (a long poll's
    /// response, the next request and its response) with the largest jitter on each
    /// transit, plus the time to transmit a full queue in each direction; at most 10 s.
    pub fn extra_drain(&self) -> Duration {
        let transits = 3 * (self.rtt() + 2 * self.jitter);
        let serialise = |bps: Option<u64>| {
            bps.map_or(Duration::ZERO, |b| {
                Duration::from_secs_f64(self.queue_bytes as f64 * 8.0 / b as f64)
            })
        };
        (transits + serialise(self.bandwidth_down_bps) + serialise(self.bandwidth_up_bps))
            .min(MAX_EXTRA_DRAIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_splits_in_half_and_drain_covers_three_round_trips() {
        let mut p = NetworkPlan::zero();
        p.set_rtt(Duration::from_millis(101));
        assert_eq!(p.delay_up, Duration::from_micros(50_500));
        assert_eq!(p.rtt(), Duration::from_millis(101));
        p.set_rtt(Duration::from_millis(100));
        p.jitter = Duration::from_millis(10);
        // 3 × (100 + 2 × 10) ms, plus 64 KiB at 1 Mbit/s = 0.524288 s.
        p.bandwidth_down_bps = Some(1_000_000);
        assert_eq!(p.extra_drain(), Duration::from_secs_f64(0.36 + 0.524288));
        p.bandwidth_up_bps = Some(1_000);
        assert_eq!(p.extra_drain(), MAX_EXTRA_DRAIN);
    }
}
