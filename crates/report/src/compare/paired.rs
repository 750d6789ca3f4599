//! Distribution-free paired statistics: the exact null distribution of the Wilcoxon
//! signed-rank statistic, the Hodges–Lehmann estimate of a paired shift (the median of the
//! Walsh averages) and the exact confidence interval that inverts the signed-rank test.
//!
//! The paired counterpart of [`super::stats`]: there the two samples are independent and
//! every difference between a candidate and a baseline value counts; here each candidate
//! value has its own baseline, measured beside it, and only the differences within a pair
//! count. A slow minute that hits both sides of a pair cancels out of its difference, which
//! an unpaired comparison cannot do. Like `stats`, every function works on additive
//! differences; the caller takes logs first when it wants a ratio.

use super::stats::{LEVEL, median_sorted};

/// How many of the `2^n` equally likely sign patterns of `n` tie-free, non-zero
/// differences give each value of W⁺ (the sum of the ranks of the positive differences),
/// for W⁺ = 0 ..= n(n + 1)/2.
///
/// Recurrence on the largest rank `n`: its difference is either negative (W⁺ comes from
/// the other `n - 1`) or positive (it adds `n`): `c(n, w) = c(n - 1, w) + c(n - 1, w - n)`,
/// with `c(0, 0) = 1`. Counts are `f64`: exact up to 2^53 (n ≤ 52) and within one part in
/// 10^15 beyond.
pub(crate) fn null_counts(n: usize) -> Vec<f64> {
    let mut c = vec![1.0];
    for k in 1..=n {
        let mut next = vec![0.0; c.len() + k];
        for (w, v) in c.iter().enumerate() {
            next[w] += v;
            next[w + k] += v;
        }
        c = next;
    }
    c
}

/// The rank `k` (from 1) of the interval `[A(k), A(M + 1 - k)]` over the `M = n(n + 1)/2`
/// sorted Walsh averages, and the confidence it achieves: `1 - 2 P(W⁺ <= k - 1)`.
///
/// `k` is the largest whose confidence is at least [`LEVEL`]. When even `k = 1` (the
/// smallest to the largest Walsh average) falls short, as with 5 pairs or fewer (93.75 % at
/// 5, 87.5 % at 4), it is `k = 1` with the lower confidence it has.
pub(crate) fn rank(n: usize) -> (usize, f64) {
    assert!(n >= 1, "at least one pair");
    let counts = null_counts(n);
    let total: f64 = counts.iter().sum();
    let mut sum = 0.0;
    // tail[k - 1] = P(W⁺ <= k - 1).
    let tail: Vec<f64> = counts
        .iter()
        .map(|c| {
            sum += c;
            sum / total
        })
        .collect();
    let walsh = n * (n + 1) / 2;
    let coverage = |k: usize| 1.0 - 2.0 * tail[k - 1];
    let mut k = 1;
    // The tolerance keeps a confidence of exactly 95% from being lost to rounding.
    while 2 * (k + 1) <= walsh && coverage(k + 1) >= LEVEL - 1e-12 {
        k += 1;
    }
    (k, coverage(k))
}

/// A paired shift: the typical difference within a pair, candidate minus baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PairedShift {
    /// The Hodges–Lehmann estimate: the median of the Walsh averages.
    pub estimate: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
    /// The confidence the interval achieves.
    pub confidence: f64,
}

/// The paired Hodges–Lehmann shift of the differences `d[i] = new[i] - base[i]` with its
/// exact signed-rank interval: the Walsh averages `(d[i] + d[j]) / 2` for every `i <= j`,
/// sorted, their median as the estimate and `[A(k), A(M + 1 - k)]` with `k` from [`rank`].
/// Needs at least one difference.
pub(crate) fn shift(d: &[f64]) -> PairedShift {
    let mut walsh: Vec<f64> = Vec::with_capacity(d.len() * (d.len() + 1) / 2);
    for (i, a) in d.iter().enumerate() {
        for b in &d[i..] {
            walsh.push((a + b) / 2.0);
        }
    }
    walsh.sort_by(f64::total_cmp);
    let (k, confidence) = rank(d.len());
    PairedShift {
        estimate: median_sorted(&walsh),
        lo: walsh[k - 1],
        hi: walsh[walsh.len() - k],
        confidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_rank_counts_match_enumeration_by_hand() {
        // n = 3: the 8 sign patterns of ranks {1, 2, 3} give W⁺ = 0, 1, 2, 3 (twice: {3}
        // and {1, 2}), 4, 5, 6: counts 1 1 1 2 1 1 1.
        assert_eq!(null_counts(3), [1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0]);
        // n = 4 (16 patterns): W⁺ = 5 from {1, 4} and {2, 3}; 4 from {4} and {1, 3}.
        assert_eq!(
            null_counts(4),
            [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0]
        );
        // Every pattern counted once.
        for n in 1..=20 {
            let total: f64 = null_counts(n).iter().sum();
            assert_eq!(total, 2f64.powi(n as i32), "n = {n}");
        }
    }

    #[test]
    fn the_interval_rank_and_its_confidence() {
        // Up to 5 pairs only the extremes are possible: 1 - 2 / 2^n.
        assert_eq!(rank(4), (1, 1.0 - 2.0 / 16.0));
        assert_eq!(rank(5), (1, 1.0 - 2.0 / 32.0));
        // 6 pairs: P(W⁺ <= 0) = 1/64 gives 96.9%; k = 2 would give 1 - 4/64 = 93.75%.
        assert_eq!(rank(6), (1, 1.0 - 2.0 / 64.0));
        // 8 pairs: cumulative counts 1, 2, 3, 5, 7 of 256: P(W⁺ <= 3) = 5/256 = 0.0195
        // (coverage 96.1%), P(W⁺ <= 4) = 7/256 = 0.0273 (94.5%, too low): k = 4.
        assert_eq!(rank(8), (4, 1.0 - 10.0 / 256.0));
        // Tables of the signed-rank test (two-sided 5%): 10 pairs reject at W⁺ <= 8, so
        // k = 9 with P(W⁺ <= 8) = 25/1024.
        assert_eq!(rank(10), (9, 1.0 - 50.0 / 1024.0));
    }

    #[test]
    fn shift_of_known_differences() {
        // Differences 1, 2, 4: Walsh averages 1, 1.5, 2.5, 2, 3, 4 -> sorted
        // 1, 1.5, 2, 2.5, 3, 4; median 2.25; 3 pairs: k = 1, the whole range 1..4 at 75%.
        let s = shift(&[1.0, 2.0, 4.0]);
        assert_eq!(
            s,
            PairedShift {
                estimate: 2.25,
                lo: 1.0,
                hi: 4.0,
                confidence: 0.75
            }
        );
        // Six pairs, differences -1, 0.5, 1, 2, 3, 10. By hand, the 21 Walsh averages
        // sorted are -1, -0.25, 0, 0.5, 0.5, 0.75, 1, 1, 1.25, 1.5, 1.75, 2, 2, 2.5, 3, 4.5,
        // 5.25, 5.5, 6, 6.5, 10: the median (the 11th) is 1.75, and with 6 pairs the
        // interval is their extremes, -1 and 10, at 96.9%.
        let d = [-1.0, 0.5, 1.0, 2.0, 3.0, 10.0];
        let s = shift(&d);
        assert_eq!((s.estimate, s.lo, s.hi), (1.75, -1.0, 10.0));
        assert!((s.confidence - (1.0 - 2.0 / 64.0)).abs() < 1e-12);
    }

    #[test]
    fn a_common_shift_in_every_pair_is_found_exactly() {
        // The candidate is the baseline plus 0.1 in every pair, whatever the baseline did:
        // every Walsh average is 0.1, so estimate and interval are 0.1 exactly.
        let base = [3.0, 7.5, 1.25, 4.0, 9.0, 2.0, 5.5, 6.0];
        let d: Vec<f64> = base.iter().map(|b| (b + 0.1) - b).collect();
        let s = shift(&d);
        assert!((s.estimate - 0.1).abs() < 1e-12);
        assert!((s.lo - 0.1).abs() < 1e-12 && (s.hi - 0.1).abs() < 1e-12);
    }
}
