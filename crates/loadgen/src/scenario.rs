//! Scenario files in two stages: the TOML as written ([`ScenarioFile`], plain serde with
//! unknown keys rejected) and the checked plan ([`Scenario`]) every other module works from.
//!
//! Every error names the file, the line and the key, so a typo is fixed in one look.

mod check;
mod client;
mod http;
mod network;
mod sweep;

pub use http::{HeaderTable, HttpFile};
pub use network::{NetworkFile, parse_rate};
pub use pushbench_model::scenario::{
    DEFAULT_QUEUE_BYTES, Field, HeaderProfile, HttpPlan, NetworkPlan, Pattern, PointPlan,
    PollSchedule, RequestFields, RequestKind, Scenario, ServerRuntimeKind, Sweep, SweepDimension,
    SweepPoint, TransportPlan, Workload, request_profile, response_profile_fields,
};
pub use pushbench_model::transport::{TransportKind, TransportOption};
pub use sweep::SweepFile;

use crate::LoadgenError;
use pushbench_model::protocol::{MAX_PAYLOAD, MAX_RATE};
use serde::{Deserialize, Deserializer, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// A duration written as in `"500ms"`, `"10s"` or `"1m 30s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "expected a duration such as \"500ms\" or \"10s\", found {s:?} ({e})"
                ))
            })
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

/// A scenario file exactly as written. Documented key by key in `docs/scenarios.md`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Name used for the run directory (required).
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// Measured window per transport phase (required).
    #[serde(default)]
    pub duration: Option<Spanned<HumanDuration>>,
    /// Time after the ramp-up whose messages are not measured.
    #[serde(default)]
    pub warmup: Option<Spanned<HumanDuration>>,
    /// Time over which clients are started, evenly spaced.
    #[serde(default)]
    pub ramp_up: Option<Spanned<HumanDuration>>,
    /// How many times each transport phase runs.
    #[serde(default)]
    pub repeat: Option<Spanned<u32>>,
    /// What is published (required).
    #[serde(default)]
    pub workload: Option<Spanned<WorkloadFile>>,
    /// Load-generator settings.
    #[serde(default)]
    pub loadgen: Option<LoadgenFile>,
    /// Settings for a server `pushbench run` starts itself.
    #[serde(default)]
    pub server: Option<ServerFile>,
    /// One workload dimension to run every transport at several values of.
    #[serde(default)]
    pub sweep: Option<Spanned<SweepFile>>,
    /// Header fields of requests and answers.
    #[serde(default)]
    pub http: Option<HttpFile>,
    /// The link the load generator emulates for every client connection.
    #[serde(default)]
    pub network: Option<Spanned<NetworkFile>>,
    /// The target whose server the run drives, instead of pushbench's own.
    #[serde(default)]
    pub target: Option<Spanned<TargetRefFile>>,
    /// The transports, one phase each, in this order (required).
    #[serde(default)]
    pub transports: Option<Vec<Spanned<TransportFile>>>,
}

/// `[target]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRefFile {
    /// The target file, relative to the scenario file's directory (required).
    #[serde(default)]
    pub file: Option<Spanned<String>>,
}

/// `[workload]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadFile {
    /// `broadcast` or `echo`.
    #[serde(default)]
    pub pattern: Pattern,
    /// Messages per second per topic (broadcast) or per client (echo); left out when
    /// `[sweep]` gives the rates.
    #[serde(default)]
    pub rate: Option<Spanned<f64>>,
    /// Payload bytes per message, on top of the 34-byte envelope header; left out when
    /// `[sweep]` gives the sizes.
    #[serde(default)]
    pub payload_bytes: Option<Spanned<u64>>,
    /// Topics clients are spread over (broadcast only).
    #[serde(default)]
    pub topics: Option<Spanned<u32>>,
    /// Echo only: one message in flight per client instead of `rate`.
    #[serde(default)]
    pub closed_loop: Option<Spanned<bool>>,
}

/// `[loadgen]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadgenFile {
    /// Worker threads, each with its own single-threaded runtime.
    #[serde(default)]
    pub threads: Option<Spanned<u32>>,
    /// Pause before a client reconnects after an error.
    #[serde(default)]
    pub reconnect_backoff: Option<Spanned<HumanDuration>>,
}

/// `[server]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// Runtime worker threads of the server process.
    #[serde(default)]
    pub threads: Option<Spanned<u32>>,
    /// Messages retained per topic.
    #[serde(default)]
    pub ring_capacity: Option<Spanned<u32>>,
    /// `shared` or `per-core`.
    #[serde(default)]
    pub runtime: Option<Spanned<ServerRuntimeKind>>,
}

/// One `[[transports]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportFile {
    /// Which client kind (required).
    #[serde(default)]
    pub kind: Option<Spanned<TransportKind>>,
    /// Label in results; defaults to the kind. Needed when a kind appears twice.
    #[serde(default)]
    pub label: Option<Spanned<String>>,
    /// Concurrent clients; left out when `[sweep]` gives the client counts.
    #[serde(default)]
    pub clients: Option<Spanned<u32>>,
    /// `poll` only: time between requests.
    #[serde(default)]
    pub interval: Option<Spanned<HumanDuration>>,
    /// `poll` only: `fixed-rate` or `fixed-delay`.
    #[serde(default)]
    pub schedule: Option<Spanned<PollSchedule>>,
    /// `long-poll` only: how long the server may hold a request.
    #[serde(default)]
    pub timeout: Option<Spanned<HumanDuration>>,
    /// `rust` (the default) or `browser`: which client runs the entry.
    #[serde(default)]
    pub client: Option<Spanned<pushbench_model::client::ClientKind>>,
}

/// Upper bound that keeps a typo from asking for absurd amounts of work; the workload's
/// bounds are the server's (`pushbench_model::protocol`).
const MAX_CLIENTS: u32 = 1_000_000;

/// Descriptors a process needs besides its connections: standard streams, the listener or
/// the control connections, files being written.
pub const DESCRIPTOR_RESERVE: u64 = 64;

/// Refuses, before anything runs, a scenario with a phase that needs more descriptors than
/// a process may hold (`limit`: the load generator's, which on one machine is the server's
/// too), saying how many clients fit. With a sweep every point is checked, smallest first,
/// so the error names the first client count that does not fit.
pub fn check_descriptors(scenario: &Scenario, path: &Path, limit: u64) -> Result<(), LoadgenError> {
    check_shard_descriptors(scenario, path, limit, None)
}

/// [`check_descriptors`] for one shard of a sharded run (`--shard I/N`), which holds only
/// its share of each phase's clients.
pub fn check_shard_descriptors(
    scenario: &Scenario,
    path: &Path,
    limit: u64,
    shard: Option<pushbench_model::shard::Shard>,
) -> Result<(), LoadgenError> {
    for plan in scenario.points() {
        let sc = &plan.scenario;
        for t in &sc.transports {
            let per_client = sc.connections(t) / u64::from(t.clients);
            let clients = shard.map_or(t.clients, |s| s.clients(t.clients));
            let needed = u64::from(clients) * per_client + DESCRIPTOR_RESERVE;
            if needed <= limit {
                continue;
            }
            let fit = limit.saturating_sub(DESCRIPTOR_RESERVE) / per_client;
            let (line, key) = match (&scenario.sweep, plan.point) {
                (Some(s), Some(p)) if p.dimension == SweepDimension::Clients => {
                    (s.line_of(p.value), "sweep.clients".to_string())
                }
                _ => (t.clients_line, format!("transports[{}].clients", t.entry)),
            };
            let message = match shard {
                None => format!(
                    "{} clients need {needed} descriptors, but a process here may hold {limit} (RLIMIT_NOFILE); at most {fit} clients fit",
                    t.clients
                ),
                Some(s) => format!(
                    "shard {}/{} runs {clients} of the {} clients, which need {needed} descriptors, but a process here may hold {limit} (RLIMIT_NOFILE); at most {fit} clients fit in one shard: use more shards",
                    s.index, s.count, t.clients
                ),
            };
            return Err(LoadgenError::Scenario {
                path: path.to_owned(),
                line,
                key,
                message,
            });
        }
    }
    Ok(())
}

pub use client::check_browser;

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, LoadgenError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadgenError::ReadScenario {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and checks scenario text; `path` is used in error messages only.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, LoadgenError> {
    let file: ScenarioFile = read_file(path, text)?;
    Checking { path, text }.check(file)
}

/// The first stage: the TOML as written, its syntax and types, unknown keys refused. An
/// error names the key serde_path_to_error followed to it ([`key_of`]); a syntax error,
/// which has none, the key its line writes ([`key_at`]).
pub(crate) fn read_file<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, LoadgenError> {
    let document = toml::Deserializer::parse(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        invalid(
            path,
            text,
            span.clone(),
            &key_at(text, span.start),
            e.message().trim(),
        )
    })?;
    serde_path_to_error::deserialize(document).map_err(|e| {
        let span = e.inner().span().unwrap_or(0..0);
        let key = key_of(e.path(), text, span.start);
        invalid(path, text, span, &key, e.inner().message().trim())
    })
}

/// A file being checked, for errors that name its line and key. Target files are checked
/// with it too (`crate::target`).
pub(crate) struct Checking<'a> {
    pub(crate) path: &'a Path,
    pub(crate) text: &'a str,
}

impl Checking<'_> {
    pub(crate) fn fail<T>(&self, at: &Spanned<T>, key: &str, why: &str) -> LoadgenError {
        invalid(self.path, self.text, at.span(), key, why)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// The key an error of the first stage is about, as the checks name keys: `workload.rate`
/// for a key of a `[table]`, the key alone in a `[[transports]]` entry (whose errors name no
/// index) and at the top level. toml reports an unknown key at the key itself and any other
/// error at the value, after the `=` of its line: an unknown key belongs to no table, and
/// is named alone.
fn key_of(path: &serde_path_to_error::Path, text: &str, at: usize) -> String {
    use serde_path_to_error::Segment;
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            // `toml::Spanned` reads its value through a field of its own.
            Segment::Map { key } if !key.starts_with("$__serde_spanned") => Some(key.as_str()),
            _ => None,
        })
        .collect();
    let line_start = text[..at.min(text.len())].rfind('\n').map_or(0, |p| p + 1);
    let at_key = !text[line_start..at.min(text.len())].contains('=');
    let in_entry = path.iter().any(|s| matches!(s, Segment::Seq { .. }));
    match keys.as_slice() {
        [.., last] if at_key || in_entry => last.to_string(),
        _ => keys.join("."),
    }
}

/// The key written at the start of the line `offset` is on, qualified by its `[table]`
/// (`sweep.clients`) as the checks name keys: what a syntax error is about.
fn key_at(text: &str, offset: usize) -> String {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |p| p + 1);
    let line = text[start..].lines().next().unwrap_or("");
    let key = match line.split_once('=') {
        Some((k, _)) => k.trim().to_string(),
        None => line.trim().to_string(),
    };
    match table_at(text, start) {
        Some(table) if line.contains('=') => format!("{table}.{key}"),
        _ => key,
    }
}

/// The `[table]` whose keys the line starting at `offset` belongs to; `None` at the top
/// level and in `[[array]]` entries (whose keys errors name without the index).
fn table_at(text: &str, offset: usize) -> Option<&str> {
    let header = text[..offset]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))?;
    let name = header.strip_prefix('[')?.split(']').next()?.trim();
    (!header.starts_with("[[") && !name.is_empty()).then_some(name)
}

pub(crate) fn invalid(
    path: &Path,
    text: &str,
    span: std::ops::Range<usize>,
    key: &str,
    why: &str,
) -> LoadgenError {
    LoadgenError::Scenario {
        path: PathBuf::from(path),
        line: line_of(text, span.start),
        key: key.to_string(),
        message: why.lines().next().unwrap_or(why).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
duration = "2s"
[workload]
rate = 10
payload_bytes = 16
[[transports]]
kind = "poll"
clients = 3
interval = "100ms"
[[transports]]
kind = "websocket"
clients = 2
"#;

    fn err(text: &str) -> (usize, String, String) {
        match parse(Path::new("x.toml"), text).unwrap_err() {
            LoadgenError::Scenario {
                line, key, message, ..
            } => (line, key, message),
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn a_closed_loop_is_echo_over_websocket_without_a_rate() {
        let echo = GOOD.replace("rate = 10", "pattern = \"echo\"\nclosed_loop = true");
        let only_ws = echo.replace(
            "kind = \"poll\"\nclients = 3\ninterval = \"100ms\"",
            "kind = \"websocket\"\nlabel = \"ws1\"\nclients = 3",
        );
        let s = parse(Path::new("x.toml"), &only_ws).unwrap();
        assert!(s.workload.closed_loop);
        assert_eq!(s.workload.rate, 0.0);
        let cases = [
            (
                GOOD.replace("rate = 10", "rate = 10\nclosed_loop = true"),
                (
                    6,
                    "workload.closed_loop",
                    "a closed loop is the echo pattern's: set pattern = \"echo\"",
                ),
            ),
            (
                only_ws.replace("closed_loop = true", "closed_loop = true\nrate = 5"),
                (
                    7,
                    "workload.rate",
                    "a closed loop sends each message when the last one's echo is back: leave `rate` out",
                ),
            ),
            (
                echo.clone(),
                (
                    8,
                    "kind",
                    "a closed loop needs clients that send on the connection they receive on (websocket); `poll` publishes on a second one",
                ),
            ),
        ];
        for (text, (line, key, message)) in cases {
            let (l, k, m) = err(&text);
            assert_eq!((l, k.as_str(), m.as_str()), (line, key, message), "{text}");
        }
    }

    #[test]
    fn good_file_gives_defaults() {
        let s = parse(Path::new("x.toml"), GOOD).unwrap();
        assert_eq!(s.duration, Duration::from_secs(2));
        assert_eq!(s.repeat, 1);
        assert_eq!(s.workload.topics, 1);
        assert_eq!(s.transports[0].interval, Duration::from_millis(100));
        assert_eq!(s.transports[1].label, "websocket");
        assert_eq!(s.workload.message_bytes(), 34 + 16);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = GOOD.replace("clients = 2", "clients = 2\nbogus = 1");
        let (line, key, _) = err(&text);
        assert_eq!((line, key.as_str()), (14, "bogus"));
        let full = parse(Path::new("dir/x.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(full.starts_with("dir/x.toml:14: bogus:"), "{full}");
    }

    #[test]
    fn malformed_duration_names_line_and_key() {
        let (line, key, message) = err(&GOOD.replace("\"100ms\"", "\"100 parsecs\""));
        assert_eq!((line, key.as_str()), (10, "interval"));
        assert!(message.contains("500ms"), "{message}");
    }

    #[test]
    fn semantic_errors_point_at_the_value() {
        let (line, key, _) = err(&GOOD.replace("clients = 3", "clients = 0"));
        assert_eq!((line, key.as_str()), (9, "transports[0].clients"));
        let (line, key, _) = err(&GOOD.replace("rate = 10", "rate = -1"));
        assert_eq!((line, key.as_str()), (5, "workload.rate"));
        let (line, key, _) = err(&GOOD.replace("\"100ms\"", "\"5s\""));
        assert_eq!((line, key.as_str()), (10, "transports[0].interval"));
    }

    #[test]
    fn phases_that_need_more_descriptors_than_allowed_are_refused() {
        let s = parse(Path::new("x.toml"), GOOD).unwrap();
        // 3 clients + the reserve fit in 67 descriptors, not in 66.
        assert!(check_descriptors(&s, Path::new("x.toml"), 3 + DESCRIPTOR_RESERVE).is_ok());
        match check_descriptors(&s, Path::new("x.toml"), 2 + DESCRIPTOR_RESERVE) {
            Err(LoadgenError::Scenario {
                line, key, message, ..
            }) => {
                assert_eq!((line, key.as_str()), (9, "transports[0].clients"));
                assert!(message.contains("at most 2 clients fit"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // A shard holds its share only: 2 of the 3 clients for shard 1 of 2, 1 for shard 2.
        let shard = |index| Some(pushbench_model::shard::Shard { index, count: 2 });
        let (path, limit) = (Path::new("x.toml"), 2 + DESCRIPTOR_RESERVE);
        assert!(check_shard_descriptors(&s, path, limit, shard(1)).is_ok());
        let tight = 1 + DESCRIPTOR_RESERVE;
        assert!(check_shard_descriptors(&s, path, tight, shard(2)).is_ok());
        match check_shard_descriptors(&s, path, tight, shard(1)) {
            Err(LoadgenError::Scenario { message, .. }) => assert!(
                message.contains("shard 1/2 runs 2 of the 3 clients")
                    && message.contains("use more shards"),
                "{message}"
            ),
            other => panic!("{other:?}"),
        }
        let echo = GOOD.replace("rate = 10", "pattern = \"echo\"\nrate = 10");
        let s = parse(Path::new("x.toml"), &echo).unwrap();
        assert_eq!(
            s.connections(&s.transports[0]),
            6,
            "poll in echo: a second connection publishes"
        );
        assert_eq!(
            s.connections(&s.transports[1]),
            2,
            "websocket publishes in-band"
        );
    }

    /// GOOD with `[sweep]` text appended and the `clients` of both transports removed.
    fn clients_sweep(sweep: &str) -> String {
        GOOD.replace("clients = 3\n", "")
            .replace("clients = 2\n", "")
            + "[sweep]\n"
            + sweep
            + "\n"
    }

    #[test]
    fn a_clients_sweep_gives_one_plan_per_point_ascending() {
        // Line 13 of the text holds the sweep's values.
        let text = clients_sweep("clients = [1000, 10, 100]");
        assert_eq!(text.lines().nth(12), Some("clients = [1000, 10, 100]"));
        let s = parse(Path::new("x.toml"), &text).unwrap();
        let sweep = s.sweep.as_ref().unwrap();
        assert_eq!(sweep.dimension, SweepDimension::Clients);
        assert_eq!(sweep.values, [10.0, 100.0, 1000.0], "run smallest first");
        // The scenario as a whole holds the largest point.
        assert!(s.transports.iter().all(|t| t.clients == 1000));
        let plans = s.points();
        let got: Vec<(String, Vec<u32>)> = plans
            .iter()
            .map(|p| {
                (
                    p.point.unwrap().to_string(),
                    p.scenario.transports.iter().map(|t| t.clients).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("clients=10".to_string(), vec![10, 10]),
                ("clients=100".to_string(), vec![100, 100]),
                ("clients=1000".to_string(), vec![1000, 1000]),
            ]
        );
        assert!(plans.iter().all(|p| p.scenario.sweep.is_none()));
        assert!(plans.iter().all(|p| p.scenario.workload.rate == 10.0));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            json["sweep"],
            serde_json::json!({"dimension": "clients", "values": [10, 100, 1000]})
        );
        // Without a sweep: one plan, no point, and no `sweep` key in meta.json.
        let plain = parse(Path::new("x.toml"), GOOD).unwrap();
        let plans = plain.points();
        assert_eq!(plans.len(), 1);
        assert!(plans[0].point.is_none());
        assert!(serde_json::to_value(&plain).unwrap().get("sweep").is_none());
    }

    #[test]
    fn rate_and_payload_sweeps_replace_the_workload_value() {
        let text = GOOD.replace("rate = 10\n", "") + "[sweep]\nrate = [0.5, 2, 100]\n";
        let s = parse(Path::new("x.toml"), &text).unwrap();
        let rates: Vec<f64> = s
            .points()
            .iter()
            .map(|p| p.scenario.workload.rate)
            .collect();
        assert_eq!(rates, [0.5, 2.0, 100.0]);
        assert!(
            s.points()
                .iter()
                .all(|p| p.scenario.transports[0].clients == 3)
        );
        assert_eq!(s.points()[0].point.unwrap().to_string(), "rate=0.5");

        let text = GOOD.replace("payload_bytes = 16\n", "")
            + "[sweep]\npayload_bytes = [0, 1024, 65536]\n";
        let s = parse(Path::new("x.toml"), &text).unwrap();
        let sizes: Vec<usize> = s
            .points()
            .iter()
            .map(|p| p.scenario.workload.message_bytes())
            .collect();
        assert_eq!(sizes, [34, 34 + 1024, 34 + 65536]);
    }

    #[test]
    fn sweep_errors_name_the_line_and_key() {
        // Line 13 is the sweep's first line, 14 the next.
        let cases = [
            ("clients = []", 13, "sweep.clients", "non-empty"),
            (
                "clients = [10, 0]",
                13,
                "sweep.clients",
                "from 1 to 1000000",
            ),
            (
                "clients = [10, 2000000]",
                13,
                "sweep.clients",
                "from 1 to 1000000",
            ),
            (
                "clients = [10, \"many\"]",
                13,
                "sweep.clients",
                "found \"many\"",
            ),
            ("clients = [10, 2.5]", 13, "sweep.clients", "whole numbers"),
            (
                "clients = [\n  10,\n  10,\n]",
                15,
                "sweep.clients",
                "listed twice",
            ),
            ("clients = 10", 13, "sweep.clients", "expected"),
            (
                "clients = [10]\nrate = [1, 2]",
                14,
                "sweep.rate",
                "exactly one of",
            ),
            ("", 12, "sweep", "exactly one of"),
            ("client = [10]", 13, "client", "unknown field"),
        ];
        for (sweep, line, key, says) in cases {
            let (l, k, m) = err(&clients_sweep(sweep));
            assert_eq!((l, k.as_str()), (line, key), "{sweep}: {m}");
            assert!(m.contains(says), "{sweep}: {m}");
        }
        let rate = |sweep: &str| GOOD.replace("rate = 10\n", "") + "[sweep]\n" + sweep;
        // Without the rate line, `[sweep]` is line 13 and its values line 14.
        let (l, k, m) = err(&rate("rate = [1, -1]"));
        assert_eq!((l, k.as_str()), (14, "sweep.rate"));
        assert!(m.contains("above 0"), "{m}");
        let (_, k, m) = err(&(GOOD.to_string() + "[sweep]\npayload_bytes = [1048577]"));
        assert_eq!(k, "sweep.payload_bytes");
        assert!(m.contains("0 to 1048576"), "{m}");
    }

    #[test]
    fn network_sweeps_set_the_link_of_each_point() {
        // No [network]: each point gets a link adding only the swept round trip.
        let text = GOOD.to_string() + "[sweep]\nrtt = [\"100ms\", \"0ms\", \"10.5ms\"]\n";
        let s = parse(Path::new("x.toml"), &text).unwrap();
        let values: Vec<f64> = s.sweep.as_ref().unwrap().values.clone();
        assert_eq!(values, [0.0, 10.5, 100.0], "milliseconds, ascending");
        let links: Vec<(Duration, Duration)> = s
            .points()
            .iter()
            .map(|p| {
                let n = p.scenario.network.unwrap();
                (n.delay_up, n.delay_down)
            })
            .collect();
        let ms = |m: f64| Duration::from_secs_f64(m / 1000.0);
        assert_eq!(
            links,
            [
                (ms(0.0), ms(0.0)),
                (ms(5.25), ms(5.25)),
                (ms(50.0), ms(50.0))
            ]
        );
        // The scenario itself holds the largest point, as for the other dimensions.
        assert_eq!(s.network.unwrap().rtt(), ms(100.0));
        assert_eq!(s.points()[1].point.unwrap().to_string(), "rtt=10.5");

        // With [network]: its other keys hold at every point.
        let text = GOOD.to_string()
            + "[network]\njitter = \"2ms\"\nbandwidth_up = \"1mbit\"\n[sweep]\nbandwidth_down = [\"500kbit\", \"10mbit\"]\n";
        let s = parse(Path::new("x.toml"), &text).unwrap();
        assert_eq!(s.sweep.as_ref().unwrap().values, [0.5, 10.0], "Mbit/s");
        for (p, bps) in s.points().iter().zip([500_000, 10_000_000]) {
            let n = p.scenario.network.unwrap();
            assert_eq!(n.bandwidth_down_bps, Some(bps));
            assert_eq!(n.bandwidth_up_bps, Some(1_000_000));
            assert_eq!(n.jitter, ms(2.0));
        }
    }

    #[test]
    fn network_sweep_errors_name_the_line_and_key() {
        // GOOD ends on line 13: an appended table starts on line 14, its first key on 15.
        let (l, k, m) = err(&(GOOD.to_string() + "[sweep]\nrtt = [\"10ms\", 100]\n"));
        assert_eq!((l, k.as_str()), (15, "sweep.rtt"));
        assert!(m.contains("round-trip times such as \"50ms\""), "{m}");
        let (_, k, m) = err(&(GOOD.to_string() + "[sweep]\nrtt = [\"21s\"]\n"));
        assert_eq!(k, "sweep.rtt");
        assert!(m.contains("to \"20s\""), "{m}");
        let (_, k, m) = err(&(GOOD.to_string() + "[sweep]\nbandwidth_down = [\"10\"]\n"));
        assert_eq!(k, "sweep.bandwidth_down");
        assert!(m.contains("no unit"), "{m}");
        let (l, k, m) =
            err(&(GOOD.to_string()
                + "[network]\nrtt = \"10ms\"\n[sweep]\nrtt = [\"0ms\", \"10ms\"]\n"));
        assert_eq!((l, k.as_str()), (15, "network.rtt"));
        assert!(m.contains("`[sweep] rtt` gives the values"), "{m}");
        let (l, k, _) =
            err(&(GOOD.to_string()
                + "[network]\ndelay_down = \"10ms\"\n[sweep]\nrtt = [\"0ms\"]\n"));
        assert_eq!((l, k.as_str()), (15, "network.delay_down"));
        let (l, k, _) = err(&(GOOD.to_string()
            + "[network]\nbandwidth_down = \"1mbit\"\n[sweep]\nbandwidth_down = [\"2mbit\"]\n"));
        assert_eq!((l, k.as_str()), (15, "network.bandwidth_down"));
    }

    #[test]
    fn a_swept_setting_must_be_left_out_of_its_usual_place() {
        // `clients` written in an entry as well as swept: refused, not silently overridden.
        let text = GOOD.replace("clients = 2\n", "") + "[sweep]\nclients = [1, 2]\n";
        let (line, key, message) = err(&text);
        assert_eq!((line, key.as_str()), (9, "transports[0].clients"));
        assert!(message.contains("[sweep] clients"), "{message}");
        let (line, key, _) = err(&(GOOD.to_string() + "[sweep]\nrate = [1, 2]\n"));
        assert_eq!((line, key.as_str()), (5, "workload.rate"));
        // Not swept and not written: missing, pointing at the entry's kind.
        let (line, key, message) = err(&GOOD.replace("clients = 2\n", ""));
        assert_eq!((line, key.as_str()), (12, "transports[1].clients"));
        assert!(message.contains("missing `clients`"), "{message}");
        let (line, key, _) = err(&GOOD.replace("payload_bytes = 16\n", ""));
        assert_eq!((line, key.as_str()), (4, "workload.payload_bytes"));
    }

    #[test]
    fn descriptors_are_checked_at_every_point_of_a_clients_sweep() {
        let text = clients_sweep("clients = [\n  10,\n  500,\n  100,\n]");
        let s = parse(Path::new("x.toml"), &text).unwrap();
        assert!(check_descriptors(&s, Path::new("x.toml"), 500 + DESCRIPTOR_RESERVE).is_ok());
        match check_descriptors(&s, Path::new("x.toml"), 499 + DESCRIPTOR_RESERVE) {
            Err(LoadgenError::Scenario {
                line, key, message, ..
            }) => {
                // 500 is written on line 15.
                assert_eq!((line, key.as_str()), (15, "sweep.clients"));
                assert!(message.starts_with("500 clients"), "{message}");
                assert!(message.contains("at most 499 clients fit"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_type_error_in_a_table_is_named_with_the_table() {
        let (line, key, _) = err(&GOOD.replace("rate = 10", "rate = \"fast\""));
        assert_eq!((line, key.as_str()), (5, "workload.rate"));
    }

    /// GOOD with a `[network]` table appended; its first key is on line 15.
    fn with_network(keys: &str) -> String {
        format!("{GOOD}[network]\n{keys}\n")
    }

    #[test]
    fn network_table_gives_a_checked_link() {
        assert!(parse(Path::new("x.toml"), GOOD).unwrap().network.is_none());
        let s = parse(
            Path::new("x.toml"),
            &with_network(
                "rtt = \"100ms\"\njitter = \"5ms\"\nbandwidth_down = \"10mbit\"\nbandwidth_up = \"125kbps\"\nqueue = 32768",
            ),
        )
        .unwrap();
        let n = s.network.unwrap();
        assert_eq!(
            n,
            NetworkPlan {
                delay_up: Duration::from_millis(50),
                delay_down: Duration::from_millis(50),
                jitter: Duration::from_millis(5),
                bandwidth_up_bps: Some(1_000_000),
                bandwidth_down_bps: Some(10_000_000),
                queue_bytes: 32768,
            }
        );
        assert_eq!(n.rtt(), Duration::from_millis(100));
        assert_eq!(
            serde_json::to_value(&s).unwrap()["network"],
            serde_json::json!({
                "delay_up": "50ms", "delay_down": "50ms", "jitter": "5ms",
                "bandwidth_up_bps": 1_000_000, "bandwidth_down_bps": 10_000_000,
                "queue_bytes": 32768
            })
        );
        let s = parse(
            Path::new("x.toml"),
            &with_network("delay_up = \"10ms\"\ndelay_down = \"30ms\""),
        )
        .unwrap();
        let n = s.network.unwrap();
        assert_eq!(
            (n.delay_up, n.delay_down),
            (Duration::from_millis(10), Duration::from_millis(30))
        );
        assert_eq!(
            (n.bandwidth_down_bps, n.queue_bytes),
            (None, DEFAULT_QUEUE_BYTES)
        );
        let plain = parse(Path::new("x.toml"), GOOD).unwrap();
        assert!(
            serde_json::to_value(&plain)
                .unwrap()
                .get("network")
                .is_none()
        );
    }

    #[test]
    fn network_errors_name_the_line_and_key() {
        let cases = [
            (
                "rtt = \"100ms\"\ndelay_up = \"5ms\"",
                16,
                "network.delay_up",
                "not both",
            ),
            (
                "delay_down = \"5ms\"\nrtt = \"1s\"",
                15,
                "network.delay_down",
                "not both",
            ),
            ("rtt = \"11s\"", 15, "network.rtt", "at most 10s"),
            (
                "jitter = \"fast\"",
                15,
                "network.jitter",
                "expected a duration",
            ),
            (
                "bandwidth_down = \"10mb\"",
                15,
                "network.bandwidth_down",
                "unknown rate unit",
            ),
            (
                "bandwidth_up = \"1000\"",
                15,
                "network.bandwidth_up",
                "no unit",
            ),
            (
                "bandwidth_up = 1000",
                15,
                "network.bandwidth_up",
                "as a string",
            ),
            (
                "bandwidth_down = \"500bit\"",
                15,
                "network.bandwidth_down",
                "1kbit to 100gbit",
            ),
            ("queue = 10", 15, "network.queue", "1024 to"),
            ("latency = \"5ms\"", 15, "latency", "unknown field"),
        ];
        for (keys, line, key, says) in cases {
            let (l, k, m) = err(&with_network(keys));
            assert_eq!((l, k.as_str()), (line, key), "{keys}: {m}");
            assert!(m.contains(says), "{keys}: {m}");
        }
    }

    #[test]
    fn option_of_another_kind_is_rejected() {
        let (line, key, _) = err(&GOOD.replace("clients = 2", "clients = 2\ninterval = \"1s\""));
        assert_eq!((line, key.as_str()), (14, "transports[1].interval"));
    }
}
