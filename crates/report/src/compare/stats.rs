//! Distribution-free two-sample statistics: the exact null distribution of the
//! Mann–Whitney statistic, the Hodges–Lehmann shift estimate and the exact confidence
//! interval for the shift that inverts the Mann–Whitney test.
//!
//! Every function works on an additive shift between two samples; the caller takes logs
//! first when it wants a ratio.

/// The confidence the interval aims for.
pub(crate) const LEVEL: f64 = 0.95;

/// Above this many pairs (`n * m`, 50 repetitions against 50) the exact distribution is
/// replaced by its normal approximation: the dynamic programme costs about `(n * m)² / 4`
/// additions, and with that many repetitions the approximation is very close anyway.
const EXACT_PAIRS: usize = 2_500;

/// How many of the `C(n + m, n)` equally likely arrangements of two tie-free samples of
/// sizes `n` and `m` give each value of U = #{(i, j) : y_j > x_i}, for U = 0 ..= n·m.
///
/// Recurrence on the largest of the `n + m` values: when it is an x it exceeds no y, so
/// U comes from the other `(n - 1, m)` values; when it is a y it exceeds all `n` x's:
/// `f(n, m, u) = f(n - 1, m, u) + f(n, m - 1, u - n)`, with `f(0, m, 0) = f(n, 0, 0) = 1`.
/// Counts are `f64`: exact up to 2^53 and within one part in 10^15 beyond.
pub(crate) fn null_counts(n: usize, m: usize) -> Vec<f64> {
    // `prev[j]` holds f(i - 1, j, ·) while row i is built in `cur`.
    let mut prev: Vec<Vec<f64>> = vec![vec![1.0]; m + 1];
    for i in 1..=n {
        let mut cur: Vec<Vec<f64>> = Vec::with_capacity(m + 1);
        cur.push(vec![1.0]);
        for j in 1..=m {
            let mut f = vec![0.0; i * j + 1];
            for (u, c) in prev[j].iter().enumerate() {
                f[u] += c;
            }
            for (u, c) in cur[j - 1].iter().enumerate() {
                f[u + i] += c;
            }
            cur.push(f);
        }
        prev = cur;
    }
    prev.swap_remove(m)
}

/// The rank `k` (from 1) of the interval `[D(k), D(nm + 1 - k)]` over the sorted pairwise
/// differences, and the confidence it achieves: `1 - 2 P(U <= k - 1)`.
///
/// `k` is the largest whose confidence is at least [`LEVEL`]. When even `k = 1` (the
/// smallest to the largest difference) falls short, as with 3 repetitions against 3, it
/// is `k = 1` with the lower confidence it has.
pub(crate) fn rank(n: usize, m: usize) -> (usize, f64) {
    assert!(n >= 1 && m >= 1, "two non-empty samples");
    let pairs = n * m;
    // tail[k - 1] = P(U <= k - 1), for every k worth trying (k <= pairs / 2).
    let tail: Vec<f64> = if pairs > EXACT_PAIRS {
        (1..=pairs / 2 + 1).map(|k| normal_tail(n, m, k)).collect()
    } else {
        let counts = null_counts(n, m);
        let total: f64 = counts.iter().sum();
        let mut sum = 0.0;
        counts
            .iter()
            .map(|c| {
                sum += c;
                sum / total
            })
            .collect()
    };
    let coverage = |k: usize| 1.0 - 2.0 * tail[k - 1];
    let mut k = 1;
    // The tolerance keeps a confidence of exactly 95% from being lost to rounding.
    while 2 * (k + 1) <= pairs && coverage(k + 1) >= LEVEL - 1e-12 {
        k += 1;
    }
    (k, coverage(k))
}

/// P(U <= k - 1) from the normal approximation with a continuity correction.
fn normal_tail(n: usize, m: usize, k: usize) -> f64 {
    let (n, m) = (n as f64, m as f64);
    let mean = n * m / 2.0;
    let sd = (n * m * (n + m + 1.0) / 12.0).sqrt();
    let z = ((k as f64 - 1.0) + 0.5 - mean) / sd;
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// The complementary error function, to about 1e-7 (Abramowitz & Stegun 7.1.26).
fn erfc(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let e = poly * (-x * x).exp();
    if x >= 0.0 { e } else { 2.0 - e }
}

/// A shift between two samples, candidate minus baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shift {
    /// The Hodges–Lehmann estimate: the median of all pairwise differences.
    pub estimate: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
    /// The confidence the interval achieves.
    pub confidence: f64,
}

/// The Hodges–Lehmann shift of `new` against `base` with its exact Mann–Whitney interval:
/// all differences `new[j] - base[i]`, sorted, the median as the estimate and
/// `[D(k), D(nm + 1 - k)]` with `k` from [`rank`]. Both samples need at least one value;
/// with a single value on either side the "interval" has no meaning (confidence ≤ 50%)
/// and callers should not use it.
pub(crate) fn shift(base: &[f64], new: &[f64]) -> Shift {
    let mut d: Vec<f64> = new
        .iter()
        .flat_map(|y| base.iter().map(move |x| y - x))
        .collect();
    d.sort_by(f64::total_cmp);
    let (k, confidence) = rank(base.len(), new.len());
    Shift {
        estimate: median_sorted(&d),
        lo: d[k - 1],
        hi: d[d.len() - k],
        confidence,
    }
}

/// The median of sorted values (the mean of the middle two for an even count).
pub(crate) fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The median of values in any order.
pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    median_sorted(&s)
}
