//! The live display of a running phase: a bar that updates in place on a terminal, a plain
//! line every few seconds otherwise (logs, CI), nothing with `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pushbench_loadgen::Progress;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What the display needs to know about the phase.
pub(crate) struct PhaseInfo {
    /// e.g. `[2/5] long-poll rep 1`.
    pub(crate) title: String,
    pub(crate) clients: u32,
    pub(crate) total: Duration,
}

/// Shows the phase's progress until `done` is cancelled.
pub(crate) async fn show(progress: Arc<Progress>, info: PhaseInfo, done: CancellationToken) {
    let tty = std::io::stdout().is_terminal();
    let bar = tty.then(|| {
        let bar = ProgressBar::with_draw_target(
            Some(info.total.as_millis() as u64),
            ProgressDrawTarget::stdout(),
        );
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:24}] {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(info.title.clone());
        bar
    });
    let start = Instant::now();
    let (mut last_t, mut last_received, mut rate) = (start, 0u64, 0.0);
    let mut last_plain = start;
    let tick = if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(5)
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = done.cancelled() => break,
        }
        let now = Instant::now();
        let s = progress.snapshot();
        // Workers publish once a second; measure the rate between changes.
        if s.received != last_received {
            rate = (s.received.saturating_sub(last_received)) as f64
                / now.duration_since(last_t).as_secs_f64();
            (last_t, last_received) = (now, s.received);
        }
        let elapsed = now.duration_since(start).min(info.total);
        let line = format!(
            "{:.0}s/{:.0}s · clients {}/{} · {:.0} msg/s · p99 {} · errors {}",
            elapsed.as_secs_f64(),
            info.total.as_secs_f64(),
            s.connected,
            info.clients,
            rate,
            if s.p99_us == 0 {
                "-".to_string()
            } else if s.p99_us >= 1000 {
                format!("{:.1} ms", s.p99_us as f64 / 1000.0)
            } else {
                format!("{} µs", s.p99_us)
            },
            s.errors
        );
        match &bar {
            Some(bar) => {
                bar.set_position(elapsed.as_millis() as u64);
                bar.set_message(line);
            }
            None if now.duration_since(last_plain) >= tick => {
                println!("{}: {line}", info.title);
                last_plain = now;
            }
            None => {}
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
