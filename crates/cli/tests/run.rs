//! `pushbench run` as a user runs it: the real binary, a child server on a free loopback
//! port, a tiny scenario, and the files it leaves behind.

use std::path::{Path, PathBuf};
use std::process::Command;

fn pushbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pushbench"))
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pushbench-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const TINY: &str = r#"
name = "tiny"
duration = "1s"
warmup = "200ms"
ramp_up = "100ms"
[workload]
rate = 20
payload_bytes = 8
[[transports]]
kind = "poll"
clients = 2
interval = "100ms"
[[transports]]
kind = "long-poll"
clients = 2
[[transports]]
kind = "stream"
clients = 2
[[transports]]
kind = "sse"
clients = 2
[[transports]]
kind = "websocket"
clients = 2
"#;

fn csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>());
    let header = lines.next().expect("header");
    (header, lines.collect())
}

#[test]
fn run_writes_the_five_files_with_the_documented_columns() {
    let dir = temp_dir("run");
    let scenario = dir.join("tiny.toml");
    std::fs::write(&scenario, TINY).unwrap();
    let out = dir.join("out");
    let status = pushbench()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .status()
        .unwrap();
    assert!(status.success(), "{status}");

    let (header, rows) = csv(&out.join("summary.csv"));
    let first = [
        "transport",
        "repetition",
        "clients",
        "duration_s",
        "messages_published",
        "messages_delivered",
        "messages_lost",
        "messages_duplicated",
        "messages_out_of_order",
        "latency_mean_us",
        "latency_p50_us",
        "latency_p90_us",
        "latency_p99_us",
        "latency_p999_us",
        "latency_max_us",
        "bytes_up",
        "bytes_down",
        "bytes_per_message",
        "setup_bytes",
        "bytes_total",
        "requests",
        "empty_responses",
        "connections_opened",
        "errors",
        "server_cpu_s",
        "server_peak_rss_bytes",
        "loadgen_cpu_s",
        "loadgen_peak_rss_bytes",
    ];
    assert_eq!(&header[..first.len()], &first);
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["poll", "long-poll", "stream", "sse", "websocket"]);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for r in &rows {
        assert!(
            r[col("messages_delivered")].parse::<u64>().unwrap() > 0,
            "{r:?}"
        );
        assert_eq!(r[col("errors")], "0", "{r:?}");
        assert_eq!(r[col("messages_lost")], "0", "{r:?}");
        assert!(
            r[col("server_cpu_s")].parse::<f64>().unwrap() > 0.0,
            "the child server's CPU is measured: {r:?}"
        );
        assert!(
            r[col("server_peak_rss_bytes")].parse::<u64>().unwrap() > 0,
            "{r:?}"
        );
    }

    let (header, rows) = csv(&out.join("latency_percentiles.csv"));
    assert_eq!(
        header,
        ["transport", "repetition", "percentile", "latency_us"]
    );
    let ws: Vec<f64> = rows
        .iter()
        .filter(|r| r[0] == "websocket")
        .map(|r| r[2].parse().unwrap())
        .collect();
    assert!(
        ws.len() >= 20
            && ws.contains(&99.9)
            && ws.contains(&99.99)
            && ws[0] == 0.0
            && *ws.last().unwrap() == 100.0
    );

    let (header, rows) = csv(&out.join("timeseries.csv"));
    assert_eq!(
        &header[..9],
        [
            "transport",
            "repetition",
            "second",
            "messages_delivered",
            "bytes_up",
            "bytes_down",
            "latency_p50_us",
            "latency_p99_us",
            "connections"
        ]
    );
    assert!(rows.len() >= 5);
    let (header, _) = csv(&out.join("bandwidth_percentiles.csv"));
    assert_eq!(
        header,
        ["transport", "repetition", "percentile", "bytes_per_second"]
    );

    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["completed"], true);
    assert_eq!(meta["scenario"]["name"], "tiny");
    assert!(meta["host"]["cores"].as_u64().unwrap() >= 1);
    assert!(meta["pushbench_version"].is_string());

    // A second run into the same directory is refused: results are never overwritten.
    let again = pushbench()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("non-empty"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_scenario_is_one_line_and_exit_code_2() {
    let dir = temp_dir("bad");
    let scenario = dir.join("bad.toml");
    std::fs::write(
        &scenario,
        TINY.replace("clients = 2\ninterval", "clients = 2\nintervall"),
    )
    .unwrap();
    let out = pushbench()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:12: intervall: unknown field",
            scenario.display()
        )),
        "{stderr}"
    );
    assert!(
        !dir.join("out").exists(),
        "nothing is written for a scenario that does not parse"
    );

    let out = pushbench()
        .arg("run")
        .arg(&scenario)
        .arg("--server")
        .arg("http://192.0.2.1:80")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
