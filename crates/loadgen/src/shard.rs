//! A shard's phases on the plan every shard of a run shares (`pushbench run --shard I/N`,
//! `docs/sharding.md`). Every shard computes the same plan from the scenario alone: phase
//! after phase, each in a slot of fixed length counted from the run's start time, so shards
//! started apart (on one machine or many) run each phase together without talking to each
//! other. Shard 1 sets the server's workload at each slot's start; the others wait for the
//! server's workload count (`/stats` `workloads`) to show it before their clients connect.

use crate::control::Control;
use crate::error::LoadgenError;
use crate::phase::{LEAD, drain};
use crate::scenario::Scenario;
use crate::stats::Window;
use pushbench_model::shard::{PlannedPhase, Shard};
use pushbench_wire::now_ns;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// From the workload being set to the phase's first client: a second for the shards that do
/// not set it to see it set (they ask every [`POLL`]), plus the single-process run's
/// [`LEAD`] for the clients' preparations. Shard 1 names the publisher's tick 0 counted from
/// the workload's moment so that no tick falls on a window edge (`crate::ticks`).
pub const WORKLOAD_LEAD: Duration = Duration::from_millis(1000 + LEAD.as_millis() as u64);

/// After a phase's clients have closed, before the next phase's workload: time for every
/// shard to join its workers, read the server's figures and write its files.
pub const SLOT_GAP: Duration = Duration::from_secs(2);

/// How often a shard that does not set the workload asks whether it is set.
const POLL: Duration = Duration::from_millis(5);

/// The plan: every phase of `sc` in the order a run makes them (repetitions outermost,
/// sweep points ascending, transports in file order), at offsets from the run's start.
pub fn plan(sc: &Scenario) -> Vec<PlannedPhase> {
    let ns = |d: Duration| d.as_nanos() as u64;
    let mut at = 0;
    let mut out = Vec::new();
    for repetition in 1..=sc.repeat {
        for point in sc.points() {
            let s = &point.scenario;
            for t in &s.transports {
                let phase_start = at + ns(WORKLOAD_LEAD);
                let window_start = phase_start + ns(s.ramp_up + s.warmup);
                let window_end = window_start + ns(s.duration);
                let slot_end = window_end + ns(drain(s)) + ns(SLOT_GAP);
                out.push(PlannedPhase {
                    transport: t.label.clone(),
                    repetition,
                    sweep: point.point,
                    workload_at_ns: at,
                    phase_start_ns: phase_start,
                    window_start_ns: window_start,
                    window_end_ns: window_end,
                    slot_end_ns: slot_end,
                });
                at = slot_end;
            }
        }
    }
    out
}

/// A shard run's start on this machine's clocks, and the server's workload count before it.
#[derive(Debug, Clone, Copy)]
pub struct ShardClock {
    /// Which shard.
    pub shard: Shard,
    /// The run's start, ns since the UNIX epoch.
    pub start_unix_ns: u64,
    /// The same instant on the monotonic clock the phases are timed on.
    pub start_mono_ns: u64,
    /// Workloads the server had accepted when this shard started (`/stats` `workloads`):
    /// phase `k` (from 1) is in place once it has accepted `k` more.
    pub workloads_before: u64,
}

impl ShardClock {
    /// The run's start `start_unix_ns` on the monotonic clock, read now. Both clocks are
    /// read back to back, so the conversion is off by their distance (well under a
    /// microsecond) plus whatever the wall clock is stepped during the run (NTP slewing
    /// moves it by at most 0.5 ms per second).
    pub fn new(shard: Shard, start_unix_ns: u64, workloads_before: u64) -> ShardClock {
        let (wall, mono) = (SystemTime::now(), now_ns());
        let wall_ns = wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        ShardClock {
            shard,
            start_unix_ns,
            start_mono_ns: (mono + start_unix_ns).saturating_sub(wall_ns),
            workloads_before,
        }
    }
}

/// One phase of a shard run.
#[derive(Debug, Clone)]
pub struct ShardPhase {
    /// The run's clock.
    pub clock: ShardClock,
    /// The phase's number in the plan, from 1.
    pub number: usize,
    /// Its planned times.
    pub planned: PlannedPhase,
    /// The whole phase's clients: this shard runs its share of them
    /// ([`Shard::clients`]), numbered as in a single process.
    pub total_clients: u32,
}

impl ShardPhase {
    fn mono(&self, offset_ns: u64) -> u64 {
        self.clock.start_mono_ns + offset_ns
    }

    fn fail(&self, why: String) -> LoadgenError {
        LoadgenError::Shard {
            shard: format!("{}/{}", self.clock.shard.index, self.clock.shard.count),
            phase: format!(
                "{} ({} rep {})",
                self.number, self.planned.transport, self.planned.repetition
            ),
            why,
        }
    }

    /// The phase's window on the monotonic clock, and its start in UNIX seconds.
    pub(crate) fn window(&self, sc: &Scenario) -> (Window, f64) {
        let p = &self.planned;
        let end = self.mono(p.window_end_ns);
        let window = Window {
            phase_start: self.mono(p.phase_start_ns),
            start: self.mono(p.window_start_ns),
            end,
            close: end + drain(sc).as_nanos() as u64,
        };
        let started = (self.clock.start_unix_ns + p.phase_start_ns) as f64 / 1e9;
        (window, started)
    }

    /// The latest moment to go on estimating the clock offset: the phase's planned start,
    /// less the single-process run's [`LEAD`] for the clients' own preparations.
    pub(crate) fn clock_deadline(&self) -> u64 {
        self.mono(self.planned.phase_start_ns)
            .saturating_sub(LEAD.as_nanos() as u64)
    }

    /// The planned moment of the workload on the monotonic clock: where shard 1 starts the
    /// publisher's schedule.
    pub(crate) fn workload_at(&self) -> u64 {
        self.mono(self.planned.workload_at_ns)
    }

    /// Waits for the planned moment of the workload; an error when this shard is already
    /// past it (it started late, or its previous phase overran its slot).
    pub(crate) async fn until_workload(
        &self,
        cancel: &CancellationToken,
    ) -> Result<(), LoadgenError> {
        let at = self.mono(self.planned.workload_at_ns);
        let now = now_ns();
        if now > at {
            return Err(self.fail(format!(
                "{:.3} s behind the plan: this shard started after the run's start time, or its previous phase overran its slot",
                (now - at) as f64 / 1e9
            )));
        }
        tokio::select! {
            _ = crate::clients::sleep_until_ns(at) => {}
            _ = cancel.cancelled() => {}
        }
        Ok(())
    }

    /// Waits until the server has accepted this phase's workload (shard 1 sets it), at the
    /// latest until the phase's first client is due.
    pub(crate) async fn await_workload(
        &self,
        control: &mut Control,
        cancel: &CancellationToken,
    ) -> Result<(), LoadgenError> {
        let want = self.clock.workloads_before + self.number as u64;
        let due = self.mono(self.planned.phase_start_ns);
        while !cancel.is_cancelled() {
            let seen = control.stats().await?.workloads;
            if seen == want {
                return Ok(());
            }
            if seen > want {
                return Err(self.fail(format!(
                    "the server accepted {} workloads since this shard started where the plan has {}: something besides shard 1 sets its workload",
                    seen - self.clock.workloads_before,
                    self.number
                )));
            }
            if now_ns() >= due {
                return Err(self.fail(
                    "shard 1 had not set the workload by the phase's planned start (is shard 1 running, against the same server, with the same --start-at?)".into(),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_has_a_slot_of_its_own() {
        let sc = crate::scenario::parse(
            std::path::Path::new("s.toml"),
            r#"
name = "s"
duration = "2s"
warmup = "600ms"
ramp_up = "100ms"
repeat = 2
[workload]
rate = 2
payload_bytes = 8
[[transports]]
kind = "websocket"
clients = 7
[[transports]]
kind = "sse"
clients = 4
"#,
        )
        .unwrap();
        let plan = plan(&sc);
        let order: Vec<(&str, u32)> = plan
            .iter()
            .map(|p| (p.transport.as_str(), p.repetition))
            .collect();
        assert_eq!(
            order,
            [("websocket", 1), ("sse", 1), ("websocket", 2), ("sse", 2)]
        );
        // Workload at the slot's start, the first client 1.05 s later, the window after the
        // ramp-up and warm-up (0.7 s) for the duration (2 s), then the 300 ms drain and the
        // 2 s gap: a slot of 6.05 s.
        let ms = 1_000_000;
        let p = &plan[1];
        assert_eq!(p.workload_at_ns, 6_050 * ms);
        assert_eq!(p.phase_start_ns, 7_100 * ms);
        assert_eq!(p.window_start_ns, 7_800 * ms);
        assert_eq!(p.window_end_ns, 9_800 * ms);
        assert_eq!(p.slot_end_ns, 12_100 * ms);
        assert_eq!(plan[3].slot_end_ns, 4 * 6_050 * ms);
    }

    #[test]
    fn the_start_is_read_on_the_monotonic_clock() {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let c = ShardClock::new(Shard { index: 1, count: 1 }, wall + 3_000_000_000, 0);
        // Three seconds from now on the monotonic clock, give or take the time between the
        // two clock reads (generously: a busy machine may deschedule this thread).
        let from_now = c.start_mono_ns as i64 - now_ns() as i64;
        assert!(
            (2_500_000_000..=3_000_000_000).contains(&from_now),
            "{from_now}"
        );
    }
}
