//! The injected regression of the gate's power measurement (`scripts/gate-check.sh`,
//! `docs/compare.md`): with the `slow-delivery` feature, every message handed to a
//! subscriber costs a fixed amount of extra CPU work, as a change that made delivery slower
//! would. Without the feature (every normal build) [`delivered`] is empty and compiles
//! away.

/// Rounds of the dependent multiply–xorshift chain run per delivered message: about 2.5 µs
/// of one core of this project's 2-core machine (a 64-bit multiply, a shift and a xor per
/// round, each round waiting on the last, so neither the compiler nor the CPU can
/// overlap or drop them).
#[cfg(feature = "slow-delivery")]
const ROUNDS_PER_MESSAGE: u64 = 2_500;

/// Burns the extra work of `messages` delivered messages.
#[cfg(feature = "slow-delivery")]
pub(crate) fn delivered(messages: usize) {
    let mut x = std::hint::black_box(0x9e37_79b9_7f4a_7c15_u64);
    for _ in 0..messages as u64 * ROUNDS_PER_MESSAGE {
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 31;
    }
    std::hint::black_box(x);
}

/// Nothing: a normal build delivers at full speed.
#[cfg(not(feature = "slow-delivery"))]
#[inline(always)]
pub(crate) fn delivered(_messages: usize) {}
