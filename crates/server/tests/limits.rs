//! HTTP-level limits: malformed and slow requests, oversized heads, the connection limit,
//! the control token, and the memory bounds of workloads and publish bodies.

use pushbench_server::{ServerConfig, ServerError, serve_with};
use pushbench_testkit::TestServer as Server;
use pushbench_testkit::raw::{Conn, Response, publish_body};
use pushbench_testkit::ws::await_stat;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// An answer that is one line of `text/plain`.
fn assert_one_line(resp: &Response) {
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    let text = resp.text();
    assert!(
        text.ends_with('\n') && text.matches('\n').count() == 1,
        "{text:?}"
    );
}

/// `GET /poll?topic=0` answers within a second: the server is not held up.
async fn answers_promptly(server: &Server) {
    let started = Instant::now();
    let resp = server.get("/poll?topic=0").await;
    assert_eq!(resp.status, 200);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_reports_the_failure_counters() {
    let server = Server::start().await;
    let stats = server.stats().await;
    for field in [
        "connections_open",
        "connections_rejected",
        "slow_consumer_disconnects",
        "header_timeouts",
        "bad_requests",
        "headers_too_large",
        "unauthorized",
        "ws_protocol_errors",
        "ws_invalid_utf8",
        "ws_messages_too_big",
        "ws_bad_publishes",
        "ws_binary_messages",
    ] {
        assert!(stats[field].is_u64(), "{field}: {stats}");
    }
    // The /stats request itself.
    assert_eq!(stats["connections_open"], 1, "{stats}");
    assert_eq!(stats["slow_consumer_disconnects"], 0, "{stats}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_refused_and_the_server_goes_on() {
    let server = Server::start().await;
    for garbage in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"[..],
        b"GET\x00/ HTTP/1.1\r\n\r\n",
        b"HELLO THERE\r\nnot: http\r\n\r\n",
    ] {
        let mut conn = server.connect().await;
        conn.write(garbage).await;
        conn.expect_eof().await;
        if !conn.buf.is_empty() {
            let head = String::from_utf8_lossy(&conn.buf);
            assert!(head.starts_with("HTTP/1.1 400 "), "{head:?}");
        }
        answers_promptly(&server).await;
    }
    await_stat(&server, "bad_requests", 3).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_is_cut_off_after_the_header_timeout() {
    let timeout = Duration::from_millis(500);
    let server = Server::start_with(ServerConfig {
        header_read_timeout: timeout,
        ..ServerConfig::default()
    })
    .await;
    let mut slow = server.connect().await;
    slow.write(b"GET /poll?topic=0 HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        .await;
    let sent = Instant::now();
    // Others are served meanwhile.
    answers_promptly(&server).await;
    slow.expect_eof().await;
    let waited = sent.elapsed();
    assert!(
        slow.buf.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&slow.buf)
    );
    assert!(waited >= timeout / 2, "closed after {waited:?}");
    await_stat(&server, "header_timeouts", 1).await;
    answers_promptly(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let server = Server::start_with(ServerConfig {
        header_read_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    })
    .await;
    let mut conn = server.connect().await;
    conn.send_request("GET", "/poll?topic=0", &[], b"").await;
    assert_eq!(conn.read_response().await.status, 200);
    // No next request: the connection is not kept forever.
    conn.expect_eof().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_head_gets_431() {
    let server = Server::start_with(ServerConfig {
        max_header_bytes: 8192,
        ..ServerConfig::default()
    })
    .await;
    let big = "x".repeat(10_000);
    let mut conn = server.connect().await;
    conn.send_request("GET", "/poll?topic=0", &[("X-Big", &big)], b"")
        .await;
    let (status, _) = conn.read_head().await;
    assert_eq!(status, 431);
    conn.expect_eof().await;
    // Just under the limit is fine.
    let fits = "x".repeat(7_000);
    let mut conn = server.connect().await;
    conn.send_request("GET", "/poll?topic=0", &[("X-Big", &fits)], b"")
        .await;
    assert_eq!(conn.read_response().await.status, 200);
    await_stat(&server, "headers_too_large", 1).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_beyond_the_limit_gets_503() {
    let server = Server::start_with(ServerConfig {
        max_connections: 3,
        ..ServerConfig::default()
    })
    .await;
    // Three keep-alive connections, each known to be accepted.
    let mut held: Vec<Conn> = Vec::new();
    for _ in 0..3 {
        let mut conn = server.connect().await;
        conn.send_request("GET", "/poll?topic=0", &[], b"").await;
        assert_eq!(conn.read_response().await.status, 200);
        held.push(conn);
    }
    let mut extra = server.connect().await;
    extra.send_request("GET", "/poll?topic=0", &[], b"").await;
    let resp = extra.read_response().await;
    assert_eq!(resp.status, 503);
    assert_one_line(&resp);
    assert!(resp.text().contains("3 connections"), "{}", resp.text());
    extra.expect_eof().await;

    // Once one closes, a new connection is served again.
    drop(held.pop());
    let deadline = Instant::now() + pushbench_testkit::WAIT;
    let stats = loop {
        let mut conn = server.connect().await;
        conn.send_request("GET", "/stats", &[], b"").await;
        let resp = conn.read_response().await;
        if resp.status == 200 {
            break serde_json::from_slice::<serde_json::Value>(&resp.body).unwrap();
        }
        assert!(Instant::now() < deadline, "still refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(stats["connections_rejected"].as_u64() >= Some(1), "{stats}");
    assert_eq!(stats["connections_open"], 3, "{stats}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_token_is_required_when_configured() {
    let server = Server::start_with(ServerConfig {
        control_token: Some("s3cret".into()),
        ..ServerConfig::default()
    })
    .await;
    let call = async |target: &str, headers: &[(&str, &str)], body: &[u8]| {
        let mut conn = server.connect().await;
        conn.send_request("POST", target, headers, body).await;
        conn.read_response().await
    };
    let workload = br#"{"topics": 2, "rate": 0, "payload_bytes": 8}"#;
    for headers in [
        &[][..],
        &[("Authorization", "Bearer wrong")],
        &[("Authorization", "Bearer s3cre")],
        &[("Authorization", "Basic czNjcmV0")],
        &[("Authorization", "s3cret")],
    ] {
        for target in ["/control/stop", "/control/workload"] {
            let resp = call(target, headers, workload).await;
            assert_eq!(resp.status, 401, "{target} {headers:?}");
            assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
            assert_one_line(&resp);
        }
    }
    // Nothing was changed by the refused requests.
    assert_eq!(server.stats().await["topic_heads"], serde_json::json!([0]));
    let ok = [("Authorization", "Bearer s3cret")];
    assert_eq!(call("/control/workload", &ok, workload).await.status, 200);
    assert_eq!(call("/control/stop", &ok, b"").await.status, 200);
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let lower = [("Authorization", "bearer s3cret")];
    assert_eq!(call("/control/stop", &lower, b"").await.status, 200);
    // Only /control/* is guarded.
    let stats = server.stats().await;
    assert_eq!(stats["topic_heads"], serde_json::json!([0, 0]));
    assert_eq!(stats["unauthorized"], 10, "{stats}");
    server.publish(1, &publish_body(1, "open")).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_serve_control_on_a_public_address_without_a_token() {
    // 0.0.0.0 is every interface: reachable from other hosts (this test connects to none).
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let result = serve_with(listener, ServerConfig::default(), std::future::pending()).await;
    match result {
        Err(e @ ServerError::UnprotectedControl(_)) => {
            assert!(e.to_string().contains("control token"), "{e}");
        }
        other => panic!("served without a token: {other:?}"),
    }
    // With a token it serves (and stops at once here).
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let config = ServerConfig {
        control_token: Some("t".into()),
        ..ServerConfig::default()
    };
    let served = tokio::time::timeout(
        pushbench_testkit::WAIT,
        serve_with(listener, config, async {}),
    )
    .await
    .expect("returns at once");
    assert!(served.is_ok(), "{served:?}");
    // An invalid configuration is refused before anything else.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig {
        max_lag: 0,
        ..ServerConfig::default()
    };
    let result = serve_with(listener, config, async {}).await;
    assert!(matches!(result, Err(ServerError::Config(_))), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_and_publishes_stay_within_the_memory_bound() {
    let server = Server::start_with(ServerConfig {
        ring_capacity: 16,
        max_retained_bytes: 1 << 20,
        ..ServerConfig::default()
    })
    .await;
    // 1 MiB over 16 messages leaves about 32 KiB of payload per message for one topic.
    for body in [
        r#"{"topics": 1, "rate": 1, "payload_bytes": 40000}"#,
        r#"{"topics": 1000, "rate": 1, "payload_bytes": 0}"#,
    ] {
        let resp = server.post("/control/workload", body.as_bytes()).await;
        assert_eq!(resp.status, 400, "{body}");
        assert_one_line(&resp);
        assert!(
            resp.text().contains("max_retained_bytes"),
            "{}",
            resp.text()
        );
    }
    server.workload(1, 0.0, 30_000).await;
    // A client may not publish more than the topics leave room for either.
    let big = publish_body(1, &"p".repeat(40_000));
    let resp = server.post("/publish?topic=0", &big).await;
    assert_eq!(resp.status, 413);
    assert_one_line(&resp);
    server
        .publish(0, &publish_body(1, &"p".repeat(30_000)))
        .await;
    // The defaults refuse what would take gigabytes.
    let server = Server::start().await;
    for body in [
        r#"{"topics": 100000, "rate": 1, "payload_bytes": 0}"#,
        r#"{"topics": 1, "rate": 1, "payload_bytes": 1048576}"#,
        r#"{"topics": 100, "rate": 1, "payload_bytes": 65536}"#,
    ] {
        let resp = server.post("/control/workload", body.as_bytes()).await;
        assert_eq!(resp.status, 400, "{body}");
    }
    server.workload(100, 0.0, 1024).await;
    server.shutdown().await;
}
