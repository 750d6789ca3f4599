//! A server of two members sharing one SO_REUSEPORT port (`serve_member`, docs/sharding.md),
//! in this process: each member is a full server with its own topics and publisher, and the
//! pair must behave as one server. Each member is also reached at its own control address,
//! which serves every endpoint, so a test can put a subscriber on the member it chooses.

use pushbench_server::{ServerConfig, ServerError, serve_member};
use pushbench_testkit::WAIT;
use pushbench_testkit::raw::{Conn, Response};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Two members on one shared port, each knowing the other's control address.
struct Pair {
    /// The shared port: the kernel hands each connection to either member.
    shared: SocketAddr,
    /// Each member's own control address.
    members: [SocketAddr; 2],
    stop: CancellationToken,
    tasks: Vec<JoinHandle<Result<(), ServerError>>>,
}

fn reuse_port_listener(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseport(true).expect("SO_REUSEPORT");
    socket.bind(addr).expect("bind");
    socket.listen(1024).expect("listen")
}

impl Pair {
    async fn start() -> Pair {
        let first = reuse_port_listener("127.0.0.1:0".parse().unwrap());
        let shared = first.local_addr().unwrap();
        let shared_listeners = [first, reuse_port_listener(shared)];
        let mut controls = Vec::new();
        for _ in 0..2 {
            controls.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let members = [
            controls[0].local_addr().unwrap(),
            controls[1].local_addr().unwrap(),
        ];
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        for (i, (listener, control)) in shared_listeners.into_iter().zip(controls).enumerate() {
            let config = ServerConfig {
                peers: vec![members[1 - i]],
                ..ServerConfig::default()
            };
            let shutdown = stop.clone().cancelled_owned();
            tasks.push(tokio::spawn(serve_member(
                listener, control, config, shutdown,
            )));
        }
        Pair {
            shared,
            members,
            stop,
            tasks,
        }
    }

    async fn shutdown(self) {
        self.stop.cancel();
        for task in self.tasks {
            let result = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
            assert!(result.is_ok(), "{result:?}");
        }
    }
}

async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut conn = Conn::new(TcpStream::connect(addr).await.unwrap());
    let body: &[u8] = if target == "/control/workload" {
        br#"{"topics": 1, "rate": 50, "payload_bytes": 10}"#
    } else {
        b""
    };
    conn.send_request(method, target, headers, body).await;
    conn.read_response().await
}

/// `/stats` at `addr`; `alone`: of that member only.
async fn stats(addr: SocketAddr, alone: bool) -> Value {
    let headers: &[(&str, &str)] = if alone {
        &[("pushbench-peer", "1")]
    } else {
        &[]
    };
    let resp = request(addr, "GET", "/stats", headers).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    serde_json::from_slice(&resp.body).unwrap()
}

/// A WebSocket frame's payload; the server's frames here are short and unmasked.
async fn read_message(ws: &mut Conn) -> Vec<u8> {
    let head = ws.take(2).await;
    assert!(head[1] < 126, "a short frame: {head:?}");
    ws.take(usize::from(head[1])).await
}

/// `(seq, sent_ns)` of a message `<seq:16 hex> <sent_ns:16 hex> <payload>`.
fn numbers(message: &[u8]) -> (u64, u64) {
    let text = std::str::from_utf8(message).unwrap();
    let seq = u64::from_str_radix(&text[..16], 16).unwrap();
    let sent = u64::from_str_radix(&text[17..33], 16).unwrap();
    (seq, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_publish_the_same_messages_at_the_same_times() {
    let pair = Pair::start().await;
    // Sent to the shared port: whichever member gets it forwards it to the other.
    let resp = request(pair.shared, "POST", "/control/workload", &[]).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    for member in pair.members {
        assert_eq!(stats(member, true).await["workloads"], 1, "{member}");
    }

    // One subscriber on each member, from the first message on.
    let mut subscribers = Vec::new();
    for member in pair.members {
        let mut ws = Conn::new(TcpStream::connect(member).await.unwrap());
        let headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", pushbench_testkit::ws::KEY),
            ("Sec-WebSocket-Version", "13"),
        ];
        ws.send_request("GET", "/ws?topic=0&cursor=0", &headers, b"")
            .await;
        assert_eq!(ws.read_head().await.0, 101);
        subscribers.push(ws);
    }
    let mut received = [Vec::new(), Vec::new()];
    for _ in 0..5 {
        for (ws, got) in subscribers.iter_mut().zip(&mut received) {
            got.push(read_message(ws).await);
        }
    }
    // Byte for byte the same messages: sequence numbers, scheduled times and payloads.
    assert_eq!(received[0], received[1]);
    let ticks: Vec<(u64, u64)> = received[0].iter().map(|m| numbers(m)).collect();
    for (i, pair) in ticks.windows(2).enumerate() {
        assert_eq!(pair[1].0, pair[0].0 + 1, "message {i}");
        // 50 per second: the schedule's ticks are exactly 1e9 / 50 ns apart.
        assert_eq!(pair[1].1 - pair[0].1, 20_000_000, "message {i}");
    }
    assert_eq!(ticks[0].0, 1);

    // /stats at the shared port covers both members: a WebSocket on each, one workload
    // (set on both), and the heads both have published.
    let total = stats(pair.shared, false).await;
    assert_eq!(total["connections"]["websocket"], 2, "{total}");
    assert_eq!(total["workloads"], 1, "{total}");
    let alone = [
        stats(pair.members[0], true).await,
        stats(pair.members[1], true).await,
    ];
    for s in &alone {
        assert_eq!(s["connections"]["websocket"], 1, "{s}");
    }
    let instance = |s: &Value| s["instance"].as_u64().unwrap();
    assert_eq!(
        instance(&total),
        instance(&alone[0]).wrapping_add(instance(&alone[1]))
    );
    // Whichever member answers the shared port, the group's instance is the same.
    assert_eq!(
        instance(&stats(pair.members[1], false).await),
        instance(&total)
    );

    // A stop sent to one member stops both after the same tick.
    let resp = request(pair.members[0], "POST", "/control/stop", &[]).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let heads = [
        stats(pair.members[0], true).await["topic_heads"].clone(),
        stats(pair.members[1], true).await["topic_heads"].clone(),
    ];
    assert_eq!(heads[0], heads[1]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(stats(pair.members[1], true).await["topic_heads"], heads[1]);
    // And each member's subscriber got exactly the messages up to that head, the same.
    let head = heads[0][0].as_u64().unwrap();
    for (ws, got) in subscribers.iter_mut().zip(&mut received) {
        while (got.len() as u64) < head {
            got.push(read_message(ws).await);
        }
        assert!(ws.quiet_for(Duration::from_millis(100)).await);
    }
    assert_eq!(received[0], received[1]);
    drop(subscribers);
    pair.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_cannot_reach_its_peer_says_so() {
    // A peer address nothing listens on: bound, then closed.
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = gone.local_addr().unwrap();
    drop(gone);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let control = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig {
        peers: vec![peer],
        ..ServerConfig::default()
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(serve_member(
        listener,
        control,
        config,
        stop.clone().cancelled_owned(),
    ));
    for (method, target) in [
        ("GET", "/stats"),
        ("POST", "/control/workload"),
        ("POST", "/control/stop"),
    ] {
        let resp = request(addr, method, target, &[]).await;
        assert_eq!(resp.status, 502, "{target}: {}", resp.text());
        assert!(
            resp.text().contains(&format!("peer {peer}")),
            "{}",
            resp.text()
        );
    }
    stop.cancel();
    let result = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn peers_must_be_on_loopback() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig {
        peers: vec!["10.0.0.1:9000".parse().unwrap()],
        ..ServerConfig::default()
    };
    let result = serve_member(listener, control, config, std::future::pending()).await;
    assert!(matches!(result, Err(ServerError::Config(_))), "{result:?}");
}

/// Sets a workload on `server` as a peer would get it: the schedule starts now, 50 ticks a
/// second (20 ms apart), tick k being message k + 1; returns the start once message `head`
/// is published.
async fn peer_workload(server: &pushbench_testkit::TestServer, head: u64) -> u64 {
    let start = pushbench_wire::now_ns();
    peer_workload_from(server, start).await;
    let deadline = std::time::Instant::now() + WAIT;
    while server.stats().await["topic_heads"][0].as_u64().unwrap() < head {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start
}

/// Sets a workload of 50 ticks a second on `server` as a peer would get it, its schedule
/// starting at `start`.
async fn peer_workload_from(server: &pushbench_testkit::TestServer, start: u64) {
    let mut conn = server.connect().await;
    let start_text = start.to_string();
    let headers = [
        ("pushbench-peer", "1"),
        ("pushbench-start-ns", start_text.as_str()),
    ];
    let body = br#"{"topics": 1, "rate": 50, "payload_bytes": 0}"#;
    conn.send_request("POST", "/control/workload", &headers, body)
        .await;
    assert_eq!(conn.read_response().await.status, 200);
}

/// A reading as of an instant the publisher has not reached yet waits for it: the ticks
/// due by then count, though a busy publisher thread had not put them out when the request
/// came (here they are not even due: the request is sent before the schedule starts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_as_of_an_instant_waits_for_the_publisher_to_reach_it() {
    let server = pushbench_testkit::TestServer::start().await;
    let ms = 1_000_000;
    // 50 ticks a second (20 ms apart) from 300 ms from now.
    let start = pushbench_wire::now_ns() + 300 * ms;
    peer_workload_from(&server, start).await;
    // As of start + 30 ms: ticks 0 (due at start) and 1 (start + 20 ms), asked by a peer
    // and by a client.
    let at = (start + 30 * ms).to_string();
    let field = ("pushbench-heads-at-ns", at.as_str());
    for headers in [&[("pushbench-peer", "1"), field][..], &[field]] {
        let mut conn = server.connect().await;
        conn.send_request("GET", "/stats", headers, b"").await;
        let resp = conn.read_response().await;
        let answered = pushbench_wire::now_ns();
        assert_eq!(resp.status, 200, "{}", resp.text());
        let doc: Value = serde_json::from_str(&resp.text()).unwrap();
        assert_eq!(doc["topic_heads"][0], 2, "{doc}");
        assert!(
            answered >= start + 20 * ms,
            "answered before tick 1 was due"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_that_arrives_after_its_instant_is_refused_not_ignored() {
    let server = pushbench_testkit::TestServer::start().await;
    // Until tick 2 (due at start + 40 ms) is published.
    let start = peer_workload(&server, 3).await;
    // The group's stop instant was start + 30 ms: tick 2 should not have been published.
    let at = (start + 30_000_000).to_string();
    let headers = [
        ("pushbench-peer", "1"),
        ("pushbench-stop-at-ns", at.as_str()),
    ];
    let mut conn = server.connect().await;
    conn.send_request("POST", "/control/stop", &headers, b"")
        .await;
    let resp = conn.read_response().await;
    assert_eq!(resp.status, 409, "{}", resp.text());
    assert!(
        resp.text().contains("published a tick the others did not"),
        "{}",
        resp.text()
    );
    server.shutdown().await;
}

/// `/stats` with `pushbench-heads-at-ns` reports heads as of that instant, so an answer
/// that comes late (a peer's, or the server's to a load generator reading a window's
/// edge) does not count the ticks published meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_reports_heads_as_of_the_instant_it_names() {
    let server = pushbench_testkit::TestServer::start().await;
    // Until tick 5 (due at start + 100 ms) is published.
    let start = peer_workload(&server, 6).await;
    let ms = 1_000_000;
    for (at, head) in [
        (start - 1, 0),
        (start, 1),
        (start + 30 * ms, 2),
        (start + 40 * ms, 3),
        (start + 99 * ms, 5),
    ] {
        let at_text = at.to_string();
        let field = ("pushbench-heads-at-ns", at_text.as_str());
        // Forwarded by a peer, or asked by a client (the load generator at a window's edge).
        for headers in [&[("pushbench-peer", "1"), field][..], &[field]] {
            let mut conn = server.connect().await;
            conn.send_request("GET", "/stats", headers, b"").await;
            let resp = conn.read_response().await;
            assert_eq!(resp.status, 200, "{}", resp.text());
            let doc: Value = serde_json::from_str(&resp.text()).unwrap();
            let ns = at as i128 - start as i128;
            assert_eq!(doc["topic_heads"][0], head, "heads at start {ns:+} ns");
            assert_eq!(doc["heads_at_ns"], at);
        }
    }
    // Without the field: the heads now, and no instant.
    let doc = server.stats().await;
    assert!(doc["topic_heads"][0].as_u64().unwrap() >= 6);
    assert!(doc.get("heads_at_ns").is_none(), "{doc}");
    server.shutdown().await;
}
