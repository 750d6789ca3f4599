//! `--shard I/N --start-at TIME` of `pushbench run`, read and checked, and `pushbench merge`.
//! What a shard does is the load generator's (`pushbench_loadgen::shard`); merging is the
//! report crate's (`pushbench_report::merge`).

use crate::CliError;
use pushbench_model::shard::Shard;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A run's `--shard` and `--start-at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardOptions {
    /// Which shard of how many.
    pub shard: Shard,
    /// When the plan starts, ns since the UNIX epoch.
    pub start_unix_ns: u64,
}

impl ShardOptions {
    /// Reads `--shard` and `--start-at`: both or neither.
    pub fn parse(
        shard: Option<&str>,
        start_at: Option<&str>,
    ) -> Result<Option<ShardOptions>, CliError> {
        let bad = |option, why: String| CliError::BadOption { option, why };
        match (shard, start_at) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(bad("--start-at", "only with --shard I/N".into())),
            (Some(s), None) => Err(bad(
                "--shard",
                format!(
                    "needs --start-at TIME: every shard of the run is given the same start time (for shard {s})"
                ),
            )),
            (Some(s), Some(t)) => Ok(Some(ShardOptions {
                shard: Shard::parse(s).map_err(|why| bad("--shard", why))?,
                start_unix_ns: start_time(t).map_err(|why| bad("--start-at", why))?,
            })),
        }
    }

    /// The start time as RFC 3339 UTC, to the nanosecond.
    pub fn start_text(&self) -> String {
        let at = UNIX_EPOCH + Duration::from_nanos(self.start_unix_ns);
        humantime::format_rfc3339_nanos(at).to_string()
    }

    /// An error when the start time has passed: the shard would be late for its first phase.
    pub fn check_not_past(&self) -> Result<(), CliError> {
        let now = unix_ns(SystemTime::now());
        if now > self.start_unix_ns {
            return Err(CliError::BadOption {
                option: "--start-at",
                why: format!(
                    "{} was {:.3} s ago when this shard was ready: give a later time (shards take a moment to start)",
                    self.start_text(),
                    (now - self.start_unix_ns) as f64 / 1e9
                ),
            });
        }
        Ok(())
    }
}

fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// `2026-12-01T21:30:00Z` (fraction allowed), or `+SECONDS` from now.
fn start_time(text: &str) -> Result<u64, String> {
    if let Some(secs) = text.strip_prefix('+') {
        let s: f64 = secs
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s < 1e6)
            .ok_or_else(|| format!("expected +SECONDS (such as +5), found {text:?}"))?;
        return Ok(unix_ns(SystemTime::now() + Duration::from_secs_f64(s)));
    }
    humantime::parse_rfc3339(text).map(unix_ns).map_err(|_| {
        format!(
            "expected an RFC 3339 UTC time such as 2026-12-01T21:30:00Z, or +SECONDS, found {text:?}"
        )
    })
}

/// Merges shard run directories into `out` and prints where the report is.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<(), CliError> {
    let merged = pushbench_report::merge(dirs, out).map_err(|e| match e {
        pushbench_report::ReportError::NotEmpty(_) => CliError::OutDir(e),
        other => CliError::Report(other),
    })?;
    println!(
        "merged {} shard(s), {} phase(s){}: {}",
        dirs.len(),
        merged.phases.len(),
        if merged.completed {
            ""
        } else {
            " (incomplete: meta.json says why)"
        },
        out.display()
    );
    if !merged.phases.is_empty() {
        println!("report: {}", out.join("report.html").display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times() {
        assert_eq!(
            start_time("2026-12-01T21:30:00Z"),
            Ok(1_796_160_600_000_000_000)
        );
        assert_eq!(
            start_time("2026-12-01T21:30:00.25Z"),
            Ok(1_796_160_600_250_000_000)
        );
        let now = unix_ns(SystemTime::now());
        let later = start_time("+5").unwrap();
        assert!((now + 5_000_000_000..now + 6_000_000_000).contains(&later));
        for bad in ["5", "+x", "+-1", "2026-12-01 21:30", "tomorrow", "+inf"] {
            assert!(start_time(bad).is_err(), "{bad}");
        }
    }
}
