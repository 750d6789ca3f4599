//! Where the publisher's ticks fall against a phase's window. A tick due exactly on a
//! window edge is published the moment the load generator asks for the topic heads as of
//! that edge, and a publisher thread a little late has not yet put it out (the server waits
//! for it, `PublisherStats::reached`, but no reading should hang on that race); its
//! message counts as published by its due time and as delivered by its receipt, so one due
//! on an edge falls on different sides of it in the two ledgers. Round timings put ticks on
//! edges: 20 messages a second, a 50 ms lead and whole-second ramp-up, warm-up and duration
//! do. So the load generator names tick 0 where the ticks fall between the edges, and keeps
//! the phase on that grid when it starts late. Pure arithmetic, no clock reads.

use std::time::Duration;

/// How long after the moment the workload is set (the instant the phase's lead is counted
/// from) to name the publisher's tick 0, so that both window edges fall as far from a tick
/// as they can: `rate` ticks a second (`None` when nothing is scheduled: the echo pattern),
/// the first edge `to_window` after that moment, the second `duration` after the first.
///
/// With `p` the tick period, `a` the first edge's place in its period and `r` the
/// duration's remainder of whole periods, the two edges cut each period into arcs of `r`
/// and `p − r`; the ticks go in the middle of the longer one, so each edge is at least
/// `p / 4` from the nearest tick, and exactly `p / 2` when the duration is a whole number
/// of periods. The delay is less than one period: tick 0 is never named in the past (the
/// server would publish it at once, late), and the phase itself is not delayed.
pub(crate) fn first_tick_delay(rate: Option<f64>, to_window: Duration, duration: Duration) -> u64 {
    let Some(period) = rate.filter(|r| *r > 0.0).map(|r| 1e9 / r) else {
        return 0;
    };
    let a = (to_window.as_nanos() as f64).rem_euclid(period);
    let r = (duration.as_nanos() as f64).rem_euclid(period);
    let middle = if 2.0 * r >= period {
        a + r / 2.0
    } else {
        a + (period + r) / 2.0
    };
    let delay = middle.rem_euclid(period);
    // Within a nanosecond of a whole period is a whole period: no delay.
    if period - delay < 1.0 {
        0
    } else {
        delay.round() as u64
    }
}

/// The phase's start: `lead` after `anchor`, the moment its workload was set, so that the
/// window takes the place among the ticks that [`first_tick_delay`] gave it, however long
/// the set-up took. When the set-up took longer than that (a loaded machine), whole tick
/// periods later (`rate` ticks a second), the place kept, until it is ahead of `now`
/// again; without a schedule (`rate` `None`: the echo pattern), `lead` after `now`.
pub(crate) fn aligned_start(rate: Option<f64>, anchor: u64, lead: Duration, now: u64) -> u64 {
    let lead = lead.as_nanos() as u64;
    let start = anchor + lead;
    match rate {
        _ if start >= now => start,
        Some(rate) if rate > 0.0 => {
            let period_ns = 1e9 / rate;
            let periods = ((now - start) as f64 / period_ns).ceil();
            start + (periods * period_ns).round() as u64
        }
        _ => now + lead,
    }
}

#[cfg(test)]
mod tests {
    use super::{aligned_start, first_tick_delay};
    use std::time::Duration;

    const MS: u64 = 1_000_000;
    const LEAD: Duration = Duration::from_millis(50);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn round_timings_get_their_ticks_half_a_period_from_both_edges() {
        // smoke.toml: 20 a second (50 ms apart), the first edge 50 ms + 1 s + 1 s after the
        // workload (a whole number of periods), 5 s long: without a delay both edges fall
        // on ticks; 25 ms puts each half a period from one.
        assert_eq!(first_tick_delay(Some(20.0), ms(2_050), ms(5_000)), 25 * MS);
        // A shard run's lead of 1.05 s, the same.
        assert_eq!(first_tick_delay(Some(20.0), ms(3_050), ms(5_000)), 25 * MS);
        // 2 a second, the first edge 750 ms in (250 ms past a tick), 2 s long: already
        // half a period from both edges, so no delay.
        assert_eq!(first_tick_delay(Some(2.0), ms(750), ms(2_000)), 0);
        assert_eq!(first_tick_delay(Some(2.0), ms(1_750), ms(2_000)), 0);
        // 2 a second, the first edge 1 s in (on a tick): tick 0 250 ms later.
        assert_eq!(first_tick_delay(Some(2.0), ms(1_000), ms(2_000)), 250 * MS);
    }

    #[test]
    fn a_duration_off_the_period_puts_ticks_in_the_longer_arc() {
        // 10 a second (100 ms), the first edge at 0 in its period, 1.02 s long: the edges
        // are 20 ms apart in the period, so the ticks go in the middle of the other 80 ms,
        // 60 ms past the first edge: each edge 40 ms from its nearest tick.
        assert_eq!(first_tick_delay(Some(10.0), ms(1_000), ms(1_020)), 60 * MS);
        // 1.07 s: the edges 70 ms apart, the longer arc is theirs: ticks 35 ms past the
        // first edge, 35 ms before the second.
        assert_eq!(first_tick_delay(Some(10.0), ms(1_000), ms(1_070)), 35 * MS);
        // 3 a second (333.33… ms): the first edge 1 s in, on tick 3; tick 0 half a period
        // later, rounded to the nanosecond.
        assert_eq!(
            first_tick_delay(Some(3.0), ms(1_000), ms(3_000)),
            166_666_667
        );
    }

    #[test]
    fn nothing_scheduled_needs_no_delay() {
        assert_eq!(first_tick_delay(None, ms(1_000), ms(1_000)), 0);
    }

    #[test]
    fn a_late_phase_start_keeps_its_place_among_the_ticks() {
        // 2 ticks a second (500 ms apart) from tick 0 at 1 s; the lead is 50 ms. Each case:
        // the rate, the workload's moment, now, and the phase start expected.
        let cases = [
            (Some(2.0), 1_000, 1_020, 1_050),
            (Some(2.0), 1_000, 1_050, 1_050),
            // 250 ms late: one period later.
            (Some(2.0), 1_000, 1_300, 1_550),
            // Exactly two periods late: no further.
            (Some(2.0), 1_000, 2_050, 2_050),
            // 3 ticks a second: a period of 333.33… ms, three of them exactly 1 s.
            (Some(3.0), 0, 1_000, 1_050),
            // No schedule: the lead after now.
            (None, 1_000, 1_300, 1_350),
        ];
        for (rate, anchor, now, expected) in cases {
            let start = aligned_start(rate, anchor * MS, LEAD, now * MS);
            assert_eq!(start, expected * MS, "{rate:?} {anchor} ms, now {now} ms");
        }
    }
}
