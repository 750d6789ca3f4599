//! The load generator's clock against the server's. Every message's `sent_ns` is read on
//! the server's `CLOCK_MONOTONIC`; a load generator on another machine reads its receipts on
//! its own, so it estimates the offset between the two at the start of every phase (the
//! server's `GET /clock`, [`crate::protocol::CLOCK_PATH`]) by Cristian's method: read the
//! local clock at `t0`, ask, read it at `t1`; the server's reading `s` was taken somewhere in
//! `[t0, t1]`, so `offset = s - midpoint` is right to within half the round trip. Of several
//! exchanges the one with the smallest round trip is kept: its bound is the tightest.
//!
//! What is recorded ([`ClockEstimate`]) goes into each phase's result, `meta.json`
//! (`clock`, [`PhaseClock`]) and `summary.csv` (`clock_error_us`); `docs/distributed.md`
//! says what carries the error.

use crate::result::PhaseResult;
use crate::scenario::SweepPoint;
use serde::{Deserialize, Serialize};

/// Whether latencies are converted by the estimated offset (`pushbench run --clock-offset`).
/// The offset is estimated and recorded either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    /// Latency is read on the clock server and load generator share (one host): exact, so an
    /// estimate would only add its error.
    #[default]
    None,
    /// Every receipt time is converted to the server's clock by the estimated offset.
    Estimate,
}

impl ClockMode {
    /// Every mode, in the order `--help` lists them.
    pub const ALL: [ClockMode; 2] = [ClockMode::Estimate, ClockMode::None];

    /// The name `--clock-offset` takes.
    pub fn name(self) -> &'static str {
        match self {
            ClockMode::None => "none",
            ClockMode::Estimate => "estimate",
        }
    }

    /// The mode of a name.
    pub fn from_name(name: &str) -> Option<ClockMode> {
        ClockMode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// One exchange with the server's clock: the local clock before asking (`t0`) and once the
/// whole answer was read (`t1`), and the server's reading `s` in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// Local clock when the request was about to be written, ns.
    pub t0: u64,
    /// The server's clock in its answer, ns.
    pub server: u64,
    /// Local clock when the answer had been read, ns.
    pub t1: u64,
}

impl Exchange {
    /// The round trip, ns.
    pub fn round_trip(&self) -> u64 {
        self.t1.saturating_sub(self.t0)
    }

    /// Server clock minus local clock, from this exchange: the server's reading against the
    /// midpoint `t0 + ⌊rtt/2⌋`, which it lies within [`Exchange::error_ns`] of.
    pub fn offset_ns(&self) -> i64 {
        let mid = i128::from(self.t0) + i128::from(self.round_trip() / 2);
        (i128::from(self.server) - mid).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// How far the offset may be off: `⌈rtt/2⌉` (the reading lies in `[t0, t1]`, and the
    /// midpoint is rounded down).
    pub fn error_ns(&self) -> u64 {
        self.round_trip().div_ceil(2)
    }
}

/// The offset kept from a phase's exchanges: the one of the smallest round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// Server clock minus local clock, ns.
    pub offset_ns: i64,
    /// The offset is right to within this, ns: half the kept exchange's round trip.
    pub error_ns: u64,
    /// Exchanges made.
    pub exchanges: u32,
}

impl Estimate {
    /// The estimate of `exchanges`, `None` when there is none.
    pub fn of(exchanges: &[Exchange]) -> Option<Estimate> {
        let best = exchanges.iter().min_by_key(|e| e.round_trip())?;
        Some(Estimate {
            offset_ns: best.offset_ns(),
            error_ns: best.error_ns(),
            exchanges: exchanges.len() as u32,
        })
    }
}

/// One load generator's estimate for one phase, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockEstimate {
    /// The shard that made it (from 1); absent in a run that is not sharded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// Server clock minus this load generator's clock, ns.
    pub offset_ns: i64,
    /// The offset is right to within this, ns (half the smallest round trip).
    pub error_ns: u64,
    /// `GET /clock` exchanges made.
    pub exchanges: u32,
    /// Whether the phase's latencies were converted by it: with `--clock-offset estimate`
    /// and messages the server stamps (broadcast; in echo the client stamps its own
    /// messages, on its own clock).
    pub applied: bool,
}

impl ClockEstimate {
    /// The error bound latencies carry from this estimate: its bound when applied, none
    /// (the clock is shared) when not.
    pub fn carried_error_ns(&self) -> u64 {
        if self.applied { self.error_ns } else { 0 }
    }
}

/// One phase's estimates, as `meta.json` lists them (`clock`): one per load generator
/// (every shard's, in a merged run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseClock {
    /// The phase's label.
    pub transport: String,
    /// Repetition, from 1.
    pub repetition: u32,
    /// The sweep point, when the run swept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepPoint>,
    /// Every load generator's estimate.
    pub estimates: Vec<ClockEstimate>,
}

impl PhaseClock {
    /// The estimates of `phases`, those that made any (none against a target, which has no
    /// `/clock`).
    pub fn of(phases: &[PhaseResult]) -> Vec<PhaseClock> {
        phases
            .iter()
            .filter(|p| !p.clock.is_empty())
            .map(|p| PhaseClock {
                transport: p.label.clone(),
                repetition: p.repetition,
                sweep: p.sweep,
                estimates: p.clock.clone(),
            })
            .collect()
    }
}

/// The largest error bound the latencies of a phase carry from its estimates (ns): 0 when
/// none was applied.
pub fn carried_error_ns(estimates: &[ClockEstimate]) -> u64 {
    estimates
        .iter()
        .map(ClockEstimate::carried_error_ns)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_the_reading_against_the_midpoint_within_half_the_round_trip() {
        // Asked at 1,000, answered at 1,100 (rtt 100): midpoint 1,050. A server 5,000 ahead
        // that read its clock at the midpoint says 6,050.
        let e = Exchange {
            t0: 1_000,
            server: 6_050,
            t1: 1_100,
        };
        assert_eq!(
            (e.round_trip(), e.offset_ns(), e.error_ns()),
            (100, 5_000, 50)
        );
        // Its reading taken as the request left (1,000 + 5,000) or as the answer arrived
        // (1,100 + 5,000): the estimate is off by the bound at most.
        for server in [6_000, 6_100] {
            let e = Exchange { server, ..e };
            assert_eq!((e.offset_ns() - 5_000).unsigned_abs(), 50);
        }
        // An odd round trip: the midpoint rounds down, the bound up.
        let odd = Exchange {
            t0: 0,
            server: 101,
            t1: 101,
        };
        assert_eq!((odd.offset_ns(), odd.error_ns()), (51, 51));
        // A server behind: a negative offset.
        let behind = Exchange {
            t0: 10_000,
            server: 3_010,
            t1: 10_020,
        };
        assert_eq!(behind.offset_ns(), -7_000);
    }

    #[test]
    fn the_smallest_round_trip_is_kept() {
        let xs = [
            Exchange {
                t0: 0,
                server: 900,
                t1: 400,
            },
            Exchange {
                t0: 1_000,
                server: 1_530,
                t1: 1_040,
            },
            Exchange {
                t0: 2_000,
                server: 2_300,
                t1: 2_100,
            },
        ];
        assert_eq!(
            Estimate::of(&xs),
            Some(Estimate {
                offset_ns: 510,
                error_ns: 20,
                exchanges: 3
            })
        );
        assert_eq!(Estimate::of(&[]), None);
    }

    #[test]
    fn only_an_applied_estimate_carries_its_error() {
        let e = |error_ns, applied| ClockEstimate {
            shard: None,
            offset_ns: 0,
            error_ns,
            exchanges: 16,
            applied,
        };
        assert_eq!(carried_error_ns(&[e(30, false)]), 0);
        assert_eq!(
            carried_error_ns(&[e(30, true), e(70, true), e(90, false)]),
            70
        );
        assert_eq!(carried_error_ns(&[]), 0);
    }

    #[test]
    fn modes_by_name() {
        for m in ClockMode::ALL {
            assert_eq!(ClockMode::from_name(m.name()), Some(m));
        }
        assert_eq!(ClockMode::from_name("auto"), None);
    }
}
