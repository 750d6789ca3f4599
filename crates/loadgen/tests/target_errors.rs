//! Target files: every shipped one loads, a valid one becomes the plan its keys say, and
//! every check's error is one line naming the file, the line and the key, written out here
//! word for word.

use pushbench_loadgen::target::{
    CursorFrom, CursorRule, CursorTo, PidSource, ServerPlan, TargetKind, TargetPlan, Var,
    check_fit, load, offered_only, parse,
};
use pushbench_loadgen::{Scenario, TransportKind};
use std::path::Path;

const BASE: &str = r#"name = "t"

[server]
command = ["srv", "--port", "{port}", "--dir", "{dir}"]
ready = "{base}/ready"

[publish]
url = "{base}/pub/{phase}_{topic}"

[subscribe.poll]
url = "{base}/poll/{topic}"
cursor = [{ from = "header:Etag", to = "header:If-None-Match" }]
nothing_new = [304]
until_empty = true

[subscribe.long-poll]
url = "{base}/lp/{topic}?t={timeout_ms}"
cursor = [{ from = "first-line", to = "query:cursor" }]

[subscribe.websocket]
url = "{base}/ws/{topic}"
"#;

fn plan(text: &str) -> TargetPlan {
    parse(Path::new("t.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

/// The one line `pushbench run` prints for `text`.
fn error(text: &str) -> String {
    let e = parse(Path::new("t.toml"), text).expect_err("the target is refused");
    let line = e.to_string();
    assert!(!line.contains('\n'), "one line: {line}");
    line
}

#[test]
fn every_shipped_target_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../targets");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let t = load(&path).unwrap_or_else(|e| panic!("{e}"));
            names.push(t.name);
        }
    }
    names.sort();
    assert_eq!(names, ["nchan", "pushbench", "pushbench-echo"]);
}

#[test]
fn a_valid_target_becomes_its_plan() {
    let t = plan(BASE);
    assert_eq!((t.name.as_str(), t.kind), ("t", TargetKind::Pubsub));
    let ServerPlan::Start(start) = &t.server else {
        panic!("a started server")
    };
    let args: Vec<&str> = start.command.iter().map(|a| a.text()).collect();
    assert_eq!(args, ["srv", "--port", "{port}", "--dir", "{dir}"]);
    assert_eq!(start.ready_timeout, std::time::Duration::from_secs(10));
    let publish = t.publish.as_ref().unwrap();
    // Left out: POST, the marked envelope as the body, the usual success statuses.
    assert_eq!(publish.method, "POST");
    assert_eq!(publish.body.text(), "{message}");
    assert_eq!(publish.success, [200, 201, 202, 204]);
    let kinds: Vec<TransportKind> = t.subscribe.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            TransportKind::Poll,
            TransportKind::LongPoll,
            TransportKind::WebSocket
        ]
    );
    let poll = t.subscription(TransportKind::Poll).unwrap();
    assert_eq!(
        poll.cursor,
        [CursorRule {
            from: CursorFrom::Header("Etag".into()),
            to: CursorTo::Header("If-None-Match".into()),
        }]
    );
    assert!(poll.until_empty);
    assert_eq!(poll.nothing_new, [304]);
    let lp = t.subscription(TransportKind::LongPoll).unwrap();
    assert!(lp.url.uses(Var::TimeoutMs));
    assert_eq!(lp.cursor[0].to, CursorTo::Query("cursor".into()));
}

#[test]
fn a_running_server_is_found_by_its_pid() {
    let text = BASE.replace(
        "command = [\"srv\", \"--port\", \"{port}\", \"--dir\", \"{dir}\"]\nready = \"{base}/ready\"",
        "base = \"http://127.0.0.1:8080\"\npid_file = \"/run/srv.pid\"",
    );
    let t = plan(&text);
    assert_eq!(
        t.server,
        ServerPlan::Running {
            base: "http://127.0.0.1:8080".into(),
            pid: PidSource::File("/run/srv.pid".into()),
        }
    );
}

/// Each case: what to replace in [`BASE`], with what, and the line expected.
const CASES: &[(&str, &str, &str)] = &[
    (
        "name = \"t\"",
        "name = \"t\"\nversion = 2",
        "t.toml:2: version: unknown field `version`, expected one of `name`, `kind`, `server`, `before_phase`, `publish`, `subscribe`",
    ),
    (
        "name = \"t\"",
        "name = \"a b\"",
        "t.toml:1: name: expected a non-empty name of letters, digits, '-', '_' or '.'",
    ),
    (
        "name = \"t\"",
        "name = \"t\"\nkind = \"relay\"",
        "t.toml:2: kind: unknown variant `relay`, expected `pubsub` or `websocket-echo`",
    ),
    (
        "ready = \"{base}/ready\"",
        "ready = \"{base}/ready\"\nport = 80",
        "t.toml:6: port: unknown field `port`, expected one of `command`, `files`, `ready`, `ready_timeout`, `install`, `base`, `pid`, `pid_file`",
    ),
    (
        "\"{port}\", \"--dir\"",
        "\"{prot}\", \"--dir\"",
        "t.toml:4: server.command: unknown variable `{prot}`; expected one of {port}, {dir}, {cpus}, {pushbench}",
    ),
    (
        "ready = \"{base}/ready\"",
        "",
        "t.toml:3: server.ready: missing field `ready`: a URL that answers 2xx once the server is ready, e.g. \"{base}/\"",
    ),
    (
        "ready = \"{base}/ready\"",
        "ready = \"http://127.0.0.1/ready\"",
        "t.toml:5: server.ready: expected {base} and then a path of visible ASCII, e.g. \"{base}/sub/{topic}\"",
    ),
    (
        "ready = \"{base}/ready\"",
        "ready = \"{base}/ready\"\nready_timeout = \"0s\"",
        "t.toml:6: server.ready_timeout: expected a duration above zero",
    ),
    (
        "ready = \"{base}/ready\"",
        "ready = \"{base}/ready\"\npid = 7",
        "t.toml:6: server.pid: a server pushbench starts (`command`) is on http://127.0.0.1:{port} and its process is known: leave this out",
    ),
    (
        "ready = \"{base}/ready\"",
        "ready = \"{base}/ready\"\nfiles = { \"../x.conf\" = \"listen {port};\" }",
        "t.toml:6: server.files.../x.conf: expected a plain file name: files are written into the server's own directory",
    ),
    (
        "ready = \"{base}/ready\"",
        "ready = \"{base}/ready\"\nfiles = { \"x.conf\" = \"listen {topic};\" }",
        "t.toml:6: server.files.x.conf: unknown variable `{topic}`; expected one of {port}, {dir}, {cpus}",
    ),
    (
        "command = [\"srv\", \"--port\", \"{port}\", \"--dir\", \"{dir}\"]\nready = \"{base}/ready\"",
        "base = \"http://127.0.0.1:8080\"",
        "t.toml:4: server: expected `pid` or `pid_file`: the process whose CPU and memory are measured",
    ),
    (
        "command = [\"srv\", \"--port\", \"{port}\", \"--dir\", \"{dir}\"]\nready = \"{base}/ready\"",
        "base = \"http://10.0.0.1:8080\"\npid = 7",
        "t.toml:4: server.base: expected http://HOST:PORT with a loopback address, e.g. http://127.0.0.1:8080: latency is read off a clock the server and pushbench share",
    ),
    (
        "command = [\"srv\", \"--port\", \"{port}\", \"--dir\", \"{dir}\"]\nready = \"{base}/ready\"",
        "pid = 7",
        "t.toml:3: server: expected `command` (pushbench starts the server) or `base` with `pid` or `pid_file` (a server that runs already, whose CPU and memory pushbench reads from /proc)",
    ),
    (
        "url = \"{base}/pub/{phase}_{topic}\"",
        "url = \"{base}/pub/{phase}_{topic}\"\nbody = \"data={mesage}\"",
        "t.toml:9: publish.body: unknown variable `{mesage}`; expected one of {message}, {publish}, {topic}, {phase}",
    ),
    (
        "url = \"{base}/pub/{phase}_{topic}\"",
        "url = \"{base}/pub/{phase}_{topic}\"\nmethod = \"post\"",
        "t.toml:9: publish.method: expected a method in capitals, such as POST or PUT",
    ),
    (
        "url = \"{base}/pub/{phase}_{topic}\"",
        "url = \"{base}/pub/{phase}_{topic}\"\nsuccess = [202, 999]",
        "t.toml:9: publish.success: expected an HTTP status from 100 to 599",
    ),
    (
        "url = \"{base}/pub/{phase}_{topic}\"",
        "url = \"{base}/pub/{phase}_{topic}\"\nheaders = { Host = \"x\" }",
        "t.toml:9: publish.headers.Host: header Host: the client writes the server's address",
    ),
    (
        "[publish]\nurl = \"{base}/pub/{phase}_{topic}\"\n",
        "",
        "t.toml:1: publish: missing field `publish`",
    ),
    (
        "[subscribe.websocket]",
        "[subscribe.carrier-pigeon]",
        "t.toml:20: subscribe.carrier-pigeon: unknown transport `carrier-pigeon`, expected one of poll, long-poll, stream, sse, websocket",
    ),
    (
        "[subscribe.websocket]",
        "[subscribe.raw]",
        "t.toml:20: subscribe.raw: the raw stream is pushbench's own floor; a target cannot offer it",
    ),
    (
        "url = \"{base}/ws/{topic}\"",
        "url = \"{base}/ws/{topic}?t={timeout_ms}\"",
        "t.toml:21: subscribe.websocket.url: unknown variable `{timeout_ms}`; expected one of {base}, {topic}, {phase}",
    ),
    (
        "url = \"{base}/ws/{topic}\"",
        "url = \"{base}/ws/{topic}\"\nnothing_new = [304]",
        "t.toml:22: subscribe.websocket.nothing_new: only polling kinds take `nothing_new`; `websocket` does not",
    ),
    (
        "url = \"{base}/lp/{topic}?t={timeout_ms}\"",
        "url = \"{base}/lp/{topic}?t={timeout_ms}\"\nuntil_empty = true",
        "t.toml:18: subscribe.long-poll.until_empty: only timed polling takes `until_empty` (a `long-poll` client asks again at once anyway)",
    ),
    (
        "{ from = \"header:Etag\", to = \"header:If-None-Match\" }",
        "{ from = \"Etag\", to = \"header:If-None-Match\" }",
        "t.toml:12: subscribe.poll.cursor.from: expected \"header:NAME\" (a field of the answer) or \"first-line\" (the body's first line)",
    ),
    (
        "{ from = \"first-line\", to = \"query:cursor\" }",
        "{ from = \"first-line\", to = \"query:\" }",
        "t.toml:18: subscribe.long-poll.cursor.to: expected \"header:NAME\" (a field of the next request) or \"query:NAME\" (a query parameter)",
    ),
    (
        "{ from = \"first-line\", to = \"query:cursor\" }",
        "{ from = \"first-line\", into = \"query:cursor\" }",
        "t.toml:18: into: unknown field `into`, expected `from` or `to`",
    ),
    (
        "name = \"t\"",
        "name = \"t\"\nkind = \"websocket-echo\"",
        "t.toml:8: publish: a websocket-echo target has no publish request: each client sends its messages on its own WebSocket",
    ),
];

#[test]
fn every_error_names_file_line_and_key() {
    for (from, to, want) in CASES {
        assert!(BASE.contains(from), "case {want}: {from:?} is not in BASE");
        let text = BASE.replacen(from, to, 1);
        assert_eq!(&error(&text), want, "\n{text}");
    }
}

fn scenario(transports: &str, extra: &str) -> Scenario {
    let text = format!(
        "name = \"s\"\nduration = \"1s\"\n{extra}\n[workload]\nrate = 1\npayload_bytes = 1\n{transports}"
    );
    pushbench_loadgen::scenario::parse(Path::new("s.toml"), &text).unwrap()
}

#[test]
fn a_target_that_lacks_what_the_scenario_asks_is_refused_in_one_line() {
    let t = plan(BASE);
    let sse = scenario("[[transports]]\nkind = \"sse\"\nclients = 1\n", "");
    assert_eq!(
        check_fit(&sse, &t).unwrap_err().to_string(),
        "t.toml: target t: scenario \"s\" uses transport `sse`, which the target does not declare (add [subscribe.sse])"
    );
    let headers = scenario(
        "[[transports]]\nkind = \"poll\"\nclients = 1\n",
        "[http]\nresponse_profile = \"browser\"",
    );
    assert!(
        check_fit(&headers, &t)
            .unwrap_err()
            .to_string()
            .contains("which only pushbench's own server can add")
    );
    let poll = scenario("[[transports]]\nkind = \"poll\"\nclients = 1\n", "");
    check_fit(&poll, &t).unwrap();
}

#[test]
fn a_scenario_names_its_target_relative_to_itself() {
    let text = "name = \"s\"\nduration = \"1s\"\n[target]\nfile = \"../targets/nchan.toml\"\n[workload]\nrate = 1\npayload_bytes = 1\n[[transports]]\nkind = \"poll\"\nclients = 1\n";
    let sc = pushbench_loadgen::scenario::parse(Path::new("scenarios/s.toml"), text).unwrap();
    assert_eq!(
        sc.target.as_deref(),
        Some(Path::new("scenarios/../targets/nchan.toml"))
    );
    let bad = text.replace("file = ", "path = ");
    let e = pushbench_loadgen::scenario::parse(Path::new("s.toml"), &bad).unwrap_err();
    assert_eq!(
        e.to_string(),
        "s.toml:4: path: unknown field `path`, expected `file`"
    );
}

#[test]
fn the_raw_stream_is_left_out_against_a_target_and_said_so() {
    let t = plan(BASE);
    let both = scenario(
        "[[transports]]\nkind = \"raw\"\nclients = 1\n[[transports]]\nkind = \"poll\"\nclients = 1\n",
        "",
    );
    // Run without the raw stream, which is named.
    let (fitted, left_out) = offered_only(&both, &t).unwrap();
    assert_eq!(left_out, ["raw"]);
    let kinds: Vec<TransportKind> = fitted.transports.iter().map(|t| t.kind).collect();
    assert_eq!(kinds, [TransportKind::Poll]);
    check_fit(&fitted, &t).unwrap();
    let raw_only = scenario("[[transports]]\nkind = \"raw\"\nclients = 1\n", "");
    assert_eq!(
        offered_only(&raw_only, &t).unwrap_err().to_string(),
        "t.toml: target t: scenario \"s\" has only transports no target can offer (pushbench's own raw stream)"
    );
}
