//! Every scenario error, word for word: one malformed scenario per check (syntax, unknown
//! and missing keys, wrong types, every range and rule of `docs/scenarios.md`), each with the
//! one line `pushbench run` prints, against the lines recorded in
//! `tests/scenario_errors.txt`. Moving or rewriting the scenario loader must not change a
//! message, its line or its key.
//!
//! `PUSHBENCH_BLESS=1 cargo test -p pushbench-loadgen --test scenario_errors` records the
//! lines again, for an intended change only.
//!
//! And what a valid scenario becomes: the plan `meta.json` records, against the
//! `meta.json` of the report crate's writer test.

use pushbench_loadgen::scenario::{check_descriptors, parse};
use std::path::Path;

const BASE: &str = r#"name = "t"
duration = "2s"
warmup = "500ms"
ramp_up = "500ms"
repeat = 1

[workload]
pattern = "broadcast"
rate = 10
payload_bytes = 16
topics = 1

[[transports]]
kind = "poll"
clients = 3
interval = "100ms"

[[transports]]
kind = "long-poll"
clients = 2
timeout = "5s"

[[transports]]
kind = "websocket"
clients = 2
"#;

/// Each case: a name, and the scenario text made from [`BASE`] by replacing the first
/// `from` with `to`.
const CASES: &[(&str, &str, &str)] = &[
    ("syntax", "[workload]", "[workload"),
    ("duplicate key", "repeat = 1", "repeat = 1\nrepeat = 2"),
    (
        "unknown top-level key",
        "repeat = 1",
        "repeat = 1\nthreads = 4",
    ),
    (
        "unknown workload key",
        "topics = 1",
        "topics = 1\ntopic = 2",
    ),
    (
        "unknown transport key",
        "clients = 2\n",
        "clients = 2\nbogus = 1\n",
    ),
    ("missing name", "name = \"t\"\n", ""),
    ("missing duration", "duration = \"2s\"\n", ""),
    (
        "missing workload",
        "[workload]\npattern = \"broadcast\"\nrate = 10\npayload_bytes = 16\ntopics = 1\n",
        "",
    ),
    ("missing kind", "kind = \"poll\"\n", ""),
    (
        "no transports",
        "[[transports]]\nkind = \"poll\"\nclients = 3\ninterval = \"100ms\"\n\n[[transports]]\nkind = \"long-poll\"\nclients = 2\ntimeout = \"5s\"\n\n[[transports]]\nkind = \"websocket\"\nclients = 2\n",
        "",
    ),
    (
        "unknown kind",
        "kind = \"poll\"",
        "kind = \"carrier-pigeon\"",
    ),
    ("kind not a string", "kind = \"poll\"", "kind = 5"),
    (
        "unknown pattern",
        "pattern = \"broadcast\"",
        "pattern = \"gossip\"",
    ),
    ("name not a string", "name = \"t\"", "name = 7"),
    ("bad name", "name = \"t\"", "name = \"a b\""),
    ("empty name", "name = \"t\"", "name = \"\""),
    ("zero duration", "duration = \"2s\"", "duration = \"0s\""),
    (
        "bad duration unit",
        "warmup = \"500ms\"",
        "warmup = \"2 secs\"",
    ),
    (
        "duration not a string",
        "ramp_up = \"500ms\"",
        "ramp_up = 5",
    ),
    ("zero repeat", "repeat = 1", "repeat = 0"),
    ("negative repeat", "repeat = 1", "repeat = -1"),
    ("rate zero", "rate = 10", "rate = 0"),
    ("rate too high", "rate = 10", "rate = 2000000"),
    ("rate not a number", "rate = 10", "rate = \"fast\""),
    ("rate missing", "rate = 10\n", ""),
    (
        "payload too large",
        "payload_bytes = 16",
        "payload_bytes = 2000000",
    ),
    ("payload missing", "payload_bytes = 16\n", ""),
    ("topics zero", "topics = 1", "topics = 0"),
    ("topics too many", "topics = 1", "topics = 100001"),
    (
        "topics in echo",
        "pattern = \"broadcast\"",
        "pattern = \"echo\"",
    ),
    ("clients zero", "clients = 3", "clients = 0"),
    ("clients too many", "clients = 3", "clients = 2000000"),
    ("clients missing", "clients = 3\n", ""),
    (
        "interval on websocket",
        "clients = 2\n",
        "clients = 2\ninterval = \"1s\"\n",
    ),
    (
        "schedule on long-poll",
        "timeout = \"5s\"",
        "timeout = \"5s\"\nschedule = \"fixed-delay\"",
    ),
    (
        "timeout on poll",
        "interval = \"100ms\"",
        "interval = \"100ms\"\ntimeout = \"1s\"",
    ),
    (
        "unknown schedule",
        "interval = \"100ms\"",
        "interval = \"100ms\"\nschedule = \"sometimes\"",
    ),
    (
        "interval longer than duration",
        "interval = \"100ms\"",
        "interval = \"5s\"",
    ),
    ("timeout zero", "timeout = \"5s\"", "timeout = \"0s\""),
    ("timeout too long", "timeout = \"5s\"", "timeout = \"2h\""),
    (
        "bad label",
        "kind = \"poll\"",
        "kind = \"poll\"\nlabel = \"a/b\"",
    ),
    (
        "label used twice",
        "kind = \"websocket\"",
        "kind = \"poll\"",
    ),
    (
        "loadgen threads zero",
        "[workload]",
        "[loadgen]\nthreads = 0\n\n[workload]",
    ),
    (
        "loadgen bad backoff",
        "[workload]",
        "[loadgen]\nreconnect_backoff = \"soon\"\n\n[workload]",
    ),
    (
        "unknown loadgen key",
        "[workload]",
        "[loadgen]\nthread = 2\n\n[workload]",
    ),
    (
        "server threads too many",
        "[workload]",
        "[server]\nthreads = 5000\n\n[workload]",
    ),
    (
        "ring capacity zero",
        "[workload]",
        "[server]\nring_capacity = 0\n\n[workload]",
    ),
    (
        "unknown runtime",
        "[workload]",
        "[server]\nruntime = \"green\"\n\n[workload]",
    ),
    (
        "sweep empty",
        "[workload]",
        "[sweep]\nrate = []\n\n[workload]",
    ),
    (
        "client unknown",
        "kind = \"websocket\"",
        "kind = \"websocket\"\nclient = \"firefox\"",
    ),
    (
        "client browser raw",
        "kind = \"websocket\"",
        "kind = \"raw\"\nclient = \"browser\"",
    ),
    (
        "client browser fixed-delay",
        "interval = \"100ms\"",
        "interval = \"100ms\"\nschedule = \"fixed-delay\"\nclient = \"browser\"",
    ),
];

/// Cases that append a table to [`BASE`] instead of replacing text.
const APPENDED: &[(&str, &str)] = &[
    ("sweep no key", "[sweep]\n"),
    (
        "sweep two keys",
        "[sweep]\npayload_bytes = [1, 2]\nclients = [1, 2]\n",
    ),
    ("sweep clients also written", "[sweep]\nclients = [1, 2]\n"),
    ("sweep rate also written", "[sweep]\nrate = [1, 2]\n"),
    ("sweep unknown key", "[sweep]\ntopics = [1, 2]\n"),
    ("sweep not an array", "[sweep]\npayload_bytes = 10\n"),
    ("sweep bad payload", "[sweep]\npayload_bytes = [10, -1]\n"),
    (
        "sweep payload twice",
        "[sweep]\npayload_bytes = [\n  10,\n  10,\n]\n",
    ),
    ("sweep bad rtt", "[sweep]\nrtt = [\"10ms\", 100]\n"),
    ("sweep rtt too long", "[sweep]\nrtt = [\"21s\"]\n"),
    (
        "sweep bandwidth without unit",
        "[sweep]\nbandwidth_down = [\"10\"]\n",
    ),
    (
        "sweep rtt and network rtt",
        "[network]\nrtt = \"10ms\"\n[sweep]\nrtt = [\"0ms\", \"10ms\"]\n",
    ),
    (
        "sweep rtt and delay_down",
        "[network]\ndelay_down = \"10ms\"\n[sweep]\nrtt = [\"0ms\"]\n",
    ),
    (
        "sweep bandwidth twice",
        "[network]\nbandwidth_down = \"1mbit\"\n[sweep]\nbandwidth_down = [\"2mbit\"]\n",
    ),
    (
        "network rtt and delay",
        "[network]\nrtt = \"100ms\"\ndelay_up = \"5ms\"\n",
    ),
    ("network rtt too long", "[network]\nrtt = \"11s\"\n"),
    ("network bad jitter", "[network]\njitter = \"fast\"\n"),
    ("network bad unit", "[network]\nbandwidth_down = \"10mb\"\n"),
    ("network no unit", "[network]\nbandwidth_up = \"1000\"\n"),
    (
        "network rate not a string",
        "[network]\nbandwidth_up = 1000\n",
    ),
    (
        "network rate too slow",
        "[network]\nbandwidth_down = \"500bit\"\n",
    ),
    ("network queue too small", "[network]\nqueue = 10\n"),
    ("network unknown key", "[network]\nlatency = \"5ms\"\n"),
    ("http unknown profile", "[http]\nprofile = \"firefox\"\n"),
    ("http unknown key", "[http]\nbogus = 1\n"),
    ("http host", "[http.request_headers]\nHost = \"x\"\n"),
    (
        "http framing",
        "[http.request_headers]\nX-A = \"1\"\nContent-Length = \"9\"\n",
    ),
    (
        "http handshake",
        "[http.request_headers]\nSec-WebSocket-Key = \"k\"\n",
    ),
    ("http not a string", "[http.request_headers]\nX-A = 5\n"),
    (
        "http not a token",
        "[http.request_headers]\n\"X A\" = \"1\"\n",
    ),
    ("http bad value", "[http.request_headers]\nX-A = \" 1\"\n"),
    (
        "http twice",
        "[http.request_headers]\nX-A = \"1\"\nx-a = \"2\"\n",
    ),
    ("http date", "[http.response_headers]\nDate = \"x\"\n"),
    (
        "http content type",
        "[http.response_headers]\nContent-Type = \"x\"\n",
    ),
    (
        "client browser target",
        "[target]\nfile = \"t.toml\"\n\n[[transports]]\nkind = \"sse\"\nclients = 1\nclient = \"browser\"\n",
    ),
    (
        "http inline table",
        "[http]\nrequest_headers = { A = \"1\", B = \"\" , Upgrade = \"h2c\" }\n",
    ),
];

fn error_line(text: &str) -> String {
    match parse(Path::new("scenarios/mine.toml"), text) {
        Ok(_) => "accepted".to_string(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_error_keeps_its_words_line_and_key() {
    let mut got = String::new();
    for (name, from, to) in CASES {
        assert!(BASE.contains(from), "{name}: {from:?} is not in BASE");
        let text = BASE.replacen(from, to, 1);
        got += &format!("{name}: {}\n", error_line(&text));
    }
    for (name, table) in APPENDED {
        got += &format!("{name}: {}\n", error_line(&format!("{BASE}\n{table}")));
    }
    // A scenario that needs more descriptors than a process may hold.
    let s = parse(Path::new("scenarios/mine.toml"), BASE).unwrap();
    let e = check_descriptors(&s, Path::new("scenarios/mine.toml"), 66).unwrap_err();
    got += &format!("descriptors: {e}\n");
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenario_errors.txt");
    if std::env::var_os("PUSHBENCH_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&expected, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&expected).unwrap();
    for (w, g) in want.lines().zip(got.lines()) {
        assert_eq!(g, w);
    }
    assert_eq!(got, want);
}

/// The scenario of the report crate's writer test (`crates/report/tests/writer.rs`).
const SCENARIO: &str = r#"
name = "writer"
duration = "2s"
warmup = "500ms"
ramp_up = "500ms"
repeat = 2

[workload]
rate = 20
payload_bytes = 64

[loadgen]
threads = 2

[sweep]
clients = [3, 10]

[network]
jitter = "1ms"
bandwidth_up = "2mbit"

[http]
profile = "browser"

[http.response_headers]
Via = "1.1 edge"

[[transports]]
kind = "poll"
interval = "250ms"

[[transports]]
kind = "long-poll"
label = "lp"

[[transports]]
kind = "websocket"
"#;

#[test]
fn a_parsed_scenario_is_recorded_as_before() {
    let s = parse(Path::new("writer.toml"), SCENARIO).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../report/tests/writer/meta.json");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // The values; their order and text are the writer test's, which writes this document
    // back byte for byte from the scenario read out of it.
    assert_eq!(serde_json::to_value(&s).unwrap(), meta["scenario"]);
}
