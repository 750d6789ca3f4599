//! Whole phases against an in-process server on loopback. Expected values come from the
//! protocol's own rules (RFC 6455 framing, HTTP/1.1 chunk syntax, the SSE field syntax, T/2
//! for a poll interval T), never from running the code under test.

use pushbench_loadgen::{PhaseResult, PhaseSpec, Progress, Scenario, TransportKind, run_phase};
use pushbench_model::clock::ClockMode;
use pushbench_server::ServerConfig;
use pushbench_testkit::proxy::Proxy;
use pushbench_testkit::{TestServer, WAIT};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The phase tests measure time; run concurrently they would share two cores with each
/// other and measure that instead. Each holds this for its whole run.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn scenario(text: &str) -> Scenario {
    pushbench_loadgen::scenario::parse(Path::new("test.toml"), text).expect("test scenario parses")
}

/// Runs every phase of the scenario (repetition 1) against `server`.
async fn run_all(server: &TestServer, sc: &Scenario) -> Vec<PhaseResult> {
    run_each(server.addr, sc, None, ClockMode::None).await
}

/// Runs every phase of the scenario (repetition 1) against `addr`; with a fault, cuts every
/// connection through the proxy `at` after each phase's start and refuses new ones for
/// `outage`.
async fn run_each(
    addr: SocketAddr,
    sc: &Scenario,
    fault: Option<(&Proxy, Duration, Duration)>,
    clock: ClockMode,
) -> Vec<PhaseResult> {
    let mut out = Vec::new();
    for t in &sc.transports {
        let cut = async {
            if let Some((proxy, at, outage)) = fault {
                tokio::time::sleep(at).await;
                proxy.cut(outage).await;
            }
        };
        let spec = PhaseSpec {
            scenario: sc,
            transport: t,
            repetition: 1,
            sweep: None,
            server: addr,
            cancel: CancellationToken::new(),
            progress: Arc::new(Progress::new(sc.loadgen_threads)),
            control_token: None,
            baseline: Default::default(),
            target: None,
            shard: None,
            clock,
        };
        let (r, ()) = tokio::time::timeout(WAIT, async { tokio::join!(run_phase(spec), cut) })
            .await
            .expect("phase ends by itself");
        let r = r.expect("phase runs");
        out.push(r);
    }
    out
}

/// The phase's one clock estimate, against a server on this host: zero within its bound
/// (the server reads the same clock between the request and its answer; how small the bound
/// is depends on how busy the machine is, so it is measured in docs/distributed.md, not
/// asserted), and `applied` as expected.
fn assert_one_host_clock(r: &PhaseResult, applied: bool) {
    let [e] = r.clock.as_slice() else {
        panic!("{}: one estimate per phase, found {:?}", r.label, r.clock);
    };
    assert!(
        e.offset_ns.unsigned_abs() <= e.error_ns,
        "{}: {e:?}",
        r.label
    );
    assert_eq!((e.applied, e.shard), (applied, None), "{}", r.label);
}

fn assert_clean(r: &PhaseResult) {
    let c = &r.counters;
    assert_eq!(r.errors.total(), 0, "{}: errors {:?}", r.label, r.errors);
    assert_eq!(c.messages_lost, 0, "{}: lost", r.label);
    assert_eq!(c.messages_duplicated, 0, "{}: duplicated", r.label);
    assert_eq!(c.messages_out_of_order, 0, "{}: out of order", r.label);
    assert_eq!(c.reconnects, 0, "{}: reconnects", r.label);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_delivers_every_message_in_order() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    // 10 messages/s for a 3 s window: 30 messages per client, 4 clients: 120 deliveries.
    let sc = scenario(
        r#"
        name = "all"
        duration = "3s"
        warmup = "300ms"
        ramp_up = "200ms"
        [workload]
        rate = 10
        payload_bytes = 32
        [[transports]]
        kind = "poll"
        clients = 4
        interval = "100ms"
        [[transports]]
        kind = "long-poll"
        clients = 4
        [[transports]]
        kind = "stream"
        clients = 4
        [[transports]]
        kind = "sse"
        clients = 4
        [[transports]]
        kind = "websocket"
        clients = 4
        [[transports]]
        kind = "raw"
        clients = 4
        "#,
    );
    let results = run_all(&server, &sc).await;
    assert_eq!(results.len(), 6);
    for r in &results {
        assert_clean(r);
        // Estimated at every phase's start, and on one host not applied: the clock is shared.
        assert_one_host_clock(r, false);
        let c = &r.counters;
        // The server's own count of what it published in the window, times 4 subscribers.
        assert!(
            (112..=128).contains(&c.messages_published),
            "{}: published {}",
            r.label,
            c.messages_published
        );
        // A push transport delivers within milliseconds, so at most the message or two
        // in flight at each edge of the window differ; a 100 ms poll at most one interval.
        let slack = if r.transport == TransportKind::Poll {
            8
        } else {
            4
        };
        assert!(
            c.messages_delivered.abs_diff(c.messages_published) <= slack,
            "{}: delivered {} of {}",
            r.label,
            c.messages_delivered,
            c.messages_published
        );
        assert_eq!(
            r.latency.len(),
            c.messages_delivered,
            "{}: one latency per delivery",
            r.label
        );
        // One round trip per request of the window, but for a long poll of each of the 4
        // clients still held when the publisher stops; push transports send none.
        let unanswered = c.requests - r.request_latency.len();
        assert!(unanswered <= 4, "{}: {unanswered} unanswered", r.label);
        if r.transport == TransportKind::LongPoll {
            // The server holds each long poll until the next message, published every
            // 100 ms; the client asks again at once, so a hold lasts about 100 ms.
            let mean_ms = r.request_latency.mean() / 1000.0;
            assert!(
                (70.0..=110.0).contains(&mean_ms),
                "long-poll hold {mean_ms} ms"
            );
        }
        assert!(
            c.bytes_total >= c.bytes_up + c.bytes_down + c.setup_bytes,
            "{}",
            r.label
        );
        assert_eq!(c.connections_opened, 4, "{}", r.label);
    }
    server.shutdown().await;
}

/// RFC 6455 §5.2: a server frame is 2 header bytes for payloads up to 125 bytes, 4 up to
/// 65,535, and 10 above; server frames are not masked.
fn ws_frame(m: u64) -> u64 {
    m + match m {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    }
}

/// docs/protocol.md: the raw stream sends the message and a newline, nothing else.
fn raw_line(m: u64) -> u64 {
    m + 1
}

/// RFC 9112 §7.1: `chunk-size CRLF chunk-data CRLF`, chunk-size in hex.
fn chunk(data: u64) -> u64 {
    format!("{data:x}").len() as u64 + 2 + data + 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_on_the_wire_match_the_framing_rules() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    // 10 messages/s, window from ~1.6 s to ~5.6 s after the workload starts: every
    // sequence number in the window has two decimal digits, which fixes the SSE event size.
    let payload = 50u64;
    let sc = scenario(&format!(
        r#"
        name = "bytes"
        duration = "4s"
        warmup = "1s"
        ramp_up = "500ms"
        [workload]
        rate = 10
        payload_bytes = {payload}
        [[transports]]
        kind = "stream"
        clients = 2
        [[transports]]
        kind = "sse"
        clients = 2
        [[transports]]
        kind = "websocket"
        clients = 2
        [[transports]]
        kind = "raw"
        clients = 2
        "#
    ));
    let results = run_all(&server, &sc).await;
    let m = 34 + payload; // envelope: 16 hex + space + 16 hex + space + payload
    // Stream: one chunk per message holding `<message>\n`.
    let per_stream = chunk(m + 1);
    // SSE: `id: NN\ndata: <message>\n\n` inside one chunk.
    let per_sse = chunk("id: ".len() as u64 + 2 + 1 + "data: ".len() as u64 + m + 2);
    let per_ws = ws_frame(m);
    let per_raw = raw_line(m);
    // The baseline runs first wherever the scenario lists it.
    assert_eq!(results[0].transport, TransportKind::Raw);
    for (r, per) in results.iter().zip([per_raw, per_stream, per_sse, per_ws]) {
        assert_clean(r);
        let c = &r.counters;
        assert!(
            c.messages_delivered >= 70,
            "{}: {}",
            r.label,
            c.messages_delivered
        );
        assert_eq!(
            c.bytes_down,
            c.messages_delivered * per,
            "{}: {} per message expected",
            r.label,
            per
        );
        assert_eq!(
            c.bytes_up, 0,
            "{}: a subscriber sends nothing after set-up",
            r.label
        );
        assert!(
            c.setup_bytes > 0,
            "{}: request and response head are set-up",
            r.label
        );
    }
    // The same over a payload long enough for the 16-bit length form: run it on its own.
    let big = scenario(&format!(
        r#"
        name = "bytes-big"
        duration = "2s"
        warmup = "300ms"
        ramp_up = "200ms"
        [workload]
        rate = 10
        payload_bytes = {}
        [[transports]]
        kind = "websocket"
        clients = 2
        "#,
        300
    ));
    let r = &run_all(&server, &big).await[0];
    assert_clean(r);
    assert_eq!(
        r.counters.bytes_down,
        r.counters.messages_delivered * (34 + 300 + 4)
    );
    assert!(r.counters.messages_delivered >= 15);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_polling_waits_half_an_interval_on_average() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    // Poll every T = 200 ms; messages every 1/37 s, a period unrelated to T, so arrival
    // times are spread evenly over each poll interval and the mean wait is T/2.
    let sc = scenario(
        r#"
        name = "poll-mean"
        duration = "4s"
        warmup = "300ms"
        ramp_up = "200ms"
        [workload]
        rate = 37
        payload_bytes = 16
        [[transports]]
        kind = "poll"
        clients = 10
        interval = "200ms"
        "#,
    );
    let r = &run_all(&server, &sc).await[0];
    assert_clean(r);
    let half_t_us = 100_000.0;
    let mean = r.latency.mean();
    assert!(
        (mean - half_t_us).abs() <= 0.2 * half_t_us,
        "mean latency {mean} µs, expected about {half_t_us} µs"
    );
    // Fixed-rate schedule: 4 s / 200 ms = 20 requests per client in the window.
    assert!(
        (190..=210).contains(&r.counters.requests),
        "requests {}",
        r.counters.requests
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_falls_behind_the_ring_counts_the_gap_as_lost() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    // A ring of 4 messages, 50 messages per second, one poll per second: each poll finds
    // 50 new messages of which only the newest 4 are still there.
    let server = TestServer::start_with(ServerConfig {
        ring_capacity: 4,
        ..ServerConfig::default()
    })
    .await;
    let sc = scenario(
        r#"
        name = "loss"
        duration = "3s"
        warmup = "200ms"
        ramp_up = "100ms"
        [workload]
        rate = 50
        payload_bytes = 8
        [[transports]]
        kind = "poll"
        clients = 1
        interval = "1s"
        "#,
    );
    let r = &run_all(&server, &sc).await[0];
    let c = &r.counters;
    assert_eq!(r.errors.total(), 0);
    assert!(
        c.messages_delivered <= 4 * c.requests,
        "at most a ring's worth per poll: {c:?}"
    );
    assert!(c.messages_lost >= 100, "about 46 lost per poll: {c:?}");
    // Every published message is either delivered or counted lost (up to one poll of edge).
    let accounted = c.messages_delivered + c.messages_lost;
    assert!(accounted.abs_diff(c.messages_published) <= 50, "{c:?}");
    assert_eq!(c.messages_duplicated + c.messages_out_of_order, 0);
    server.shutdown().await;
}

/// Six transports of three clients each, 50 messages per second, a 3 s window that opens
/// 0.7 s into the phase; every connection is cut 1.2 s into the phase and new ones are
/// refused for `outage`.
const CUT_SCENARIO: &str = r#"
    name = "cut"
    duration = "3s"
    warmup = "500ms"
    ramp_up = "200ms"
    [loadgen]
    reconnect_backoff = "50ms"
    [workload]
    rate = 50
    payload_bytes = 8
    [[transports]]
    kind = "poll"
    clients = 3
    interval = "100ms"
    [[transports]]
    kind = "long-poll"
    clients = 3
    [[transports]]
    kind = "stream"
    clients = 3
    [[transports]]
    kind = "sse"
    clients = 3
    [[transports]]
    kind = "websocket"
    clients = 3
    [[transports]]
    kind = "raw"
    clients = 3
    "#;
const CUT_AT: Duration = Duration::from_millis(1200);

/// Every connection through a proxy is cut and refused for a while; the server and its
/// topics live on. Each client must count the failure and its reconnect, resume from its
/// cursor, and account for every message published in the window: delivered, or lost.
async fn cut_every_connection(ring_capacity: usize, outage: Duration) -> Vec<PhaseResult> {
    let server = TestServer::start_with(ServerConfig {
        ring_capacity,
        ..ServerConfig::default()
    })
    .await;
    let proxy = Proxy::start(server.addr).await;
    let sc = scenario(CUT_SCENARIO);
    let results = run_each(
        proxy.addr,
        &sc,
        Some((&proxy, CUT_AT, outage)),
        ClockMode::None,
    )
    .await;
    server.shutdown().await;
    for r in &results {
        let c = &r.counters;
        // Each of the 3 clients lost its connection once and made a new one.
        assert!(c.reconnects >= 3, "{}: {c:?}", r.label);
        assert!(r.errors.total() >= 3, "{}: {:?}", r.label, r.errors);
        assert_eq!(c.messages_duplicated, 0, "{}: {c:?}", r.label);
        // Nothing unaccounted for: at most a message or two in flight at each window edge
        // per client (a 100 ms poll: up to 5 per edge).
        let slack = if r.transport == TransportKind::Poll {
            30
        } else {
            12
        };
        let accounted = c.messages_delivered + c.messages_lost;
        assert!(
            accounted.abs_diff(c.messages_published) <= slack,
            "{}: delivered {} + lost {} vs published {}",
            r.label,
            c.messages_delivered,
            c.messages_lost,
            c.messages_published
        );
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_resume_after_a_short_cut_without_losing_anything() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    // 300 ms at 50/s is 15 messages, well inside the default ring of 4096: every client
    // gets them all from its cursor once it is back.
    for r in cut_every_connection(4096, Duration::from_millis(300)).await {
        assert_eq!(r.counters.messages_lost, 0, "{}: {:?}", r.label, r.counters);
        assert_eq!(r.counters.messages_out_of_order, 0, "{}", r.label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_lost_across_a_long_cut_are_counted() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    // 1 s at 50/s is 50 messages, of which a ring of 16 keeps the newest 16 at most: each
    // client misses at least 50 - 16 = 34, more while its backoff runs on.
    for r in cut_every_connection(16, Duration::from_secs(1)).await {
        assert!(
            r.counters.messages_lost >= 3 * 34,
            "{}: {:?}",
            r.label,
            r.counters
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_slower_than_the_servers_idle_timeout_reconnect_without_errors() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    // The server closes a keep-alive connection idle for 300 ms; clients poll every 700 ms,
    // so every poll after the first finds its connection closed and asks again on a new one.
    let server = TestServer::start_with(ServerConfig {
        header_read_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    })
    .await;
    let sc = scenario(
        r#"
        name = "idle"
        duration = "3s"
        warmup = "300ms"
        ramp_up = "100ms"
        [workload]
        rate = 10
        payload_bytes = 8
        [[transports]]
        kind = "poll"
        clients = 2
        interval = "700ms"
        "#,
    );
    let r = &run_all(&server, &sc).await[0];
    let c = &r.counters;
    assert_eq!(r.errors.total(), 0, "{:?}", r.errors);
    assert_eq!(c.messages_lost + c.messages_duplicated, 0, "{c:?}");
    // About 3.4 s / 0.7 s = 4 or 5 polls per client after the first, each on a new
    // connection.
    assert!(c.reconnects >= 2 * 3, "{c:?}");
    assert_eq!(c.connections_opened, 2 + c.reconnects, "{c:?}");
    // Every message of the window arrives, give or take one poll's worth at each edge.
    assert!(
        c.messages_delivered.abs_diff(c.messages_published) <= 2 * 2 * 7,
        "{c:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_brings_each_clients_messages_back() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    // Each client publishes 20 messages/s into its own topic and receives them back.
    let sc = scenario(
        r#"
        name = "echo"
        duration = "2s"
        warmup = "300ms"
        ramp_up = "200ms"
        [workload]
        pattern = "echo"
        rate = 20
        payload_bytes = 16
        [[transports]]
        kind = "websocket"
        clients = 3
        [[transports]]
        kind = "long-poll"
        clients = 3
        [[transports]]
        kind = "sse"
        clients = 3
        [[transports]]
        kind = "raw"
        clients = 3
        "#,
    );
    for r in run_all(&server, &sc).await {
        assert_clean(&r);
        let c = &r.counters;
        assert!(
            (108..=132).contains(&c.messages_published),
            "{}: {c:?}",
            r.label
        );
        // Published is read off the server's topic heads at the window's edges, delivered
        // by receive time: they differ by the messages the edges' skew holds.
        assert!(
            c.messages_delivered.abs_diff(c.messages_published) <= 12,
            "{}: {c:?}",
            r.label
        );
        if r.transport == TransportKind::WebSocket {
            // In-band: each publish is one masked client frame of the 17 + 16 byte body.
            let frame = 2 + 4 + 17 + 16;
            let sent = c.bytes_up / frame;
            assert_eq!(c.bytes_up % frame, 0, "only whole publish frames go up");
            assert!(
                sent.abs_diff(c.messages_published) <= 6,
                "{sent} frames for {c:?}"
            );
        } else {
            // Every publish is a `POST /publish` request of its own.
            assert!(c.requests + 6 >= c.messages_published, "{}: {c:?}", r.label);
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_estimated_offset_converts_only_what_the_server_stamped() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    for (pattern, applied) in [("broadcast", true), ("echo", false)] {
        let sc = scenario(&format!(
            r#"
            name = "clock"
            duration = "1s"
            warmup = "200ms"
            ramp_up = "100ms"
            [workload]
            pattern = "{pattern}"
            rate = 20
            payload_bytes = 16
            [[transports]]
            kind = "websocket"
            clients = 2
            "#
        ));
        let results = run_each(server.addr, &sc, None, ClockMode::Estimate).await;
        for r in &results {
            assert_clean(r);
            // In echo each client stamps its own messages on its own clock: the server's
            // offset does not apply to them.
            assert_one_host_clock(r, applied);
            assert_eq!(r.latency.len(), r.counters.messages_delivered);
            assert!(r.counters.messages_delivered > 0, "{pattern}");
        }
    }
    server.shutdown().await;
}

#[test]
fn every_shipped_scenario_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios/ exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            pushbench_loadgen::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 2, "smoke.toml and fanout-1k.toml at least");
}

#[test]
fn scenario_errors_name_file_line_and_key() {
    let dir = std::env::temp_dir().join(format!("pushbench-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "name = \"x\"\nduration = \"10 fortnights\"\n[workload]\nrate = 1\npayload_bytes = 1\n",
    )
    .unwrap();
    let e = pushbench_loadgen::scenario::load(&path)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("{}:2: duration: ", path.display())),
        "{e}"
    );
    assert!(!e.contains('\n'), "one line: {e}");
    std::fs::write(&path, "name = \"x\"\nduration = \"1s\"\nrate = 5\n").unwrap();
    let e = pushbench_loadgen::scenario::load(&path)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("{}:3: rate: unknown field", path.display())),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
