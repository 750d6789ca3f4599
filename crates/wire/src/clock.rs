//! The one clock every pushbench timestamp is read from.
//!
//! `CLOCK_MONOTONIC` is system-wide on Linux, so a server and a load generator in two
//! processes on one host read the same timeline: a publish time stamped by one can be
//! subtracted from a receive time read by the other.

/// Nanoseconds on the system-wide monotonic clock.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0);
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Converts a point on this clock into a `std::time::Instant`, so timers can sleep until it.
///
/// `Instant` reads `CLOCK_MONOTONIC` too, but keeps its value private; the offset is taken
/// from one pair of readings made back to back.
pub fn instant_at(ns: u64) -> std::time::Instant {
    let (now_i, now) = (std::time::Instant::now(), now_ns());
    if ns >= now {
        now_i + std::time::Duration::from_nanos(ns - now)
    } else {
        now_i
            .checked_sub(std::time::Duration::from_nanos(now - ns))
            .unwrap_or(now_i)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clock_moves_forward() {
        let a = super::now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = super::now_ns();
        assert!(b >= a + 2_000_000, "{a} then {b}");
    }
}
