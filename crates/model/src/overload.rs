//! Whether a phase's server kept up: the judgement that marks a phase `overloaded` (and why)
//! instead of failing the run. Overload is a result.
//!
//! Every rule compares a quantity with what the phase's own schedule explains, so no
//! verdict hinges on where the window's edges fall:
//!
//! - **publisher lag**: the server's publisher is further behind its schedule at the
//!   window's end than at its start by more than one period (1/rate): it published at
//!   least one tick fewer than the schedule asked for. A publisher that keeps up is behind
//!   by less than a period at any reading, however the edges fall.
//! - **backlog**: deliveries owed at the window's end (published in it, less delivered in
//!   it) beyond what the edges explain. While latency is steady, what is in flight at the
//!   start (delivered in the window, published before it) matches what is in flight at the
//!   end, so the counts differ by at most one burst (one message to every subscriber; for
//!   timed polling, what one poll interval gathers) plus the ticks published while the
//!   window's last `/stats` reading was on its way. A backlog that grows across the window
//!   owes more.
//! - **slow consumers**: the server disconnected subscribers that fell behind.
//! - **load generator**: it used more than 80% of its cores; the phase is then marked
//!   `loadgen-saturated`, not blamed on the server, whatever else was seen.

/// The verdict on one phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every check could be made and none found the server behind.
    Ok,
    /// The server did not keep up; the reasons say how.
    Overloaded,
    /// The load generator used nearly all its CPU: whatever fell behind may be its fault.
    LoadgenSaturated,
    /// No check found a problem, but one could not be made (the server did not report
    /// the figure it needs, as an external server without `/stats` does not).
    Unknown,
}

impl Verdict {
    /// Every verdict.
    pub const ALL: [Verdict; 4] = [
        Verdict::Ok,
        Verdict::Overloaded,
        Verdict::LoadgenSaturated,
        Verdict::Unknown,
    ];

    /// The word in `summary.csv`, `sweep.csv` and the reports.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Overloaded => "overloaded",
            Verdict::LoadgenSaturated => "loadgen-saturated",
            Verdict::Unknown => "unknown",
        }
    }

    /// The worse of two verdicts, for pooling repetitions: saturation of the load
    /// generator first (it makes the others doubtful), then overload, unknown, ok.
    pub fn worse(self, other: Verdict) -> Verdict {
        let rank = |v: Verdict| match v {
            Verdict::Ok => 0,
            Verdict::Unknown => 1,
            Verdict::Overloaded => 2,
            Verdict::LoadgenSaturated => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// One finding of the judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The publisher fell more than one period further behind its schedule in the window.
    PublisherLag,
    /// More deliveries were owed at the window's end than its edges explain.
    Backlog,
    /// The server disconnected slow consumers.
    SlowConsumers,
    /// The load generator used more than 80% of its cores.
    LoadgenCpu,
}

impl Reason {
    /// Every reason, in the order they are listed.
    pub const ALL: [Reason; 4] = [
        Reason::PublisherLag,
        Reason::Backlog,
        Reason::SlowConsumers,
        Reason::LoadgenCpu,
    ];

    /// The reason's word in the `overload_reasons` column.
    pub fn name(self) -> &'static str {
        match self {
            Reason::PublisherLag => "publisher-lag",
            Reason::Backlog => "backlog",
            Reason::SlowConsumers => "slow-consumers",
            Reason::LoadgenCpu => "loadgen-cpu",
        }
    }
}

/// The load generator's CPU share (of all its cores) above which it is taken to be
/// saturated.
pub const LOADGEN_SATURATED_SHARE: f64 = 0.8;

/// What the judgement looks at; `None` where the server did not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    /// The publisher's period, µs (1/rate); `None` when the server runs no publisher (the
    /// echo pattern), so the lag check does not apply.
    pub period_us: Option<f64>,
    /// How much further behind its schedule the publisher was at the window's end than at
    /// its start, µs; `None` when the server does not report it.
    pub publisher_fell_behind_us: Option<u64>,
    /// Deliveries the publications in the window called for; `None` when unknown.
    pub published: Option<u64>,
    /// Messages delivered in the window.
    pub delivered: u64,
    /// Deliveries one burst calls for: one message to every subscriber, or what one poll
    /// interval gathers.
    pub burst: u64,
    /// Ticks the publisher may have published after the window's end before the last
    /// reading of its heads was taken (the reading's round trip times the rate, rounded up).
    pub late_ticks: u64,
    /// Subscribers the server disconnected as slow during the phase; `None` when unknown.
    pub slow_consumer_disconnects: Option<u64>,
    /// The load generator's CPU share of all its cores, 0 to 1.
    pub loadgen_cpu_share: f64,
}

impl Evidence {
    /// Deliveries owed at the window's end that the edges do not explain (0 when none or
    /// unknown).
    pub fn owed_beyond_edges(&self) -> Option<u64> {
        let published = self.published?;
        let allowance = self.burst.saturating_mul(1 + self.late_ticks);
        Some(
            published
                .saturating_sub(self.delivered)
                .saturating_sub(allowance),
        )
    }
}

/// The verdict and what led to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Judgement {
    /// The verdict; `None` for a phase judged by nothing (results of older runs).
    pub verdict: Option<Verdict>,
    /// What was found, in [`Reason::ALL`] order.
    pub reasons: Vec<Reason>,
}

impl Judgement {
    /// The `overload_reasons` column: the reasons' names joined by `;`, empty for none.
    pub fn reasons_text(&self) -> String {
        let names: Vec<&str> = self.reasons.iter().map(|r| r.name()).collect();
        names.join(";")
    }
}

/// Judges a phase.
pub fn judge(e: &Evidence) -> Judgement {
    let mut reasons = Vec::new();
    let mut unknown = false;
    match (e.period_us, e.publisher_fell_behind_us) {
        (Some(period), Some(fell)) if fell as f64 > period => reasons.push(Reason::PublisherLag),
        (Some(_), None) => unknown = true,
        _ => {}
    }
    match e.owed_beyond_edges() {
        Some(owed) if owed > 0 => reasons.push(Reason::Backlog),
        None => unknown = true,
        _ => {}
    }
    match e.slow_consumer_disconnects {
        Some(n) if n > 0 => reasons.push(Reason::SlowConsumers),
        None => unknown = true,
        _ => {}
    }
    let saturated = e.loadgen_cpu_share > LOADGEN_SATURATED_SHARE;
    if saturated {
        reasons.push(Reason::LoadgenCpu);
    }
    let verdict = if saturated {
        Verdict::LoadgenSaturated
    } else if !reasons.is_empty() {
        Verdict::Overloaded
    } else if unknown {
        Verdict::Unknown
    } else {
        Verdict::Ok
    };
    Judgement {
        verdict: Some(verdict),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10,000 subscribers at 6 messages/s for 10 s, as measured in issue 17: 600,000
    /// deliveries scheduled, one burst 10,000.
    fn keeping_up() -> Evidence {
        Evidence {
            period_us: Some(1e6 / 6.0),
            publisher_fell_behind_us: Some(40),
            published: Some(610_000),
            delivered: 600_212,
            burst: 10_000,
            late_ticks: 1,
            slow_consumer_disconnects: Some(0),
            loadgen_cpu_share: 0.4,
        }
    }

    #[test]
    fn one_burst_owed_at_the_edge_is_not_overload() {
        // The case of issue 17: 9,788 owed, less than one burst.
        let j = judge(&keeping_up());
        assert_eq!(j.verdict, Some(Verdict::Ok));
        assert!(j.reasons.is_empty());
        let e = Evidence {
            late_ticks: 0,
            ..keeping_up()
        };
        assert_eq!(judge(&e).verdict, Some(Verdict::Ok));
    }

    #[test]
    fn a_growing_backlog_is_overload() {
        // Two bursts and one delivery more than the edges explain (one burst, plus one
        // tick published before the last reading).
        let e = Evidence {
            delivered: 610_000 - 2 * 10_000 - 1,
            ..keeping_up()
        };
        assert_eq!(e.owed_beyond_edges(), Some(1));
        let j = judge(&e);
        assert_eq!(j.verdict, Some(Verdict::Overloaded));
        assert_eq!(j.reasons, [Reason::Backlog]);
        assert_eq!(j.reasons_text(), "backlog");
    }

    #[test]
    fn a_publisher_one_period_further_behind_is_overload() {
        // At 6/s a period is 166,666.7 µs: falling that far behind is one tick missed.
        let at = |fell| Evidence {
            publisher_fell_behind_us: Some(fell),
            ..keeping_up()
        };
        assert_eq!(judge(&at(166_666)).verdict, Some(Verdict::Ok));
        let j = judge(&at(166_667));
        assert_eq!(j.verdict, Some(Verdict::Overloaded));
        assert_eq!(j.reasons, [Reason::PublisherLag]);
    }

    #[test]
    fn the_load_generator_saturating_is_not_blamed_on_the_server() {
        let e = Evidence {
            loadgen_cpu_share: 0.81,
            delivered: 0,
            ..keeping_up()
        };
        let j = judge(&e);
        assert_eq!(j.verdict, Some(Verdict::LoadgenSaturated));
        assert_eq!(j.reasons_text(), "backlog;loadgen-cpu");
    }

    #[test]
    fn missing_server_figures_are_unknown_never_ok() {
        let e = Evidence {
            publisher_fell_behind_us: None,
            ..keeping_up()
        };
        assert_eq!(judge(&e).verdict, Some(Verdict::Unknown));
        let e = Evidence {
            published: None,
            slow_consumer_disconnects: None,
            ..keeping_up()
        };
        assert_eq!(judge(&e).verdict, Some(Verdict::Unknown));
        // A finding still counts when other figures are missing.
        let e = Evidence {
            published: None,
            slow_consumer_disconnects: Some(3),
            ..keeping_up()
        };
        assert_eq!(judge(&e).reasons, [Reason::SlowConsumers]);
        // Without a publisher (echo), the lag check does not apply.
        let e = Evidence {
            period_us: None,
            publisher_fell_behind_us: None,
            ..keeping_up()
        };
        assert_eq!(judge(&e).verdict, Some(Verdict::Ok));
    }

    #[test]
    fn pooling_keeps_the_worse_verdict() {
        use Verdict::*;
        assert_eq!(Ok.worse(Overloaded), Overloaded);
        assert_eq!(Overloaded.worse(Ok), Overloaded);
        assert_eq!(Unknown.worse(Ok), Unknown);
        assert_eq!(Overloaded.worse(LoadgenSaturated), LoadgenSaturated);
    }
}
