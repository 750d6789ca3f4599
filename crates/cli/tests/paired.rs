//! A paired run (`pushbench run --baseline-bin … --candidate-bin …`) as a user runs it: the
//! real binary starting two servers and interleaving its phases between them, the paired
//! run directory it leaves, and `pushbench compare RUN`'s exit codes on it and on fixtures
//! made from it (A/A → 0, the candidate 50% slower → 1, mismatched scenarios → 2).

mod common;

use common::{compare, copy_dir, pushbench, rewrite_columns, run_with};
use pushbench_testkit::temp_dir;
use std::path::Path;
use std::process::Output;

const BIN: &str = env!("CARGO_BIN_EXE_pushbench");

/// One SSE phase per side and repetition, six repetitions: the fewest pairs whose interval
/// reaches 95% (1 − 2/2⁶ = 96.9%).
const PAIRED: &str = r#"
name = "pair"
duration = "300ms"
warmup = "100ms"
ramp_up = "100ms"
repeat = 6
[workload]
rate = 20
payload_bytes = 8
[[transports]]
kind = "sse"
clients = 2
"#;

/// `pushbench run SCENARIO --out OUT --quiet EXTRA...`, waited for.
fn run(scenario: &Path, out: &Path, extra: &[&str]) -> Output {
    run_with(scenario, out, &[&["--quiet"], extra].concat())
}

fn one_line(stderr: &str) {
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn a_paired_run_interleaves_two_servers_and_compare_judges_it_pair_by_pair() {
    let dir = temp_dir("paired");
    let scenario = dir.join("pair.toml");
    std::fs::write(&scenario, PAIRED).unwrap();
    let out = dir.join("run");
    let done = run(
        &scenario,
        &out,
        &["--baseline-bin", BIN, "--candidate-bin", BIN],
    );
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "6 pairs are enough: {stderr}");

    check_layout(&out);

    // The real run, judged pair by pair: a verdict (0 or 1, noise decides), never bad input.
    let (code, json, stderr) = compare(&[&out], &["--format", "json"]);
    assert!(matches!(code, Some(0 | 1)), "{code:?} {stderr}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["paired"]["phases"], 12);
    let p50 = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "latency_p50_us")
        .unwrap();
    assert_eq!(p50["method"], "paired_log_ratio");
    assert_eq!(p50["baseline"]["values"].as_array().unwrap().len(), 6);
    // Six pairs: the interval from the smallest to the largest Walsh average, 1 − 2/64.
    assert_eq!(p50["confidence"], 1.0 - 2.0 / 64.0);
    // Its sides are two runs too, for the unpaired method.
    let (code, md, _) = compare(&[&out.join("baseline"), &out.join("candidate")], &[]);
    assert!(matches!(code, Some(0 | 1)));
    assert!(
        md.contains("Mann–Whitney") && !md.contains("Paired run"),
        "{md}"
    );

    check_exit_codes(&dir, &out);

    // `report` regenerates both sides' reports.
    let report = pushbench().arg("report").arg(&out).output().unwrap();
    assert!(report.status.success());
    let said = String::from_utf8_lossy(&report.stdout);
    for side in ["baseline", "candidate"] {
        assert!(
            said.contains(&format!("{}/report.html", out.join(side).display())),
            "{said}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `paired.json` lists the phases in the order they ran, A B B A per two repetitions; each
/// side is a complete run directory of its own server.
fn check_layout(out: &Path) {
    let paired: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("paired.json")).unwrap()).unwrap();
    assert_eq!(paired["baseline"]["bin"]["path"], BIN);
    assert_eq!(paired["candidate"]["bin"]["path"], BIN);
    let order: Vec<(u64, String, u64)> = paired["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["slot"].as_u64().unwrap(),
                p["side"].as_str().unwrap().to_string(),
                p["repetition"].as_u64().unwrap(),
            )
        })
        .collect();
    let (a, b) = ("baseline", "candidate");
    let sides = [a, b, b, a, a, b, b, a, a, b, b, a];
    let expected: Vec<(u64, String, u64)> = sides
        .iter()
        .enumerate()
        .map(|(i, s)| (i as u64 + 1, s.to_string(), i as u64 / 2 + 1))
        .collect();
    assert_eq!(order, expected);
    let mut servers = Vec::new();
    for side in [a, b] {
        let summary = std::fs::read_to_string(out.join(side).join("summary.csv")).unwrap();
        assert_eq!(summary.lines().count(), 1 + 6, "{side}: {summary}");
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(side).join("meta.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(meta["completed"], true);
        let server = meta["server"].as_str().unwrap().to_string();
        assert!(
            server.starts_with(&format!("started by pushbench from {BIN} on 127.0.0.1:")),
            "{server}"
        );
        servers.push(server);
    }
    assert_ne!(servers[0], servers[1], "one server per side");
}

/// Fixtures made from the run: its baseline on both sides (A/A), then the candidate's
/// latencies 50% higher, then a candidate of another scenario; and the ways of giving
/// `compare` the wrong directories.
fn check_exit_codes(dir: &Path, run: &Path) {
    let aa = dir.join("aa");
    copy_dir(run, &aa);
    std::fs::copy(
        aa.join("baseline/summary.csv"),
        aa.join("candidate/summary.csv"),
    )
    .unwrap();
    let (code, md, _) = compare(&[&aa], &[]);
    assert_eq!(code, Some(0), "{md}");
    assert!(md.starts_with("## ✅ No regression"), "{md}");

    let slow = dir.join("slow");
    copy_dir(&aa, &slow);
    let latencies = [
        "latency_mean_us",
        "latency_p50_us",
        "latency_p90_us",
        "latency_p99_us",
        "latency_p999_us",
    ];
    rewrite_columns(&slow.join("candidate"), &latencies, |v| v * 1.5);
    let (code, md, _) = compare(&[&slow], &[]);
    assert_eq!(code, Some(1), "{md}");
    // Every pair 50% slower: estimate and both interval ends are +50.0%.
    assert!(
        md.contains("p99 latency") && md.contains("(+50.0%, 96.9% interval +50.0% to +50.0%"),
        "{md}"
    );

    let other = dir.join("other");
    copy_dir(&aa, &other);
    let meta = other.join("candidate/meta.json");
    let text = std::fs::read_to_string(&meta)
        .unwrap()
        .replace("\"name\": \"pair\"", "\"name\": \"other\"");
    std::fs::write(&meta, text).unwrap();
    let (code, _, stderr) = compare(&[&other], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    one_line(&stderr);
    assert!(stderr.contains("different scenarios"), "{stderr}");

    // A paired run is judged alone; a plain run needs a second; paired.json must list
    // exactly the phases its sides hold.
    let (code, _, stderr) = compare(&[&aa, &aa.join("baseline")], &[]);
    assert_eq!(code, Some(2));
    one_line(&stderr);
    assert!(stderr.contains("is a paired run"), "{stderr}");
    let (code, _, stderr) = compare(&[&aa.join("baseline")], &[]);
    assert_eq!(code, Some(2));
    one_line(&stderr);
    assert!(stderr.contains("not a paired run"), "{stderr}");
    let cut = dir.join("cut");
    copy_dir(&aa, &cut);
    let summary = cut.join("candidate/summary.csv");
    let text = std::fs::read_to_string(&summary).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("sse,6,")).collect();
    std::fs::write(&summary, kept.join("\n") + "\n").unwrap();
    let (code, _, stderr) = compare(&[&cut], &[]);
    assert_eq!(code, Some(2));
    one_line(&stderr);
    assert!(
        stderr.contains("paired.json: lists sse rep 6 of the candidate (not in its summary.csv)"),
        "{stderr}"
    );
}

#[test]
fn a_paired_run_needs_both_sides_and_two_repetitions_and_warns_below_six() {
    let dir = temp_dir("paired-input");
    let scenario = dir.join("pair.toml");
    std::fs::write(&scenario, PAIRED).unwrap();
    let out = dir.join("run");

    // One side only.
    let done = run(&scenario, &out, &["--baseline-bin", BIN]);
    assert_eq!(done.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&done.stderr);
    one_line(&stderr);
    assert!(stderr.contains("--candidate-bin"), "{stderr}");
    // An executable that does not exist.
    let missing = dir.join("no-such-pushbench");
    let done = run(
        &scenario,
        &out,
        &[
            "--baseline-bin",
            missing.to_str().unwrap(),
            "--candidate-bin",
            BIN,
        ],
    );
    assert_eq!(done.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&done.stderr);
    one_line(&stderr);
    assert!(
        stderr.contains(&format!(
            "--baseline-bin: {}: no such file",
            missing.display()
        )),
        "{stderr}"
    );
    // --server is a plain run's, refused next to a paired run's servers (clap's usage error).
    let done = run(
        &scenario,
        &out,
        &[
            "--server",
            "http://127.0.0.1:9",
            "--baseline-bin",
            BIN,
            "--candidate-bin",
            BIN,
        ],
    );
    assert_eq!(done.status.code(), Some(2));
    // One repetition is one pair: no interval at all.
    std::fs::write(&scenario, PAIRED.replace("repeat = 6", "repeat = 1")).unwrap();
    let done = run(
        &scenario,
        &out,
        &["--baseline-bin", BIN, "--candidate-bin", BIN],
    );
    assert_eq!(done.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&done.stderr);
    one_line(&stderr);
    assert!(
        stderr.contains(
            "repeat: a paired run needs 2 repetitions or more (6 or more for a 95% interval)"
        ),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is started or written for it");

    // Two repetitions run, with a warning: 2 pairs give at best 1 − 2/4 = 50%.
    std::fs::write(&scenario, PAIRED.replace("repeat = 6", "repeat = 2")).unwrap();
    let done = run(
        &scenario,
        &out,
        &["--baseline-bin", BIN, "--candidate-bin", BIN],
    );
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: ")
            && stderr.contains(
                "repeat = 2 gives 2 pairs, whose widest interval has only 50.00% confidence"
            ),
        "{stderr}"
    );
    // compare says it too.
    let (_, md, _) = compare(&[&out], &[]);
    assert!(
        md.contains("With 2 pairs the widest interval has only 50.0% confidence"),
        "{md}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
